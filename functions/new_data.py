import azure.functions as func

from functions._delivery import deliver, event_to_dict
from shared.parsing import parse_blob_created

bp = func.Blueprint()


@bp.function_name("on_blob_created")
@bp.event_grid_trigger(arg_name="event")
def on_blob_created(event: func.EventGridEvent) -> None:
    raw = event_to_dict(event)
    deliver(
        "on_blob_created",
        raw,
        lambda s: parse_blob_created(
            raw, container=s.data_container, models=list(s.models.values())
        ),
    )
