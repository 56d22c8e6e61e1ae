"""The service retrains a family end to end on the in-memory fakes: the family pipeline
is submitted with its inputs and champions folder, each series is gated against its own
champion, one version is registered per run, and each series' production pointer moves by
compare-and-swap against the champion it was compared with."""

from __future__ import annotations

import json

import pytest

from shared.errors import ConflictError
from shared.messages import RetrainRequested
from shared.service.family import production_key, read_production
from shared.service.family_ops import rollback_series
from shared.service.promotion import list_history
from tests.family.service_world import MODEL, FamilyWorld, row, shard_of

SERIES = {"a": 100.0, "b": 50.0, "c": 20.0}


@pytest.fixture
def world() -> FamilyWorld:
    return FamilyWorld()


def pointers(world: FamilyWorld) -> dict[str, tuple[int, str]]:
    document, _ = read_production(world.service.context, MODEL)
    return {uid: (p["version"], p["run_key"]) for uid, p in document["series"].items()}


def first_run(world: FamilyWorld) -> str:
    """a and b pass against seasonal naive, c is refused; d failed, e excluded by prep."""
    key = world.launch("2002", SERIES, year=2002, event_id="e1")
    outcome = world.finish_family(
        key,
        [
            row("a", candidate=0.5),
            row("b", candidate=0.6),
            row("c", candidate=1.3),
            row("d", status="failed", reason="LinAlgError: SVD did not converge"),
        ],
        excluded={"e": "the series has 20 MS points; at least 36 are needed"},
    )
    assert outcome.action == "promoted", outcome
    return key


def test_a_family_model_submits_the_family_pipeline_with_its_inputs(world):
    key = world.launch("2002", SERIES, year=2002, event_id="e1")

    [submission] = world.pipeline.submissions
    assert submission.pipeline == "family"
    assert submission.inputs["series_columns"] == "unique_id"
    assert submission.inputs["data"] == "azureml://datastores/trainingdata/paths/stores/"
    assert submission.inputs["manifest"].endswith(f"retrain/{key}/snapshot.json")
    assert submission.inputs["horizon"] == 4 and submission.inputs["backtest_folds"] == 0
    # The first run has nothing to carry over and no champion to beat.
    assert "previous" not in submission.inputs and "champions" not in submission.inputs
    assert "run_key" not in submission.inputs and "champion" not in submission.inputs
    assert submission.tags["retrain_run_key"] == key
    record = world.service.get_run(key)
    assert record["pipeline"] == "family"
    assert record["family_inputs"] == {"previous": None, "champions": 0, "champions_missing": 0}


def test_first_run_gates_each_series_registers_one_version_and_moves_pointers(world):
    key = first_run(world)

    [version] = world.registry.list_versions(MODEL)
    assert version.version == 1 and version.tags["family"] == "true"
    assert version.artifact_uri.endswith(f"retrain/{key}/models/")
    assert version.lineage["job_output"] == "models"
    assert version.tags["gate"] == "2 of 3 series passed"
    # Production per series, not a registry alias.
    assert pointers(world) == {"a": (1, key), "b": (1, key)}
    assert world.registry.get_alias(MODEL, "production").version is None

    family = world.service.get_run(key)["family"]
    assert (family["trained"], family["promoted"], family["refused"]) == (3, 2, 1)
    assert (family["failed"], family["excluded"], family["missing"]) == (1, 1, 0)
    assert family["failed_series"] == [
        {"unique_id": "d", "reason": "LinAlgError: SVD did not converge"}
    ]
    assert family["excluded_series"][0]["unique_id"] == "e"
    assert "at least 36" in family["excluded_series"][0]["reason"]
    assert family["refused_series"][0]["unique_id"] == "c"
    assert [w["unique_id"] for w in family["worst"]] == ["c", "b", "a"]
    assert family["worst"][0] == {
        "unique_id": "c",
        "mase": 1.3,
        "window": "backtest",
        "action": "refused",
    }

    # One ledger entry for the run, holding every series' verdict.
    [entry] = [e for e in world.service.list_ledger(MODEL) if e["kind"] == "gate"]
    assert entry["action"] == "promoted" and entry["run_key"] == key
    assert {uid: v["action"] for uid, v in entry["series"].items()} == {
        "a": "promoted",
        "b": "promoted",
        "c": "refused",
        "d": "failed",
        "e": "excluded",
    }
    assert "seasonal naive" in entry["series"]["c"]["reason"]
    assert "2 promoted" in entry["reason"] and "1 refused" in entry["reason"]

    # The full verdicts are kept beside the run's outputs.
    verdicts = world.artifacts.read_json(f"retrain/{key}/gate/verdicts.json")
    assert verdicts["series"]["a"]["gate"]["passed"] is True
    assert verdicts["series"]["c"]["gate"]["checks"][0]["name"] == "beats_seasonal_naive"

    [history] = world.service.list_history(MODEL)["history"]
    assert history["action"] == "promoted" and history["to_version"] == 1
    assert history["series"] == {"a": {"from": None}, "b": {"from": None}}


