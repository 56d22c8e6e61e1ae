"""The HTTP API: manual retraining, status, versions, ledger, promotion history, operator
actions (rollback, manual promotion, pin, unpin, pause, resume) and the HTML audit reports.
Runs, versions in detail and comparisons are in ``api_runs``; families (production per
series, per-series verdicts, their rollback and pins) in ``api_family``; dead letters and
quarantine in ``api_recovery``; the OpenAPI description in ``api_openapi``. All add their
routes to the one blueprint ``bp``.

Acting routes take who asks from the ``x-ms-client-principal-name`` header when the
platform's authentication sets it, else from the body's ``requested_by`` (alias ``by``):
see ``shared.parsing.requests``.
"""

from collections.abc import Callable
from typing import Any

import azure.functions as func

from functions._api_blueprint import bp
from functions._delivery import (
    deliver,
    error_response,
    json_response,
    outcome_response,
    request_json,
)
from shared.bootstrap import get_service
from shared.errors import ConflictError, InvalidInput, NotFound
from shared.messages import OperatorMessage, PauseMessage
from shared.parsing import (
    parse_limit,
    parse_pin_request,
    parse_retrain_request,
    parse_version_change,
    parse_version_number,
)
from shared.parsing.pause import parse_pause_request
from shared.parsing.requests import PRINCIPAL_HEADER, with_requester
from shared.service import RetrainService
from shared.settings import ModelConfig

__all__ = ["bp"]


def requester_body(req: func.HttpRequest) -> Any:
    """The request's JSON body with who asks resolved (``with_requester``)."""
    return with_requester(request_json(req), req.headers.get(PRINCIPAL_HEADER))


@bp.function_name("retrain_model")
@bp.route(route="models/{model}/retrain", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def retrain_model(req: func.HttpRequest) -> func.HttpResponse:
    model = req.route_params["model"]
    result = deliver(
        "retrain_model",
        req.get_body(),
        lambda s: parse_retrain_request(model, requester_body(req), models=list(s.models.values())),
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
    try:
        limit = parse_limit(req.params.get("limit"))
    except InvalidInput as exc:
        return error_response(exc)
    entries = service.list_ledger(model, limit=limit)
    return json_response({"model": model, "ledger": entries})


# ---------------------------------------------------------------- operator actions


def _operate(
    req: func.HttpRequest,
    parse: Callable[[str, object, RetrainService], OperatorMessage | PauseMessage],
) -> func.HttpResponse:
    """Parse, handle and answer an operator request synchronously: 200 with the outcome,
    400 bad input, 404 unknown model or version, 409 production moved (decide again).
    Nothing is dead-lettered: the caller is there to read the answer."""
    service = get_service()
    try:
        message = parse(req.route_params["model"], requester_body(req), service)
        outcomes = service.handle(message)
    except ConflictError as exc:
        return json_response({"error": type(exc).__name__, "message": str(exc)}, 409)
    except (InvalidInput, NotFound) as exc:
        return error_response(exc)
    return json_response({"outcomes": [o.as_dict() for o in outcomes]})


def _models(service: RetrainService) -> list[ModelConfig]:
    return list(service.models.values())


@bp.function_name("rollback_model")
@bp.route(route="models/{model}/rollback", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def rollback_model(req: func.HttpRequest) -> func.HttpResponse:
    return _operate(
        req, lambda m, b, s: parse_version_change(m, b, models=_models(s), rollback=True)
    )


@bp.function_name("promote_model")
@bp.route(route="models/{model}/promote", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def promote_model(req: func.HttpRequest) -> func.HttpResponse:
    return _operate(
        req, lambda m, b, s: parse_version_change(m, b, models=_models(s), rollback=False)
    )


@bp.function_name("pin_model")
@bp.route(route="models/{model}/pin", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def pin_model(req: func.HttpRequest) -> func.HttpResponse:
    return _operate(req, lambda m, b, s: parse_pin_request(m, b, models=_models(s), pin=True))


@bp.function_name("unpin_model")
@bp.route(route="models/{model}/unpin", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def unpin_model(req: func.HttpRequest) -> func.HttpResponse:
    return _operate(req, lambda m, b, s: parse_pin_request(m, b, models=_models(s), pin=False))


@bp.function_name("pause_model")
@bp.route(route="models/{model}/pause", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def pause_model(req: func.HttpRequest) -> func.HttpResponse:
    """Stop retraining the model; arrivals are kept and decided on resume."""
    return _operate(req, lambda m, b, s: parse_pause_request(m, b, models=_models(s), pause=True))


@bp.function_name("resume_model")
@bp.route(route="models/{model}/resume", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def resume_model(req: func.HttpRequest) -> func.HttpResponse:
    """Retrain again; held arrivals are replayed or dropped as the model's policy says."""
    return _operate(req, lambda m, b, s: parse_pause_request(m, b, models=_models(s), pause=False))


@bp.function_name("get_model_history")
@bp.route(route="models/{model}/history", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def get_model_history(req: func.HttpRequest) -> func.HttpResponse:
    try:
        return json_response(get_service().list_history(req.route_params["model"]))
    except NotFound as exc:
        return error_response(exc)


# ---------------------------------------------------------------- audit reports


def _html(page: str) -> func.HttpResponse:
    return func.HttpResponse(page, status_code=200, mimetype="text/html", charset="utf-8")


@bp.function_name("get_run_report")
@bp.route(route="runs/{run_key}/report", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def get_run_report(req: func.HttpRequest) -> func.HttpResponse:
    try:
        return _html(get_service().run_report(req.route_params["run_key"]))
    except NotFound as exc:
        return error_response(exc)


@bp.function_name("get_version_report")
@bp.route(
    route="models/{model}/versions/{version}/report",
    methods=["GET"],
    auth_level=func.AuthLevel.FUNCTION,
)
def get_version_report(req: func.HttpRequest) -> func.HttpResponse:
    try:
        version = parse_version_number(req.route_params["version"])
        return _html(get_service().version_report(req.route_params["model"], version))
    except (InvalidInput, NotFound) as exc:
        return error_response(exc)


# The other API modules add their routes to ``bp`` when imported.
import functions.api_family  # noqa: E402
import functions.api_openapi  # noqa: E402
import functions.api_recovery  # noqa: E402
import functions.api_runs  # noqa: E402, F401
