"""The dashboard: one HTML page (``GET /api/dashboard``) and its data (``GET
/api/dashboard/data``, the view-model of ``shared.service.overview``); the forecast plots
it shows come from ``GET /api/runs/{run_key}/plot``.

The page is plain HTML, CSS and JavaScript kept beside this file in
``dashboard_assets/`` (shipped in the package; no build step), put together once per
process with the script and style inline, under a Content-Security-Policy that allows
exactly those two (by hash), images from the app and ``data:``, and requests to the app
only. The script renders every value with ``textContent``: data never becomes markup.
Requests carry the page's own ``?code=`` (the function key) on to the data and plots.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from pathlib import Path

import azure.functions as func

from functions._delivery import json_response
from shared.bootstrap import get_service
from shared.service import RetrainService, overview

bp = func.Blueprint()

ASSETS = Path(__file__).with_name("dashboard_assets")


@functools.cache
def page() -> tuple[str, str]:
    """The page with its script and style inline, and the Content-Security-Policy that
    allows exactly them."""
    html = (ASSETS / "dashboard.html").read_text(encoding="utf-8")
    style = (ASSETS / "dashboard.css").read_text(encoding="utf-8")
    script = (ASSETS / "dashboard.js").read_text(encoding="utf-8")
    html = html.replace("<style></style>", f"<style>{style}</style>", 1)
    html = html.replace("<script></script>", f"<script>{script}</script>", 1)
    policy = "; ".join(
        (
            "default-src 'none'",
            f"script-src '{_sha256(script)}'",
            f"style-src '{_sha256(style)}'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )
    return html, policy


def _sha256(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def _schedule(service: RetrainService) -> str | None:
    """The schedule timer's NCRONTAB expression, when the service was built with it."""
    return service.context.schedule


@bp.function_name("get_dashboard")
@bp.route(route="dashboard", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def get_dashboard(req: func.HttpRequest) -> func.HttpResponse:
    html, policy = page()
    return func.HttpResponse(
        html,
        status_code=200,
        mimetype="text/html",
        charset="utf-8",
        headers={
            "Content-Security-Policy": policy,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        },
    )


@bp.function_name("get_dashboard_data")
@bp.route(route="dashboard/data", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def get_dashboard_data(req: func.HttpRequest) -> func.HttpResponse:
    service = get_service()
    view = overview.build(service.context, schedule=_schedule(service))
    response = json_response(view)
    response.headers["Cache-Control"] = "no-store"
    return response