def test_next_run_gets_previous_and_champions_and_each_series_meets_its_own_champion(world):
    first = first_run(world)
    world.clock.advance(days=1)
    key = world.launch("2003", SERIES, year=2003, event_id="e2")

    submission = world.pipeline.submissions[-1]
    assert submission.inputs["previous"] == (
        f"azureml://datastores/workspaceblobstore/paths/retrain/{first}/"
    )
    assert submission.inputs["champions"] == (
        f"azureml://datastores/workspaceblobstore/paths/retrain/{key}/champions/"
    )
    champions = world.artifacts.read_json(f"retrain/{key}/champions/champions.json")
    assert champions["schema"] == "family-champions/1"
    assert set(champions["series"]) == {"a", "b"}  # c never reached production
    a = champions["series"]["a"]
    assert a == {
        "run_key": first,
        "version": 1,
        "model_file": f"{first}/{shard_of('a')}.pkl",
        "data_end": "2002-12-01T00:00:00",
    }
    # The champions' models files were copied server-side, each file once.
    copied = world.artifacts.files[f"retrain/{key}/champions/{a['model_file']}"]
    assert copied == world.artifacts.files[f"retrain/{first}/models/{shard_of('a')}.pkl"]
    sources = [source for source, _ in world.artifacts.copies]
    assert len(sources) == len(set(sources))

    outcome = world.finish_family(
        key,
        [
            row("a", candidate=0.4, champion=0.5, data_end="2003-12-01T00:00:00"),
            row("b", candidate=0.7, champion=0.5, data_end="2003-12-01T00:00:00"),
            row("c", candidate=0.8, data_end="2003-12-01T00:00:00"),
        ],
    )
    assert outcome.action == "promoted"
    assert pointers(world) == {"a": (2, key), "b": (1, first), "c": (2, key)}
    document, _ = read_production(world.service.context, MODEL)
    assert document["series"]["a"]["previous"]["run_key"] == first
    assert document["last_completed"]["run_key"] == key
    family = world.service.get_run(key)["family"]
    assert (family["promoted"], family["refused"]) == (2, 1)
    assert "champion" in family["refused_series"][0]["reason"]


def test_a_row_without_gate_metrics_cannot_be_judged_and_is_refused(world):
    key = world.launch("2002", SERIES, year=2002, event_id="e1")
    outcome = world.finish_family(key, [row("a", gate=False), row("b", candidate=0.5)])

    assert pointers(world) == {"b": (1, key)}
    entry = [e for e in world.service.list_ledger(MODEL) if e["kind"] == "gate"][-1]
    assert entry["series"]["a"]["action"] == "refused"
    assert "cannot judge: the result row has no gate_metrics" in entry["series"]["a"]["reason"]
    assert outcome.details["refused"] == 1


