import azure.functions as func

from functions._delivery import deliver_event
from shared.parsing import parse_run_event

bp = func.Blueprint()


@bp.function_name("on_run_completed")
@bp.event_grid_trigger(arg_name="event")
def on_run_completed(event: func.EventGridEvent) -> None:
    deliver_event(
        "on_run_completed", event, lambda s, raw: parse_run_event(raw, trust=s.context.trust)
    )
