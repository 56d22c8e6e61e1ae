import azure.functions as func

from functions._delivery import (
    deliver,
    error_response,
    json_response,
    outcome_response,
    request_json,
)
from shared.bootstrap import get_service
from shared.errors import InvalidInput, NotFound
from shared.parsing import parse_retrain_request

bp = func.Blueprint()


@bp.function_name("retrain_model")
@bp.route(route="models/{model}/retrain", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def retrain_model(req: func.HttpRequest) -> func.HttpResponse:
    model = req.route_params["model"]
    result = deliver(
        "retrain_model",
        req.get_body(),
        lambda s: parse_retrain_request(model, request_json(req), models=list(s.models.values())),
    )
    return outcome_response(result)


@bp.function_name("get_run")
@bp.route(route="runs/{run_key}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def get_run(req: func.HttpRequest) -> func.HttpResponse:
    try:
        return json_response(get_service().get_run(req.route_params["run_key"]))
    except NotFound as exc:
        return error_response(exc)


@bp.function_name("list_models")
@bp.route(route="models", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def list_models(req: func.HttpRequest) -> func.HttpResponse:
    return json_response({"models": get_service().list_models()})


@bp.function_name("list_model_versions")
@bp.route(route="models/{model}/versions", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def list_model_versions(req: func.HttpRequest) -> func.HttpResponse:
    try:
        return json_response({"versions": get_service().list_versions(req.route_params["model"])})
    except NotFound as exc:
        return error_response(exc)


@bp.function_name("get_model_ledger")
@bp.route(route="models/{model}/ledger", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def get_model_ledger(req: func.HttpRequest) -> func.HttpResponse:
    model = req.route_params["model"]
    service = get_service()
    if model not in service.models:
        return error_response(NotFound(f"unknown model {model!r}"))
    raw_limit = req.params.get("limit", "100")
    if not raw_limit.isdigit():
        return error_response(InvalidInput(f"limit must be a whole number, got {raw_limit!r}"))
    entries = service.list_ledger(model, limit=int(raw_limit))
    return json_response({"model": model, "ledger": entries})