def test_no_series_trained_fails_the_run_without_registering(world):
    key = world.launch("2002", SERIES, year=2002, event_id="e1")
    outcome = world.finish_family(
        key, [row("a", status="failed", reason="ValueError: all NaN")], excluded={"b": "short"}
    )
    assert outcome.action == "failed"
    assert "trained no series" in outcome.reason
    assert world.registry.list_versions(MODEL) == []
    record = world.service.get_run(key)
    assert record["finalised"] and record["family"]["failed"] == 1


def test_a_run_without_results_is_failed(world):
    key = world.launch("2002", SERIES, year=2002, event_id="e1")
    world.pipeline.finish(key, "Completed")
    from shared.parsing import parse_run_event
    from tests import samples

    [outcome] = world.service.handle(parse_run_event(samples.run_event(key, run_key=key)))
    assert outcome.action == "failed" and "without per-series results" in outcome.reason


def test_an_older_snapshot_never_replaces_a_newer_one_per_series(world):
    first = first_run(world)
    older = world.launch("2003", SERIES, year=2003, event_id="e2")
    world.state.delete(f"policy/{MODEL}.json")  # let the newer run start at once
    newer = world.launch("2004", SERIES, year=2004, event_id="e3")

    done = world.finish_family(
        newer, [row("a", candidate=0.3, champion=0.5, data_end="2004-12-01T00:00:00")]
    )
    assert done.action == "promoted"
    late = world.finish_family(
        older,
        [
            row("a", candidate=0.2, champion=0.5, data_end="2003-12-01T00:00:00"),
            row("b", candidate=0.2, champion=0.6, data_end="2003-12-01T00:00:00"),
        ],
    )
    assert pointers(world)["a"] == (2, newer)  # a moved since the older run started
    assert pointers(world)["b"] == (3, older)  # b still had the champion it was compared with
    family = world.service.get_run(older)["family"]
    assert family["registered_only_series"] == [
        {
            "unique_id": "a",
            "reason": family["registered_only_series"][0]["reason"],
        }
    ]
    assert "moved from v1" in family["registered_only_series"][0]["reason"]
    assert late.action == "promoted"
    # The newer run stays the family's last completed run (the next run's previous).
    document, _ = read_production(world.service.context, MODEL)
    assert document["last_completed"]["run_key"] == newer
    assert first != newer


def test_data_older_than_the_pointers_is_registered_only(world):
    first_run(world)
    key = world.launch("2003", SERIES, year=2003, event_id="e2")
    world.finish_family(key, [row("a", candidate=0.3, champion=0.5, data_end="2001-12-01")])
    family = world.service.get_run(key)["family"]
    assert family["registered_only"] == 1
    assert (
        "an older snapshot never replaces a newer one"
        in (family["registered_only_series"][0]["reason"])
    )


class RacingStore:
    """Wraps the fake state store: before the first conditional write of the family's
    pointer document, another writer moves series ``a`` (as an operator would)."""

    def __init__(self, world: FamilyWorld) -> None:
        self.world, self.inner, self.raced = world, world.state, False

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def replace(self, key, document, *, etag):
        if key == production_key(MODEL) and not self.raced:
            self.raced = True
            current, current_etag = self.inner.get(key)
            current["series"]["a"] = dict(current["series"]["a"], version=99, run_key="other")
            self.inner.replace(key, current, etag=current_etag)
        return self.inner.replace(key, document, etag=etag)


def test_a_concurrent_pointer_move_is_seen_and_decided_again(world):
    first_run(world)
    key = world.launch("2003", SERIES, year=2003, event_id="e2")
    world.service.context.state = RacingStore(world)
    world.finish_family(
        key,
        [
            row("a", candidate=0.3, champion=0.5, data_end="2003-12-01T00:00:00"),
            row("b", candidate=0.3, champion=0.6, data_end="2003-12-01T00:00:00"),
        ],
    )
    assert pointers(world) == {"a": (99, "other"), "b": (2, key)}
    family = world.service.get_run(key)["family"]
    assert family["promoted"] == 1 and family["registered_only"] == 1


