"""The audit reports: self-contained HTML that shows the evidence and escapes input."""

import base64

from shared.messages import RetrainRequested
from shared.settings import ModelConfig
from tests import samples
from tests.fakes import FakeWorld, metrics_v2

MODELS = (ModelConfig(name="co2", prefix="co2/", horizon=24),)
EVIL = "<script>alert('x')</script>"
PNG = b"\x89PNG\r\n\x1a\n-not-really-a-png"


def test_run_report_shows_triggers_snapshot_checks_decision_plot_lineage_history():
    world = FakeWorld(MODELS)
    world.data.put("co2/2000.csv", samples.csv_rows(2000, 3))
    [launched] = world.service.handle(RetrainRequested("co2", EVIL, f"because {EVIL}"))
    key = str(launched.run_key)
    world.artifacts.write_bytes(f"retrain/{key}/metrics/forecast.png", PNG)
    metrics = metrics_v2(candidate=0.5) | {"champion_error": EVIL}
    world.complete(key, metrics)

    page = world.service.run_report(key)

    assert page.startswith("<!DOCTYPE html>")
    assert f"manual request by {EVIL}" not in page and "<script>" not in page
    assert "manual request by &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "co2/2000.csv" in page and world.data.blobs["co2/2000.csv"][1].strip('"') in page
    for text in (
        "beats_seasonal_naive",
        "backtest MASE 0.500 beats seasonal naive 1.000 (needs strictly lower)",
        "PROMOTED to production",
        "first model: backtest MASE strictly lower",
        f"data:image/png;base64,{base64.b64encode(PNG).decode()}",
        "Lineage of co2 v1",
        "snapshot_manifest_uri",
        "Promotion history",
    ):
        assert text in page, text


def test_version_report_of_a_rejected_version_without_a_plot():
    world = FakeWorld(MODELS)
    world.data.put("co2/2000.csv", samples.csv_rows(2000, 3))
    [launched] = world.service.handle(RetrainRequested("co2", "ana", "go"))
    world.complete(str(launched.run_key), metrics_v2(candidate=1.5, baseline=1.0))
    page = world.service.version_report("co2", 1)
    assert "registered, NOT promoted" in page
    assert "is worse than seasonal naive 1.000" in page
    assert "<span class='fail'>fail</span>" in page
    assert "The run wrote no forecast plot." in page
    assert "no (production: none)" in page


# The shape matplotlib writes for the evaluate step's verdict line (svg.fonttype none).
SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg"><g id="figure_1">\n'
    '  <g id="retrain-verdict">\n'
    '   <text style="font-weight: 700" x="360" y="9">verdict: decided by the promotion gate'
    " after this step (see the run report)</text>\n  </g>\n</g></svg>"
)


def test_the_plot_of_a_finalised_run_is_titled_with_its_verdict_escaped():
    world = FakeWorld(MODELS)
    world.data.put("co2/2000.csv", samples.csv_rows(2000, 3))
    [launched] = world.service.handle(RetrainRequested("co2", "ana", "go"))
    key = str(launched.run_key)
    world.artifacts.write_bytes(f"retrain/{key}/metrics/forecast.png", PNG)
    world.artifacts.write_bytes(f"retrain/{key}/metrics/forecast.svg", SVG.encode())
    world.complete(key, metrics_v2(candidate=0.5) | {"champion_error": EVIL})

    page = world.service.run_report(key)

    assert "data:image/png" not in page
    [encoded] = [p.split("'")[0] for p in page.split("data:image/svg+xml;base64,")[1:]]
    svg = base64.b64decode(encoded).decode()
    assert "decided by the promotion gate" not in svg
    assert ">verdict: PROMOTED v1 - passed: backtest MASE 0.500 beats seasonal naive" in svg


def test_titled_plot_escapes_the_verdict_and_leaves_a_plot_without_the_line_alone():
    from shared.service.audit import titled_plot

    titled = titled_plot(SVG, f"verdict: REFUSED - {EVIL}")
    assert titled is not None and "<script>" not in titled
    assert "&lt;script&gt;" in titled and titled.count("<text") == 1
    assert titled_plot("<svg><text>no verdict line</text></svg>", "verdict: x") is None


def test_an_open_run_keeps_the_png_whose_verdict_is_not_known_yet():
    world = FakeWorld(MODELS)
    world.data.put("co2/2000.csv", samples.csv_rows(2000, 3))
    [launched] = world.service.handle(RetrainRequested("co2", "ana", "go"))
    key = str(launched.run_key)
    world.artifacts.write_bytes(f"retrain/{key}/metrics/forecast.png", PNG)
    world.artifacts.write_bytes(f"retrain/{key}/metrics/forecast.svg", SVG.encode())
    page = world.service.run_report(key)
    assert f"data:image/png;base64,{base64.b64encode(PNG).decode()}" in page
