import azure.functions as func

from functions._delivery import deliver, outcome_response, request_json
from shared.parsing import parse_drift_alert

bp = func.Blueprint()


@bp.function_name("on_drift_alert")
@bp.route(route="drift", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def on_drift_alert(req: func.HttpRequest) -> func.HttpResponse:
    result = deliver(
        "on_drift_alert",
        req.get_body(),
        lambda s: parse_drift_alert(request_json(req), models=list(s.models.values())),
    )
    return outcome_response(result)