def test_the_pointer_document_gives_up_when_it_never_stops_changing(world):
    from shared.service.family import change_production

    class AlwaysLosing:
        def __getattr__(self, name):
            return getattr(world.state, name)

        def create(self, key, document):
            raise ConflictError("lost")

    world.service.context.state = AlwaysLosing()
    with pytest.raises(ConflictError, match="kept changing"):
        change_production(world.service.context, MODEL, lambda document: True)


def test_repeating_the_finalisation_changes_nothing(world):
    from shared.service.family_finalise import finalise_family

    key = first_run(world)
    ctx = world.service.context
    record = world.service.get_run(key)
    before = json.dumps(pointers(world))
    again = finalise_family(MODEL, key, record, ctx)
    assert again.action == "promoted"
    assert json.dumps(pointers(world)) == before
    assert len(world.registry.list_versions(MODEL)) == 1
    assert len(world.service.list_history(MODEL)["history"]) == 1


def test_a_champion_whose_models_file_is_gone_is_refused_not_judged_as_first(world):
    first = first_run(world)
    del world.artifacts.files[f"retrain/{first}/models/{shard_of('a')}.pkl"]
    key = world.launch("2003", SERIES, year=2003, event_id="e2")
    champions = world.artifacts.read_json(f"retrain/{key}/champions/champions.json")
    assert "a" in champions["missing"] and "a" not in champions["series"]
    world.finish_family(key, [row("a", candidate=0.1, data_end="2003-12-01T00:00:00")])
    assert pointers(world)["a"] == (1, first)
    family = world.service.get_run(key)["family"]
    assert "models file" in family["refused_series"][0]["reason"]


def test_a_resubmit_sends_the_champions_prepared_the_first_time(world):
    first_run(world)
    world.pipeline.fail_next = RuntimeError("endpoint unavailable")
    with pytest.raises(Exception, match="could not submit"):
        world.service.handle(world.panel("2003", SERIES, year=2003, event_id="e2"))
    [key] = [
        k.removeprefix("active/").removesuffix(".json") for k in world.state.list_keys("active/")
    ]
    copies = len(world.artifacts.copies)
    from shared.service.triggers import submit

    submit(key, world.service.context)
    assert len(world.artifacts.copies) == copies  # champions.json existed: nothing copied
    assert world.pipeline.submissions[-1].inputs["champions"].endswith(f"{key}/champions/")


# ------------------------------------------------------------------ rollback and pins


def two_runs(world: FamilyWorld) -> tuple[str, str]:
    first = first_run(world)
    key = world.launch("2003", SERIES, year=2003, event_id="e2")
    world.finish_family(
        key,
        [
            row("a", candidate=0.4, champion=0.5, data_end="2003-12-01T00:00:00"),
            row("b", candidate=0.4, champion=0.6, data_end="2003-12-01T00:00:00"),
            row("c", candidate=0.8, data_end="2003-12-01T00:00:00"),
        ],
    )
    assert pointers(world) == {"a": (2, key), "b": (2, key), "c": (2, key)}
    return first, key


