"""The drift webhook (HTTP): Azure Monitor's common alert schema and the generic JSON,
the latter HMAC-signed when the model's policy has a webhook secret (docs/policy.md)."""

import json
import logging

import azure.functions as func

from functions._delivery import deliver, json_response, outcome_response, request_json
from shared.bootstrap import get_service
from shared.parsing.drift import (
    WebhookUnauthorized,
    named_model,
    parse_drift_alert,
    verify_signature,
)

log = logging.getLogger(__name__)
bp = func.Blueprint()


def _authenticate(req: func.HttpRequest) -> None:
    """A generic body naming a model whose policy has a secret must be signed."""
    service = get_service()
    try:
        name = named_model(json.loads(req.get_body() or b"null"))
    except ValueError:
        return  # not JSON: the parser answers 400
    config = service.models.get(name or "")
    if config is None or not config.policy.webhook_secret:
        return
    verify_signature(
        req.get_body(),
        dict(req.headers),
        secret=config.policy.webhook_secret,
        now=service.clock.now(),
        window_seconds=config.policy.webhook_replay_window,
    )


@bp.function_name("on_drift_alert")
@bp.route(route="drift", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def on_drift_alert(req: func.HttpRequest) -> func.HttpResponse:
    try:
        _authenticate(req)
    except WebhookUnauthorized as exc:
        log.warning("on_drift_alert: refused an unsigned or badly signed request: %s", exc)
        return json_response({"error": "Unauthorized", "message": str(exc)}, 401)
    result = deliver(
        "on_drift_alert",
        req.get_body(),
        lambda s: parse_drift_alert(request_json(req), models=list(s.models.values())),
    )
    return outcome_response(result)
