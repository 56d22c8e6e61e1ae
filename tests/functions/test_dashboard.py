"""The dashboard's routes called with real func.HttpRequest objects, as the Python worker
would, against the service wired to fakes: the page and its security headers, its data
and the forecast plots."""

import base64
import hashlib
import json
import re

import azure.functions as func
import pytest

from functions.dashboard import ASSETS
from shared.bootstrap import set_service
from shared.messages import RetrainRequested
from shared.settings import ModelConfig
from tests import samples
from tests.fakes import FakeWorld, metrics_v2
from tests.functions.conftest import user_functions

MODELS = (ModelConfig(name="co2", prefix="co2/", horizon=24),)
FUNCTIONS = user_functions()


@pytest.fixture
def world():
    """co2 with one promoted run."""
    world = FakeWorld(MODELS)
    world.data.put("co2/2000.csv", samples.csv_rows(2000, 3))
    [launched] = world.service.handle(RetrainRequested("co2", "ana", "first model"))
    world.complete(str(launched.run_key), metrics_v2(candidate=0.5))
    world.run_key = str(launched.run_key)
    set_service(world.service)
    yield world
    set_service(None)


def get(function: str, url: str, **route_params: str) -> func.HttpResponse:
    return FUNCTIONS[function](func.HttpRequest("GET", url, body=b"", route_params=route_params))


def csp_hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def test_the_page_inlines_its_script_and_style_and_allows_only_them():
    response = get("get_dashboard", "/api/dashboard")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_body().decode()
    script = (ASSETS / "dashboard.js").read_text()
    style = (ASSETS / "dashboard.css").read_text()
    assert f"<script>{script}</script>" in page and f"<style>{style}</style>" in page
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert f"script-src '{csp_hash(script)}'" in policy
    assert f"style-src '{csp_hash(style)}'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_script_never_writes_markup():
    """Data reaches the page through textContent and attributes only."""
    script = (ASSETS / "dashboard.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, sink
    assert re.search(r"setAttribute\(\s*[\"']on", script) is None


def test_the_data_route_answers_the_view_model(world):
    response = get("get_dashboard_data", "/api/dashboard/data")
    assert response.status_code == 200
    data = json.loads(response.get_body())
    [model] = data["models"]
    assert model["name"] == "co2" and model["production_version"] == 1
    assert model["last_run"]["run_key"] == world.run_key
    assert model["plot"]["url"] == f"runs/{world.run_key}/plot"