def test_a_series_rolls_back_to_its_previous_model_and_keeps_history(world):
    from shared.service.family_ops import get_series, rollback_series

    first, second = two_runs(world)
    ctx = world.service.context
    outcome = rollback_series(ctx, MODEL, "a", by="ana", reason="spiky forecasts")
    assert outcome.action == "rollback"
    assert outcome.reason == "series a: v2 -> v1, by ana: spiky forecasts"
    assert pointers(world) == {"a": (1, first), "b": (2, second), "c": (2, second)}

    view = get_series(ctx, MODEL, "a")
    assert view["production"]["model_file"] == f"{shard_of('a')}.pkl"
    assert [h["action"] for h in view["history"]] == ["promoted", "promoted", "rollback"]
    assert view["history"][-1]["series_change"]["from"]["version"] == 2
    ledger = world.service.list_ledger(MODEL)[-1]
    assert ledger["kind"] == "operator" and ledger["requested_by"] == "ana"

    # Rolling forward again to a named family version in which the series was trained.
    rollback_series(ctx, MODEL, "a", by="ana", reason="after all", to_version=2)
    assert pointers(world)["a"] == (2, second)
    # Any version that trained the series, even one whose gate refused it (c in v1).
    rollback_series(ctx, MODEL, "c", by="ana", reason="v1's fit after all", to_version=1)
    assert pointers(world)["c"] == (1, first)
    with pytest.raises(Exception, match="was not trained in"):  # d failed in v1
        rollback_series(ctx, MODEL, "d", by="ana", reason="x", to_version=1)
    with pytest.raises(ConflictError, match="not v7"):
        rollback_series(ctx, MODEL, "a", by="ana", reason="x", expected_version=7)


def test_a_family_run_rolls_back_every_series_it_still_serves(world):
    from shared.service.family_ops import rollback_family, rollback_series

    first, second = two_runs(world)
    ctx = world.service.context
    rollback_series(ctx, MODEL, "b", by="ana", reason="b first")
    outcome = rollback_family(ctx, MODEL, second, by="bo", reason="bad release")
    # a goes back to v1; c had nothing before and now has none; b had already moved.
    assert pointers(world) == {"a": (1, first), "b": (1, first)}
    assert outcome.details == {"series": 2}
    assert "1 had no earlier model and now have none (c)" in outcome.reason
    with pytest.raises(Exception, match="no series of stores is served by run"):
        rollback_family(ctx, MODEL, second, by="bo", reason="again")


def test_a_pinned_series_or_family_is_not_moved_by_the_gate(world):
    from shared.service.family_ops import set_family_pin, set_series_pin

    first = first_run(world)
    ctx = world.service.context
    set_series_pin(ctx, MODEL, "a", pinned=True, by="ana", reason="audit")
    key = world.launch("2003", SERIES, year=2003, event_id="e2")
    world.finish_family(
        key,
        [
            row("a", candidate=0.1, champion=0.5, data_end="2003-12-01T00:00:00"),
            row("b", candidate=0.1, champion=0.6, data_end="2003-12-01T00:00:00"),
        ],
    )
    assert pointers(world) == {"a": (1, first), "b": (2, key)}
    reason = world.service.get_run(key)["family"]["registered_only_series"][0]["reason"]
    assert "the series is pinned at v1 by ana" in reason

    set_series_pin(ctx, MODEL, "a", pinned=False, by="ana", reason="done")
    set_family_pin(ctx, MODEL, pinned=True, by="bo", reason="freeze")
    with pytest.raises(Exception, match="already pinned"):
        set_family_pin(ctx, MODEL, pinned=True, by="bo", reason="freeze")
    world.state.delete(f"policy/{MODEL}.json")
    third = world.launch("2004", SERIES, year=2004, event_id="e3")
    world.finish_family(
        third, [row("a", candidate=0.1, champion=0.5, data_end="2004-12-01T00:00:00")]
    )
    assert pointers(world)["a"] == (1, first)
    family = world.service.get_run(third)["family"]
    assert "the family is pinned by bo (freeze)" in family["registered_only_series"][0]["reason"]
    # Every pin is in the history.
    actions = [h["action"] for h in world.service.list_history(MODEL)["history"]]
    assert actions.count("pinned") == 2 and actions.count("unpinned") == 1


