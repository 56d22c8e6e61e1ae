"""A family's finalisation and one series' page cost what they show: counted storage
requests do not grow with the number of earlier runs (nor, for a finalisation's history,
with the number of series beyond one document per bucket); a finalisation killed between
its writes, or losing its compare-and-swap, and repeated neither loses nor duplicates a
history entry or a version."""

from __future__ import annotations

from typing import Any

import pytest

from shared.parsing import parse_run_event
from shared.service.family_history import BUCKETS, bucket_of, entry_name
from shared.service.family_ops import get_series, rollback_series, set_series_pin
from shared.service.promotion import list_history
from tests import samples
from tests.family.history_world import SERIES, counted_world, counting, run_year, start_year
from tests.family.service_world import MODEL, FamilyWorld


@pytest.fixture
def world() -> FamilyWorld:
    return counted_world()


def test_a_finalisation_costs_the_same_after_one_run_or_after_twelve(world):
    costs = [run_year(world, year)[1] for year in range(2002, 2014)]
    # The first run creates the pointer document; from the second on, every run moves
    # every series and costs exactly the same requests, whatever the history holds.
    assert costs[1] == costs[-1], (costs[1] - costs[-1], costs[-1] - costs[1])
    steady = costs[-1]
    assert steady["list history"] == 0 and steady["get history"] == 0
    assert steady["get family"] == 1  # the pointer document: once, for the whole family
    # The family's entry, and each series' chain: one document per bucket of series moved
    # (written before the pointers move), no read of either.
    buckets = {bucket_of(uid) for uid in SERIES}
    assert steady["create history"] == 1 and steady["create series history"] == len(buckets)
    # The move's pending marker: made before the chain, gone once the pointers moved.
    assert steady["create family-history-pending"] == steady["delete family-history-pending"] == 1
    # The version: registered once (one listing of version numbers to pick the next),
    # and no version of an earlier run read.
    assert steady["create registry"] == 1 and steady["get registry"] == 0
    assert len(list_history(world.service.context, MODEL)) == 12


def test_one_series_page_costs_the_same_after_one_run_or_after_twelve(world):
    ctx = world.service.context
    requests = []
    for year in range(2002, 2014):
        run_year(world, year)
        counting(world).requests.clear()
        page = get_series(ctx, MODEL, "b", limit=5)
        requests.append(counting(world).total())
        assert page["history"][-1]["to_version"] == year - 2001
    # A run's worth of history is one entry; until five exist, the page reads fewer. No
    # listing: the pointer document names the newest entry, each entry the one before.
    assert requests == [2, 3, 4, 5] + [1 + 5] * 8
    # Paging back through the cursor shows every move once, oldest first, with b's part
    # of each entry and b's own reason.
    seen: list[Any] = []
    before = None
    while True:
        page = get_series(ctx, MODEL, "b", limit=5, before=before)
        seen = [h["to_version"] for h in page["history"]] + seen
        before = page["history_before"]
        if before is None:
            break
    assert seen == list(range(1, 13))
    entry = page["history"][0]
    assert entry["unique_id"] == "b" and entry["series_change"] == {"from": None}
    assert "series" not in entry and "schema" not in entry
    assert entry["reason"].startswith("passed: backtest MASE 0.500 beats seasonal naive")
    assert entry["reason"].endswith("production -> v1")
    assert entry["family_reason"].startswith("4 series passed")


def test_operator_actions_are_in_the_series_page(world):
    ctx = world.service.context
    run_year(world, 2002)
    run_year(world, 2003)
    rollback_series(ctx, MODEL, "a", by="ana", reason="spiky")
    set_series_pin(ctx, MODEL, "a", pinned=True, by="ana", reason="audit")
    history = get_series(ctx, MODEL, "a")["history"]
    assert [(h["action"], h["by"]) for h in history] == [
        ("promoted", "gate"),
        ("promoted", "gate"),
        ("rollback", "ana"),
        ("pinned", "ana"),
    ]
    assert history[2]["series_change"]["to"]["version"] == 1
    # Each entry says where this series went, whatever else the move did.
    assert [(h["from_version"], h["to_version"]) for h in history] == [
        (None, 1),
        (1, 2),
        (2, 1),
        (1, 1),
    ]
    # The other series' pages are their own.
    assert [h["action"] for h in get_series(ctx, MODEL, "b")["history"]] == ["promoted"] * 2


@pytest.mark.parametrize(
    ("prefix", "crash_at"),
    [
        ("family/stores/series-history/", 1),  # writing the chain, before the pointers move
        ("family/stores/series-history/", 2),
        ("history/stores/", 1),  # the family's entry, after the pointers moved
    ],
)
def test_a_finalisation_killed_between_history_writes_repeats_without_loss_or_duplicate(
    world, prefix, crash_at
):
    run_year(world, 2002)
    key = start_year(world, 2003)
    store = counting(world)
    store.crash_prefix, store.crash_at = prefix, crash_at
    event = parse_run_event(samples.run_event(key, run_key=key))
    with pytest.raises(RuntimeError, match="killed"):
        world.service.handle(event)
    [outcome] = world.service.handle(event)  # the platform's retry
    assert outcome.action == "promoted", outcome
    assert world.service.get_run(key)["finalise_attempt"] == 2
    ctx = world.service.context
    for uid in SERIES:
        assert [h["to_version"] for h in get_series(ctx, MODEL, uid)["history"]] == [1, 2]
    assert [h["to_version"] for h in list_history(ctx, MODEL)] == [1, 2]
    assert len(world.registry.list_versions(MODEL)) == 2


