import azure.functions as func

from functions._delivery import deliver
from shared.messages import ScheduleTicked

bp = func.Blueprint()


@bp.function_name("on_schedule")
@bp.timer_trigger(arg_name="timer", schedule="%RETRAIN_SCHEDULE%", run_on_startup=False)
def on_schedule(timer: func.TimerRequest) -> None:
    deliver(
        "on_schedule",
        {"past_due": timer.past_due},
        lambda s: ScheduleTicked(at=s.clock.now(), past_due=timer.past_due),
    )