def test_production_pages_and_run_series_queries(world):
    from shared.service.family_ops import family_production, run_series

    first, _ = two_runs(world)
    ctx = world.service.context
    page = family_production(ctx, MODEL, limit=2)
    assert [s["unique_id"] for s in page["series"]] == ["a", "b"]
    assert page["next_after"] == "b" and page["series_count"] == 3
    assert page["versions_serving"] == {"2": 3}
    rest = family_production(ctx, MODEL, after="b")
    assert [s["unique_id"] for s in rest["series"]] == ["c"] and rest["next_after"] is None
    refused = run_series(ctx, first, action="refused")
    assert list(refused["series"]) == ["c"] and refused["version"] == 1
    with pytest.raises(Exception, match="is one series, not a family"):
        from shared.settings import ModelConfig

        single = FamilyWorld(ModelConfig(name="co2", prefix="co2/"))
        family_production(single.service.context, "co2")


def test_the_fit_steps_gate_error_is_the_reason_a_series_cannot_be_judged(world):
    key = world.launch("2002", SERIES, year=2002, event_id="e1")
    broken = row("a", gate=False) | {"gate_metrics": None, "gate_error": "LinAlgError: singular"}
    world.finish_family(key, [broken, row("b")])
    [refused] = world.service.get_run(key)["family"]["refused_series"]
    assert refused["unique_id"] == "a"
    assert "could not compute them: LinAlgError: singular" in refused["reason"]


def test_the_sweep_finalises_a_family_run_whose_event_was_lost(world):
    from shared.messages import SweepTicked
    from tests.family.service_world import write_outputs

    key = world.launch("2002", SERIES, year=2002, event_id="e1")
    world.pipeline.finish(key, "Completed")
    write_outputs(world.artifacts, key, [row("a"), row("b", candidate=1.4)], {})
    outcomes = world.service.handle(SweepTicked(at=world.clock.now()))
    assert [o.action for o in outcomes if o.run_key == key] == ["promoted"]
    assert pointers(world) == {"a": (1, key)}
    assert world.state.list_keys("active/") == []


def test_a_forced_family_run_sends_its_salt_so_no_step_is_reused(world):
    key = first_run(world)
    [outcome] = world.service.handle(RetrainRequested(MODEL, "ana", "refit all", force=True))
    assert outcome.action == "retrain" and outcome.run_key not in (None, key)
    forced = world.pipeline.submissions[-1]
    assert forced.pipeline == "family"
    assert forced.inputs["rerun_salt"] == outcome.run_key
    assert "rerun_salt" not in world.pipeline.submissions[0].inputs


def test_a_refused_series_is_served_by_its_champion_refreshed_on_the_new_data(world):
    first = first_run(world)
    world.clock.advance(days=1)
    key = world.launch("2003", SERIES, year=2003, event_id="e2")
    end = "2003-12-01T00:00:00"
    outcome = world.finish_family(
        key,
        [
            row("a", candidate=0.7, champion=0.5, data_end=end, refreshed=True),
            row("b", candidate=0.7, champion=0.5, data_end=end),  # no refreshed record
            row("c", candidate=0.8, data_end=end),
        ],
    )
    assert outcome.action == "promoted"  # c, against seasonal naive
    document, _ = read_production(world.service.context, MODEL)
    a = document["series"]["a"]
    # a is refused, but production now forecasts from a's last observation: its champion's
    # parameters (v1) applied to this run's data, kept in this run's models file.
    assert (a["version"], a["run_key"], a["key"], a["data_end"]) == (2, key, "refreshed", end)
    assert a["refreshed_from"] == {"version": 1, "run_key": first, "key": None}
    assert document["series"]["b"]["run_key"] == first  # nothing to refresh it with
    family = world.service.get_run(key)["family"]
    assert (family["refused"], family["refreshed"]) == (2, 1)
    reasons = {s["unique_id"]: s["reason"] for s in family["refused_series"]}
    assert "production refreshed: v1's parameters" in reasons["a"]
    assert "not refreshed" in reasons["b"]
    [history] = [h for h in list_history(world.service.context, MODEL) if h["run_key"] == key]
    assert history["series"]["a"]["refreshed"] is True
    assert "1 refused series now served by their champion refreshed" in history["reason"]
    # The next run is compared against the refreshed record, not the old fit.
    world.clock.advance(days=1)
    third = world.launch("2004", SERIES, year=2004, event_id="e3")
    champions = world.artifacts.read_json(f"retrain/{third}/champions/champions.json")
    assert champions["series"]["a"] == {
        "run_key": key,
        "version": 2,
        "model_file": f"{key}/{shard_of('a')}.pkl",
        "data_end": end,
        "key": "refreshed",
    }
    assert "key" not in champions["series"]["c"]
    # Rolling the series back returns it to the fit it was refreshed from.
    rollback_series(world.service.context, MODEL, "a", by="ana", reason="check")
    document, _ = read_production(world.service.context, MODEL)
    assert (document["series"]["a"]["version"], document["series"]["a"].get("key")) == (1, None)
    assert document["series"]["a"]["previous"]["key"] == "refreshed"


