"""Families over HTTP: what serves each series (a page of production pointers, or one
series with its history), a family run's per-series verdicts, and the operator actions on
a family (rollback of a series or of a run, pins of a series or of the family)."""

from typing import Any

import azure.functions as func

from functions._api_blueprint import bp
from functions._delivery import error_response, json_response
from functions.api import requester_body
from functions.api_runs import answer, query_number
from shared.bootstrap import get_service
from shared.errors import ConflictError, InvalidInput, NotFound
from shared.service import family_history, family_ops
from shared.service.family_requests import carry_out, parse_family_request


@bp.function_name("list_model_series")
@bp.route(route="models/{model}/series", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def list_model_series(req: func.HttpRequest) -> func.HttpResponse:
    """The family's production pointers, a page in series id order (``?after=<id>`` and
    ``?limit=``, default 100), with the family's pin and its last completed run."""

    def read() -> Any:
        limit = query_number(req, "limit", 100, family_ops.MAX_SERIES_PAGE)
        after = req.params.get("after") or None
        ctx = get_service().context
        return family_ops.family_production(
            ctx, req.route_params["model"], after=after, limit=limit
        )

    return answer(read)


@bp.function_name("get_model_series")
@bp.route(
    route="models/{model}/series/{series}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION
)
def get_model_series(req: func.HttpRequest) -> func.HttpResponse:
    """One series of a family: what serves it and a page of its history (moves, rollbacks,
    pins): the newest ``?limit=`` entries (default 20), oldest first; ``?before=`` the
    previous page's ``history_before`` for the entries before them."""

    def read() -> Any:
        limit = query_number(req, "limit", family_history.DEFAULT_PAGE, family_history.MAX_PAGE)
        return family_ops.get_series(
            get_service().context,
            req.route_params["model"],
            req.route_params["series"],
            limit=limit,
            before=req.params.get("before") or None,
        )

    return answer(read)


@bp.function_name("get_run_series")
@bp.route(route="runs/{run_key}/series", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def get_run_series(req: func.HttpRequest) -> func.HttpResponse:
    """A family run's verdict per series (``?action=promoted|registered|refused|failed|
    excluded|missing`` keeps only those), a page in series id order (``?after=<id>`` and
    ``?limit=``, default and most 1000; ``next_after`` continues it)."""

    def read() -> Any:
        limit = query_number(req, "limit", family_ops.MAX_SERIES_PAGE, family_ops.MAX_SERIES_PAGE)
        return family_ops.run_series(
            get_service().context,
            req.route_params["run_key"],
            action=req.params.get("action") or None,
            after=req.params.get("after") or None,
            limit=limit,
        )

    return answer(read)


@bp.function_name("act_on_family")
@bp.route(
    route="models/{model}/family/{action}", methods=["POST"], auth_level=func.AuthLevel.FUNCTION
)
def act_on_family(req: func.HttpRequest) -> func.HttpResponse:
    """``rollback`` (``series`` [+ ``version``, ``expected_version``] or ``run_key``),
    ``pin`` / ``unpin`` (``series``, or none: the whole family); ``reason`` and
    ``requested_by`` always. 200 with the outcome, 400 bad input, 404 unknown model or
    series, 409 the pointer moved (read again and decide again)."""
    try:
        request = parse_family_request(
            req.route_params["model"], req.route_params["action"], requester_body(req)
        )
        outcome = carry_out(request, get_service().context)
    except ConflictError as exc:
        return json_response({"error": type(exc).__name__, "message": str(exc)}, 409)
    except (InvalidInput, NotFound) as exc:
        return error_response(exc)
    return json_response({"outcomes": [outcome.as_dict()]})
