"""Runs and versions over HTTP: a model's runs with step progress, a run's steps with
their log tails, one step's log, a run's artifact links, a version's detail with its
lineage, and two versions compared on comparable windows."""

from collections.abc import Callable
from typing import Any

import azure.functions as func

from functions._api_blueprint import bp
from functions._delivery import error_response, json_response
from shared.bootstrap import get_service
from shared.errors import InvalidInput, NotFound
from shared.parsing.common import whole_number
from shared.parsing.requests import parse_version_number
from shared.service.queries import MAX_LOG_LINES, MAX_PAGE


def query_number(req: func.HttpRequest, name: str, default: int, most: int) -> int:
    """A ``?name=`` whole number from 0 to ``most`` (ASCII digits only), or ``default``."""
    raw = req.params.get(name)
    if raw is None or raw == "":
        return default
    return whole_number(raw if raw.isascii() else f"{raw}?", name, most=most)


def answer(read: Callable[[], Any]) -> func.HttpResponse:
    """200 with what ``read`` returns; 404 for NotFound, 400 for bad input."""
    try:
        return json_response(read())
    except (InvalidInput, NotFound) as exc:
        return error_response(exc)


@bp.function_name("list_model_runs")
@bp.route(route="models/{model}/runs", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def list_model_runs(req: func.HttpRequest) -> func.HttpResponse:
    """The model's runs, newest first (``?limit=``, default 20): status, trigger, outcome,
    elapsed time and step progress with step durations."""
    model = req.route_params["model"]

    def read() -> Any:
        limit = query_number(req, "limit", 20, MAX_PAGE)
        return {"model": model, "runs": get_service().list_run_summaries(model, limit=limit)}

    return answer(read)


@bp.function_name("get_run_steps")
@bp.route(route="runs/{run_key}/steps", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def get_run_steps(req: func.HttpRequest) -> func.HttpResponse:
    """The run's steps from the backend, each with its last ``?lines=`` log lines (20)."""
    return answer(
        lambda: get_service().run_steps(
            req.route_params["run_key"], lines=query_number(req, "lines", 20, MAX_LOG_LINES)
        )
    )


@bp.function_name("get_step_log")
@bp.route(
    route="runs/{run_key}/steps/{step}/log", methods=["GET"], auth_level=func.AuthLevel.FUNCTION
)
def get_step_log(req: func.HttpRequest) -> func.HttpResponse:
    """The last ``?lines=`` lines (default 200) of one step's log."""
    return answer(
        lambda: get_service().step_log(
            req.route_params["run_key"],
            req.route_params["step"],
            lines=query_number(req, "lines", 200, MAX_LOG_LINES),
        )
    )


@bp.function_name("get_run_artifacts")
@bp.route(route="runs/{run_key}/artifacts", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def get_run_artifacts(req: func.HttpRequest) -> func.HttpResponse:
    """Where the run's snapshot, prepared data, model, metrics and plot are."""
    return answer(lambda: get_service().run_artifacts(req.route_params["run_key"]))


@bp.function_name("get_run_plot")
@bp.route(route="runs/{run_key}/plot", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def get_run_plot(req: func.HttpRequest) -> func.HttpResponse:
    """The run's forecast plot (SVG titled with the verdict, or PNG)."""
    try:
        content, media_type = get_service().run_plot(req.route_params["run_key"])
    except NotFound as exc:
        return error_response(exc)
    # An SVG is a document that could carry script: served inert and never sniffed.
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    }
    return func.HttpResponse(content, status_code=200, mimetype=media_type, headers=headers)


@bp.function_name("get_model_version")
@bp.route(
    route="models/{model}/versions/{version}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION
)
def get_model_version(req: func.HttpRequest) -> func.HttpResponse:
    """A registered version: lineage, gate verdict, metrics and windows, production."""
    return answer(
        lambda: get_service().version_detail(
            req.route_params["model"], parse_version_number(req.route_params["version"])
        )
    )


@bp.function_name("compare_model_versions")
@bp.route(route="models/{model}/compare", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def compare_model_versions(req: func.HttpRequest) -> func.HttpResponse:
    """``?a=3&b=5``: the two versions' metrics, on the same windows when a run scored both
    (``basis`` says which)."""

    def read() -> Any:
        versions = []
        for name in ("a", "b"):
            raw = req.params.get(name)
            if raw is None:
                raise InvalidInput(f"compare needs ?a=<version>&b=<version> (no {name!r})")
            versions.append(parse_version_number(raw, name))
        return get_service().compare_versions(req.route_params["model"], *versions)

    return answer(read)
