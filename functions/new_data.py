import azure.functions as func

from functions._delivery import deliver_event
from shared.parsing.storage import parse_blob_event

bp = func.Blueprint()


@bp.function_name("on_blob_created")
@bp.event_grid_trigger(arg_name="event")
def on_blob_created(event: func.EventGridEvent) -> None:
    # One subscription on the data container delivers BlobCreated and BlobDeleted here.
    deliver_event(
        "on_blob_created",
        event,
        lambda s, raw: parse_blob_event(
            raw,
            container=s.data_container,
            models=list(s.models.values()),
            trust=s.context.trust,
        ),
    )
