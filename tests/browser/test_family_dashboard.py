"""A family on the dashboard as a person sees it, in a real (headless) Chromium: the page
and its data served by the app's own dashboard functions (called as the worker would, from
a small HTTP server in this process) over the service wired to fakes with two finalised
family runs. Fast and deterministic: no stack, no training; the real-run dashboard tests
are ``test_dashboard.py``. The screenshot lands in ``.local/screenshots/family.png``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func
import pytest

from shared.bootstrap import set_service
from tests.browser.conftest import screenshot
from tests.family.service_world import MODEL, FamilyWorld
from tests.family.test_family_service_dashboard import two_runs
from tests.functions.conftest import user_functions

ROUTES = {"/api/dashboard": "get_dashboard", "/api/dashboard/data": "get_dashboard_data"}


class _App(BaseHTTPRequestHandler):
    """GET of the dashboard's two routes, answered by the app's functions."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        name = ROUTES.get(url.path)
        if name is None:
            self.send_error(404)
            return
        request = func.HttpRequest("GET", self.path, body=b"", params=dict(parse_qsl(url.query)))
        response = user_functions()[name](request)
        body = response.get_body()
        self.send_response(response.status_code)
        for header, value in response.headers.items():
            if header.lower() not in ("content-length", "content-type"):
                self.send_header(header, value)
        self.send_header("Content-Type", f"{response.mimetype}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, FamilyWorld]]:
    world = FamilyWorld()
    world.keys = two_runs(world)  # type: ignore[attr-defined]
    set_service(world.service)
    server = HTTPServer(("127.0.0.1", 0), _App)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", world
    finally:
        server.shutdown()
        server.server_close()
        set_service(None)


@pytest.fixture(scope="module")
def page(served: tuple[str, FamilyWorld], browser: Any) -> Iterator[Any]:
    base, _ = served
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.console_errors = errors
    page.goto(base + "/api/dashboard")
    page.wait_for_selector("body[data-loaded]", timeout=30_000)
    screenshot(page, "family")
    yield page
    page.close()


def test_the_card_counts_the_series_in_production_by_version(page: Any):
    card = page.locator(f"article.card[data-model='{MODEL}']")
    assert card.locator(".series-count").inner_text() == "3 series (v2 × 1, v1 × 2)"
    text = card.inner_text()
    assert "v2: 1 promoted, 1 refused, 1 failed, 1 excluded of 4 series" in text
    assert "ends 2003-12-01" in text  # the data of the family's last completed run
    assert page.console_errors == []


def test_the_series_table_shows_each_verdict_and_the_version_serving_it(page: Any):
    family = page.locator(f".family[data-model='{MODEL}']")
    rows = family.locator(".family-series tbody tr")
    assert [rows.nth(i).get_attribute("data-series") for i in range(rows.count())] == [
        "c",
        "b",
        "d",
        "a",
    ]
    refused = family.locator(".family-series tr[data-series='b']").inner_text().split("\t")
    assert refused[:4] == ["b", "refused", "0.9000 (backtest)", "v1"]
    assert refused[4].startswith("rejected: backtest MASE 0.900 is worse than champion")
    promoted = family.locator(".family-series tr[data-series='a']").inner_text().split("\t")
    assert promoted[:4] == ["a", "promoted", "0.4000 (backtest)", "v2"]
    excluded = family.locator(".family-series tr[data-series='d']").inner_text().split("\t")
    assert excluded[:4] == ["d", "excluded", "—", "none"]


def test_worst_series_and_failed_series_with_reasons(page: Any):
    family = page.locator(f".family[data-model='{MODEL}']")
    worst = family.locator(".family-worst tbody tr")
    assert [worst.nth(i).inner_text().split("\t") for i in range(worst.count())] == [
        ["b", "0.9000", "backtest", "refused", "v1"],
        ["a", "0.4000", "backtest", "promoted", "v2"],
    ]
    failed = family.locator(".family-failed li")
    assert failed.count() == 1
    # The reason holds markup: shown as text, never as an element.
    assert failed.inner_text() == "c: ValueError: <b>non-finite</b> forecast"
    assert family.locator(".family-failed b").count() == 0
    assert "Last run" in family.locator(".family-run").inner_text()


def test_the_timeline_draws_runs_but_no_model_wide_production(page: Any):
    section = page.locator(f"section.model[data-model='{MODEL}']")
    assert section.locator("svg rect.run-bar").count() == 2
    assert section.locator("svg rect.production-segment").count() == 0
    label = section.locator("svg text.per-series")
    assert label.text_content() == "per series: see the family section"
    assert "production: per series (family section)" in section.locator(".legend").inner_text()