def test_a_lost_compare_and_swap_leaves_no_entry_a_series_shows(world):
    run_year(world, 2002)
    counting(world).conflicts = 1  # another writer moves the pointer document first
    run_year(world, 2003)
    ctx = world.service.context
    for uid in SERIES:
        assert [h["to_version"] for h in get_series(ctx, MODEL, uid)["history"]] == [1, 2]
    # The lost attempt's chain documents are there, named by no pointer and never read.
    written = world.state.list_keys(f"family/{MODEL}/series-history/")
    assert len(written) == 3 * len({bucket_of(uid) for uid in SERIES})


def test_a_finalisation_killed_after_registering_registers_once(world):
    run_year(world, 2002)
    key = start_year(world, 2003)
    store = counting(world)
    # The first write of the run record after the claim notes the version: killed there.
    store.crash_prefix, store.crash_at = f"runs/{key}", 2
    event = parse_run_event(samples.run_event(key, run_key=key))
    with pytest.raises(RuntimeError, match="killed"):
        world.service.handle(event)
    assert len(world.registry.list_versions(MODEL)) == 2  # registered, not noted
    assert "model_version" not in world.service.get_run(key)
    [outcome] = world.service.handle(event)
    assert outcome.action == "promoted"
    assert [v.version for v in world.registry.list_versions(MODEL)] == [1, 2]
    assert world.service.get_run(key)["model_version"] == 2


def test_series_fall_in_stable_buckets():
    assert bucket_of("store-12") == bucket_of("store-12")
    assert all(len(bucket_of(uid)) == 2 for uid in ("a", "12|A-7", "a/b", "é", ""))
    assert len({bucket_of(f"s{i}") for i in range(2000)}) == BUCKETS


def test_entry_names_sort_by_utc_time_and_differ_by_what_made_them():
    first = entry_name("2026-01-01T01:00:00+01:00", "promoted:stores-1")
    assert first.startswith("20260101T000000000000Z-")
    assert entry_name("2026-01-01T01:00:00+01:00", "promoted:stores-1") == first
    assert entry_name("2026-01-01T01:00:00+01:00", "rollback:ana:None") != first
    assert entry_name("2026-01-01T00:00:00.000001+00:00", "promoted:stores-1") > first


def test_a_bad_page_request_is_refused(world):
    from shared.errors import InvalidInput

    run_year(world, 2002)
    with pytest.raises(InvalidInput, match="limit"):
        get_series(world.service.context, MODEL, "a", limit=0)
    with pytest.raises(InvalidInput, match="cursor"):
        get_series(world.service.context, MODEL, "a", before="../x")


def test_the_cli_pages_one_series_history(world, capsys):
    import json

    from retrainctl.cli import main

    for year in (2002, 2003, 2004):
        run_year(world, year)
    assert main(["--json", "series", MODEL, "c", "--limit", "2"], service=world.service) == 0
    page = json.loads(capsys.readouterr().out)
    assert [h["to_version"] for h in page["history"]] == [2, 3]
    argv = ["--json", "series", MODEL, "c", "--limit", "2", "--before", page["history_before"]]
    assert main(argv, service=world.service) == 0
    older = json.loads(capsys.readouterr().out)
    assert [h["to_version"] for h in older["history"]] == [1]
    assert older["history_before"] is None


def test_a_series_left_without_a_model_keeps_its_history(world):
    from shared.errors import InvalidInput
    from shared.service.family_ops import rollback_family

    first, _ = run_year(world, 2002)
    ctx = world.service.context
    rollback_family(ctx, MODEL, first, by="ana", reason="bad run")
    one = get_series(ctx, MODEL, "a")
    assert one["production"] is None
    assert [(h["action"], h["by"]) for h in one["history"]] == [
        ("promoted", "gate"),
        ("rollback", "ana"),
    ]
    assert one["history"][1]["series_change"]["to"] is None
    assert (one["history"][1]["from_version"], one["history"][1]["to_version"]) == (1, None)
    # A cursor belongs to one series' chain.
    other = next(uid for uid in SERIES if bucket_of(uid) != bucket_of("a"))
    cursor = get_series(ctx, MODEL, other, limit=1)["history_before"]
    with pytest.raises(InvalidInput, match="cursor of series 'a'"):
        get_series(ctx, MODEL, "a", before=cursor)


def test_a_series_page_says_where_moves_older_than_its_chain_are(world):
    ctx = world.service.context
    run_year(world, 2002)
    # The pointer document as a version before per-series chains wrote it: no heads.
    key = f"family/{MODEL}/production.json"
    document, etag = world.state.get(key)
    world.state.replace(key, {k: v for k, v in document.items() if k != "history"}, etag=etag)
    older = get_series(ctx, MODEL, "a")
    assert older["history"] == [] and older["production"]["version"] == 1
    assert older["history_older"] == (
        "moves of this series were made before each series had its own history: only the "
        f"model's history has them (GET /api/models/{MODEL}/history, retrainctl history {MODEL})"
    )
    run_year(world, 2003)
    page = get_series(ctx, MODEL, "a", limit=1)
    assert [h["to_version"] for h in page["history"]] == [2]
    assert page["history_before"] is None  # the chain starts at v2's move...
    assert page["history_older"].startswith(
        f"moves of this series before {page['history'][0]['at']}"
    )
    # ...and a series whose chain holds its first model has nothing older.
    world.state.delete(key)
    run_year(world, 2004)
    fresh = get_series(ctx, MODEL, "b")
    assert [h["to_version"] for h in fresh["history"]] == [3]
    assert fresh["history_older"] is None