def test_a_rollback_holds_against_the_same_fit_carried_over_by_the_next_run(world):
    first = first_run(world)
    world.clock.advance(days=1)
    second = world.launch("2003", SERIES, year=2003, event_id="e2")
    end = "2003-12-01T00:00:00"
    world.finish_family(second, [row("a", candidate=0.4, champion=0.5, data_end=end)])
    assert pointers(world)["a"] == (2, second)
    rollback_series(world.service.context, MODEL, "a", by="ana", reason="bad forecasts")
    assert pointers(world)["a"] == (1, first)

    world.clock.advance(days=1)
    third = world.launch("2003b", SERIES, year=2003, event_id="e3")
    # a's data did not change: the fit step carries the rolled-back fit over, and it beats
    # the champion (v1) exactly as it did before; the operator's choice stands.
    world.finish_family(third, [row("a", candidate=0.4, champion=0.5, data_end=end, reused=True)])
    assert pointers(world)["a"] == (1, first)
    family = world.service.get_run(third)["family"]
    [held] = family["registered_only_series"]
    assert held["unique_id"] == "a" and "an operator (ana) set its production" in held["reason"]


class ListingCounter:
    """The state store, counting listings of the promotion history."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.history_listings = 0

    def list_keys(self, prefix: str) -> list[str]:
        if prefix.startswith("history/"):
            self.history_listings += 1
        return self.inner.list_keys(prefix)  # type: ignore[attr-defined, no-any-return]

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_a_first_finalisation_writes_its_history_without_reading_the_history(world):
    counting = ListingCounter(world.service.context.state)
    world.service.context.state = counting  # type: ignore[assignment]
    first_run(world)
    assert counting.history_listings == 0  # it grows with the family's age: not read
    assert [h["action"] for h in list_history(world.service.context, MODEL)] == ["promoted"]


def test_unpinning_a_family_releases_an_old_model_wide_pin_without_a_model_version(world):
    from shared.messages import UnpinRequested
    from shared.service.promotion import get_pin

    two_runs(world)
    # A model-wide pin document as written before families had their own pin.
    world.state.create(
        f"pins/{MODEL}.json", {"pinned": True, "by": "old", "reason": "x", "at": "2003-01-01"}
    )
    outcomes = world.service.handle(UnpinRequested(MODEL, "audit over", "ben"))
    # The family was not pinned in its pointer document: only the old pin is released.
    assert [o.action for o in outcomes] == ["unpinned"]
    assert "model-wide pin set by old released by ben" in outcomes[0].reason
    assert get_pin(world.service.context, MODEL) is None
    # No model history entry with a missing version.
    history = world.service.list_history(MODEL)["history"]
    assert not [h for h in history if h.get("action") == "unpinned" and "from_version" in h]
    with pytest.raises(Exception, match="not pinned"):
        world.service.handle(UnpinRequested(MODEL, "again", "ben"))
