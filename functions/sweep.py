import azure.functions as func

from functions._delivery import deliver
from shared.messages import SweepTicked

bp = func.Blueprint()


@bp.function_name("on_sweep")
@bp.timer_trigger(arg_name="timer", schedule="%RETRAIN_SWEEP_SCHEDULE%", run_on_startup=False)
def on_sweep(timer: func.TimerRequest) -> None:
    deliver("on_sweep", {"past_due": timer.past_due}, lambda s: SweepTicked(at=s.clock.now()))
