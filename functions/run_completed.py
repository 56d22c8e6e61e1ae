import azure.functions as func

from functions._delivery import deliver, event_to_dict
from shared.parsing import parse_run_event

bp = func.Blueprint()


@bp.function_name("on_run_completed")
@bp.event_grid_trigger(arg_name="event")
def on_run_completed(event: func.EventGridEvent) -> None:
    raw = event_to_dict(event)
    deliver("on_run_completed", raw, lambda _: parse_run_event(raw))
