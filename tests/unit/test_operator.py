"""Operator actions through the service: rollback, manual promotion, pin and unpin, each
in the ledger and the promotion history."""

import pytest

from shared.errors import ConflictError, InvalidInput, NotFound, UnknownModel
from shared.messages import PinRequested, PromoteRequested, RollbackRequested, UnpinRequested
from shared.settings import ModelConfig
from tests import samples
from tests.fakes import FakeWorld, metrics_v2

MODELS = (ModelConfig(name="co2", prefix="co2/", horizon=24),)


@pytest.fixture
def world() -> FakeWorld:
    """Three versions: v1 and v2 promoted by the gate, v3 rejected by it."""
    world = FakeWorld(MODELS)
    for year, metrics in (
        (2000, metrics_v2(candidate=0.5, data_end="2000-12-01")),
        (2001, metrics_v2(candidate=0.4, champion=0.5, data_end="2001-12-01")),
        (2002, metrics_v2(candidate=0.9, champion=0.4, data_end="2002-12-01")),
    ):
        message = world.arrive(f"co2/{year}.csv", samples.csv_rows(year, 1), event_id=str(year))
        [launched] = world.service.handle(message)
        assert launched.run_key is not None
        world.complete(launched.run_key, metrics)
    assert production(world) == 2
    return world


def production(world: FakeWorld) -> int | None:
    return world.registry.get_alias("co2", "production").version


def history(world: FakeWorld) -> list[tuple]:
    return [
        (e["action"], e["by"], e["from_version"], e["to_version"], e["reason"])
        for e in world.service.list_history("co2")["history"]
    ]


def test_rollback_pin_manual_promotion_and_the_history(world):
    [rolled] = world.service.handle(RollbackRequested("co2", 1, "v2 overshoots in Q1", "ana"))
    assert rolled.action == "rolled_back" and production(world) == 1
    assert "production: v2 -> v1 rolled back by ana (gate had passed it)" in rolled.reason

    [pinned] = world.service.handle(PinRequested("co2", "audit week", "ben"))
    assert pinned.action == "pinned" and pinned.details == {"version": 1}
    assert world.service.list_models()[0]["pinned"] is True

    # While pinned, a run that beats the champion is registered only.
    message = world.arrive("co2/2003.csv", samples.csv_rows(2003, 1), event_id="2003")
    [launched] = world.service.handle(message)
    assert launched.run_key is not None
    blocked = world.complete(
        launched.run_key, metrics_v2(candidate=0.2, champion=0.5, data_end="2003-12-01")
    )
    assert blocked.action == "registered" and "pinned at v1 by ben" in blocked.reason
    assert production(world) == 1

    # An operator may still move a pinned production by hand, even to a rejected version.
    [manual] = world.service.handle(PromoteRequested("co2", 3, "needed for the demo", "cy"))
    assert manual.action == "manual_promote" and production(world) == 3
    assert "gate had rejected it" in manual.reason

    [unpinned] = world.service.handle(UnpinRequested("co2", "audit over", "ben"))
    assert unpinned.action == "unpinned"
    assert world.service.list_history("co2")["pin"] is None

    assert history(world) == [
        ("promoted", "gate", None, 1, history(world)[0][4]),
        ("promoted", "gate", 1, 2, history(world)[1][4]),
        ("rolled_back", "ana", 2, 1, "v2 overshoots in Q1"),
        ("pinned", "ben", 1, 1, "audit week"),
        ("manual_promote", "cy", 1, 3, "needed for the demo"),
        ("unpinned", "ben", 3, 3, "audit over"),
    ]
    operator = [e for e in world.ledger() if e["kind"] == "operator"]
    assert [e["action"] for e in operator] == [
        "rolled_back",
        "pinned",
        "manual_promote",
        "unpinned",
    ]
    assert operator[0]["request"] == "rollback to v1 by ana: v2 overshoots in Q1"


@pytest.mark.parametrize(
    ("message", "error", "text"),
    [
        (RollbackRequested("co2", 3, "r", "ana"), InvalidInput, "v3 is not earlier: use promote"),
        (RollbackRequested("co2", 2, "r", "ana"), InvalidInput, "already in production"),
        (RollbackRequested("co2", 9, "r", "ana"), NotFound, "has no version 9"),
        (RollbackRequested("gas", 1, "r", "ana"), UnknownModel, "unknown model 'gas'"),
        (PromoteRequested("co2", 3, "r", "ana", expected_version=1), ConflictError, "not v1"),
        (UnpinRequested("co2", "r", "ana"), InvalidInput, "co2 is not pinned"),
    ],
)
def test_refused_actions_say_why_and_change_nothing(world, message, error, text):
    before = history(world)
    with pytest.raises(error, match=text):
        world.service.handle(message)
    assert production(world) == 2 and history(world) == before


def test_pin_twice_and_pin_without_production_are_refused(world):
    world.service.handle(PinRequested("co2", "freeze", "ana"))
    with pytest.raises(InvalidInput, match="already pinned at v2 by ana"):
        world.service.handle(PinRequested("co2", "freeze", "ben"))
    empty = FakeWorld(MODELS)
    with pytest.raises(InvalidInput, match="no production version to pin"):
        empty.service.handle(PinRequested("co2", "freeze", "ana"))


def test_a_pin_defeats_a_promotion_that_read_the_alias_before_it(world):
    seen = world.registry.get_alias("co2", "production")  # a finalisation reads the alias
    world.service.handle(PinRequested("co2", "freeze", "ana"))  # ... then the pin lands
    with pytest.raises(ConflictError):
        world.registry.set_alias("co2", "production", 3, etag=seen.etag)
    assert production(world) == 2


def test_a_rollback_loses_the_race_to_a_concurrent_move(world):
    class MovingRegistry:
        """Another writer moves production between the rollback's read and its write."""

        def __init__(self, inner) -> None:
            self.inner = inner

        def set_alias(self, name, alias, version, *, etag):
            current = self.inner.get_alias(name, alias)
            self.inner.set_alias(name, alias, 3, etag=current.etag)
            return self.inner.set_alias(name, alias, version, etag=etag)

        def __getattr__(self, name):
            return getattr(self.inner, name)

    world.service.context.registry = MovingRegistry(world.registry)
    with pytest.raises(ConflictError, match="moved since it was read"):
        world.service.handle(RollbackRequested("co2", 1, "bad", "ana"))
    assert production(world) == 3
    assert [h[0] for h in history(world)] == ["promoted", "promoted"]
