"""The dashboard as a person sees it, in a real (headless) Chromium, against the local
stack with real runs: Azurite, the local Functions host serving the app, the local
workspace training statsmodels ARIMA.

One stack for the module: model ``co2`` gets two real runs (the first promoted, the
second judged against it), then a broken file (quarantined and dead-lettered); model
``quarterly`` has no data and is paused by an operator whose words are markup.
Screenshots land in ``.local/screenshots/``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localdev.datasets import co2_monthly, series_csv
from localdev.stack import LocalStack, start_stack
from shared.service.triggers import policy_key
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.azurite, pytest.mark.slow]

MODELS = [
    {
        "name": "co2",
        "prefix": "co2/",
        "frequency": "MS",
        "season_length": 12,
        "horizon": 12,
        "time_budget": 30,
    },
    {"name": "quarterly", "prefix": "quarterly/", "frequency": "QS", "season_length": 4},
]
SCHEDULE = "0 30 4 * * *"
EVIL = "<img src=x onerror=\"document.body.dataset.pwned='yes'\"><b>bold</b>"
BROKEN = "timestamp,value\n2002-01-01,12.5\n2002-02-01,not-a-number\n"
RUNS: list[dict[str, Any]] = []  # the module's two real runs' records, oldest first


@pytest.fixture(scope="module")
def stack(azurite: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    suffix = uuid.uuid4().hex[:8]
    stack = start_stack(
        tmp_path_factory.mktemp("dashboard-stack"),
        models=MODELS,
        connection_string=azurite.connection_string,
        extra_settings={
            "RETRAIN_DATA_CONTAINER": f"data-{suffix}",
            "RETRAIN_STATE_CONTAINER": f"state-{suffix}",
            "RETRAIN_ARTIFACT_CONTAINER": f"artifacts-{suffix}",
            "RETRAIN_SCHEDULE": SCHEDULE,
        },
    )
    try:
        # the composition root gives the schedule (cards' next tick) and, for the local
        # backend, the steps read from the workspace's job records
        assert stack.service.context.schedule == SCHEDULE
        assert stack.service.context.inspector is not None
        series = co2_monthly()
        for name, start, end in (("1985-1995", "1985", "1995"), ("1996-2001", "1996", "2001")):
            stack.upload(f"co2/{name}.csv", series_csv(series.loc[start:end]))
            decision = stack.wait_for(
                f"the decision on co2/{name}.csv",
                lambda name=name: next(
                    (e for e in stack.ledger("co2") if f"co2/{name}.csv" in str(e.get("trigger"))),
                    None,
                ),
                timeout=60,
            )
            assert decision["action"] == "retrain", decision
            RUNS.append(stack.wait_for_run(decision["run_key"]))
            # the policy lets the model go once the run is finalised; under load that
            # comes a moment later, and an arrival before it would be queued instead
            stack.wait_for(
                "the model to have no active run",
                lambda: not stack.service.context.state.get(policy_key("co2"))[0].get("active_run"),
                timeout=60,
            )
        assert RUNS[0]["promoted"] is True, RUNS[0]
        stack.upload("co2/broken.csv", BROKEN)
        stack.wait_for(
            "the broken file to be quarantined",
            lambda: any("quarantined" in str(e["reason"]) for e in stack.ledger("co2")),
            timeout=60,
        )
        status, _ = stack.request(
            "POST", "/api/models/quarterly/pause", {"requested_by": EVIL, "reason": EVIL}
        )
        assert status == 200
        yield stack
    finally:
        stack.close()


@pytest.fixture(scope="module")
def dashboard(stack: LocalStack, browser: Any) -> Iterator[Any]:
    """The dashboard page, loaded; its console errors (a blocked script or style under
    the page's Content-Security-Policy would be one) in ``page.console_errors``."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.console_errors = errors
    page.goto(stack.host.base_url + "/api/dashboard")
    page.wait_for_selector("body[data-loaded]", timeout=30_000)
    screenshot(page, "dashboard")
    yield page
    page.close()


def text_of(locator: Any) -> str:
    return str(locator.inner_text())


def test_cards_show_production_version_last_run_next_tick_and_pause(dashboard: Any):
    co2 = dashboard.locator("article.card[data-model='co2']")
    quarterly = dashboard.locator("article.card[data-model='quarterly']")
    assert dashboard.locator("article.card").count() == 2
    production = 2 if RUNS[1]["promoted"] else 1
    assert text_of(co2.locator(".version")) == f"v{production}"
    card = text_of(co2)
    assert "Completed" in card
    assert ("promoted v2" if RUNS[1]["promoted"] else "registered v2, not promoted") in card
    assert "04:30Z (in " in card  # the next tick of 0 30 4 * * *
    # The last observation the production model was trained on.
    assert ("ends 2001-12-01" if RUNS[1]["promoted"] else "ends 1995-12-01") in card
    assert "Paused\nno" in card
    assert text_of(quarterly.locator(".version")) == "none"
    assert "paused since" in text_of(quarterly)
    assert dashboard.console_errors == []


def test_markup_in_data_is_shown_as_text(dashboard: Any):
    quarterly = dashboard.locator("article.card[data-model='quarterly']")
    assert EVIL in text_of(quarterly)  # the operator's words, verbatim
    assert dashboard.locator("img[src='x']").count() == 0
    assert dashboard.locator("b", has_text="bold").count() == 0
    assert dashboard.evaluate("document.body.dataset.pwned") is None


def test_timeline_has_the_run_bar_verdict_and_production_pointer(dashboard: Any):
    section = dashboard.locator("section.model[data-model='co2']")
    bars = section.locator("svg rect.run-bar")
    assert [b.get_attribute("data-status") for b in bars.all()] == ["Completed", "Completed"]
    first, second = sorted(bars.all(), key=lambda b: float(b.get_attribute("x")))
    assert float(first.get_attribute("x")) + float(first.get_attribute("width")) <= float(
        second.get_attribute("x")
    )
    verdicts = section.locator("svg .mark-verdict")
    assert verdicts.first.get_attribute("data-action") == "promoted"
    assert verdicts.count() == 2
    # One mark per arrival decision: a retrain for each series file and the broken file's
    # quarantine (under load a redelivered event or the sweep may add a skip; it is drawn too).
    arrivals = section.locator("svg .mark-arrival")
    titles = [str(m.locator("title").text_content()) for m in arrivals.all()]
    actions = [m.get_attribute("data-action") for m in arrivals.all()]
    assert [a for a in actions if a != "skip"] == ["retrain", "retrain"], titles
    assert sum("skip: quarantined" in title for title in titles) == 1, titles
    # Each run's steps (prep, train, evaluate) as the local workspace timed them.
    steps = section.locator("svg rect.step-bar title")
    names = [str(t.text_content()).split(":")[0] for t in steps.all()]
    assert names == ["prep", "train", "evaluate"] * 2
    moves = section.locator("svg rect.production-segment")
    versions = [m.get_attribute("data-version") for m in moves.all()]
    assert versions == (["1", "2"] if RUNS[1]["promoted"] else ["1"])
    section.locator(".timeline").screenshot(path=str(screenshot_path("dashboard-co2-timeline")))


def test_forecast_plot_and_versions_are_shown(dashboard: Any):
    section = dashboard.locator("section.model[data-model='co2']")
    plot = section.locator(".plot img")
    plot.scroll_into_view_if_needed()
    dashboard.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=plot.element_handle(), timeout=15_000
    )
    version = section.locator(".versions tr[data-version='1']")
    row = text_of(version)
    assert "v1" in row and "passed" in row
    assert "candidate" in row and "baseline" in row and "backtest" in row and "holdout" in row


