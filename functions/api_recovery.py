"""Dead letters and quarantined files over HTTP: list, show, replay a dead letter,
release a quarantined file. Replay and release are recorded with who and why (see
``shared.service.recovery``); who asks comes from ``x-ms-client-principal-name`` when the
platform's authentication sets it, else from the body's ``requested_by`` (alias ``by``).
"""

import logging
from collections.abc import Callable
from typing import Any

import azure.functions as func

from functions._api_blueprint import bp
from functions._delivery import error_response, json_response, request_json
from functions.api_runs import answer, query_number
from shared.bootstrap import get_service
from shared.errors import ConflictError, InvalidInput, NotFound
from shared.messages import Message
from shared.parsing.requests import (
    PRINCIPAL_HEADER,
    parse_release_request,
    parse_replay_request,
    with_requester,
)
from shared.service.queries import MAX_PAGE

log = logging.getLogger(__name__)

# An acting request whose action was done but did not succeed (a replay refused again,
# a released file quarantined again) is answered 422 with the recorded outcomes.
_NOT_DONE = frozenset({"replay_refused", "quarantined"})


def _act(req: func.HttpRequest, parse: Callable[[Any], Message]) -> func.HttpResponse:
    """Parse the body (who asks resolved), handle the request synchronously and answer:
    200 with the outcomes, 422 when the action was recorded but did not succeed, 400 bad
    input, 404 nothing to act on, 409 a concurrent change, 503 storage or the backend
    failing (possibly done in part: the ledger says)."""
    service = get_service()
    try:
        message = parse(with_requester(request_json(req), req.headers.get(PRINCIPAL_HEADER)))
        outcomes = service.handle(message)
    except ConflictError as exc:
        return json_response({"error": type(exc).__name__, "message": str(exc)}, 409)
    except (InvalidInput, NotFound) as exc:
        return error_response(exc)
    except Exception as exc:  # storage or the backend failing
        log.exception("%s could not be done", req.url)
        why = f"{exc}; it may be done in part: read the ledger before trying again"
        return json_response({"error": type(exc).__name__, "message": why}, 503)
    status = 422 if any(o.action in _NOT_DONE for o in outcomes) else 200
    return json_response({"outcomes": [o.as_dict() for o in outcomes]}, status)


def _dead_letter_id(req: func.HttpRequest) -> str:
    return f"{req.route_params['source']}/{req.route_params['digest']}"


@bp.function_name("list_dead_letters")
@bp.route(route="deadletters", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def list_dead_letters(req: func.HttpRequest) -> func.HttpResponse:
    """Dead letters, newest first (``?limit=``, default 50), with a payload preview."""
    return answer(
        lambda: {
            "dead_letters": get_service().list_dead_letters(
                limit=query_number(req, "limit", 50, MAX_PAGE)
            )
        }
    )


@bp.function_name("get_dead_letter")
@bp.route(
    route="deadletters/{source}/{digest}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION
)
def get_dead_letter(req: func.HttpRequest) -> func.HttpResponse:
    """One dead letter with its payload verbatim and its replays."""
    return answer(lambda: get_service().get_dead_letter(_dead_letter_id(req)))


@bp.function_name("replay_dead_letter")
@bp.route(
    route="deadletters/{source}/{digest}/replay",
    methods=["POST"],
    auth_level=func.AuthLevel.FUNCTION,
)
def replay_dead_letter(req: func.HttpRequest) -> func.HttpResponse:
    """Replay through the receiving function's parser and handler:
    ``{"reason": "...", "requested_by": "..."}``."""
    return _act(req, lambda body: parse_replay_request(_dead_letter_id(req), body))


@bp.function_name("list_quarantine")
@bp.route(route="quarantine", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def list_quarantine(req: func.HttpRequest) -> func.HttpResponse:
    """Quarantined data files, newest first, each with its model and reason."""
    return json_response({"quarantine": get_service().list_quarantine()})


@bp.function_name("get_quarantined_file")
@bp.route(route="quarantine/{*blob}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def get_quarantined_file(req: func.HttpRequest) -> func.HttpResponse:
    """One quarantined file's record (``blob`` is its name, slashes and all)."""
    return answer(lambda: get_service().get_quarantined(req.route_params.get("blob") or ""))


@bp.function_name("release_quarantined_file")
@bp.route(route="quarantine/release", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def release_quarantined_file(req: func.HttpRequest) -> func.HttpResponse:
    """Check and decide on the file again as a new arrival:
    ``{"blob": "...", "reason": "...", "requested_by": "..."}``."""
    return _act(req, parse_release_request)