def test_ledger_filters_by_kind_when_clicked(dashboard: Any):
    ledger = dashboard.locator("section.model[data-model='co2'] .ledger")
    rows = ledger.locator("tbody tr")
    total = rows.count()
    assert total >= 3  # the arrival, the gate, the quarantined file

    ledger.locator("button[data-kind='gate']").click()
    visible = ledger.locator("tbody tr:visible")
    assert visible.count() == 2
    assert {r.get_attribute("data-kind") for r in visible.all()} == {"gate"}
    assert "promoted" in text_of(visible.last)  # newest first: the first run's verdict last
    assert ledger.locator("button[data-kind='gate']").get_attribute("aria-pressed") == "true"
    screenshot(dashboard, "dashboard-ledger-gate")

    ledger.locator("button[data-kind='trigger']").click()
    kinds = {r.get_attribute("data-kind") for r in ledger.locator("tbody tr:visible").all()}
    assert kinds == {"trigger"}

    ledger.locator("button[data-kind='']").click()
    assert ledger.locator("tbody tr:visible").count() == total


def test_broken_file_is_dead_lettered_and_quarantined(dashboard: Any):
    letters = dashboard.locator("#dead-letters tbody tr")
    assert letters.count() >= 1
    assert any("co2/broken.csv" in text_of(row) for row in letters.all())
    quarantined = dashboard.locator("#quarantine tbody tr[data-blob='co2/broken.csv']")
    assert quarantined.count() == 1
    assert "co2" in text_of(quarantined)
    # Each links to the API's full record.
    href = quarantined.locator("a").get_attribute("href")
    assert href == "quarantine/co2/broken.csv"
    assert letters.first.locator("a").get_attribute("href").startswith("deadletters/")
    dashboard.locator("#dead-letters").scroll_into_view_if_needed()
    screenshot(dashboard, "dashboard-bottom")


def screenshot_path(name: str) -> Path:
    from tests.browser.conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"
