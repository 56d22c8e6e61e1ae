"""A family whose state store counts its requests (``tests.family.counting``), and runs
that move every series each year: the world of the history and collection tests."""

from __future__ import annotations

from collections import Counter

from shared.parsing import parse_run_event
from shared.ports import JSON, StateStore
from tests import samples
from tests.family.counting import CountingStore
from tests.family.service_world import MODEL, FamilyWorld, row, write_outputs

SERIES = {"a": 10.0, "b": 20.0, "c": 30.0, "d": 40.0}


def counted_world(state: StateStore | None = None) -> FamilyWorld:
    """A ``FamilyWorld`` whose state store (shared by the registry) counts requests: its
    in-memory one, or ``state`` (e.g. Blob storage on Azurite)."""
    world = FamilyWorld()
    inner = world.state if state is None else state
    counting = CountingStore(inner, conflict_key=f"family/{MODEL}/production.json")
    world.service.context.state = counting  # type: ignore[assignment]
    world.registry._store = counting  # type: ignore[assignment]  # the registry shares it
    world.counting = counting  # type: ignore[attr-defined]
    return world


def counting(world: FamilyWorld) -> CountingStore:
    return world.counting  # type: ignore[attr-defined, no-any-return]


def year_rows(year: int) -> list[JSON]:
    """Every series beats its champion (the previous year's fit) by a little."""
    end = f"{year}-12-01T00:00:00"
    champion = None if year == 2002 else 0.6
    candidate = 0.5 - 0.01 * (year - 2002)
    return [row(uid, candidate=candidate, champion=champion, data_end=end) for uid in SERIES]


def start_year(world: FamilyWorld, year: int) -> str:
    """Launch the family's run on ``year``'s data and let it complete (its outputs
    written); its completion event is still to come."""
    key = world.launch(str(year), SERIES, year=year, event_id=f"e{year}")
    world.pipeline.finish(key, "Completed")
    write_outputs(world.artifacts, key, year_rows(year), {})
    return key


def run_year(world: FamilyWorld, year: int) -> tuple[str, Counter[str]]:
    """Launch and finalise the family's run on ``year``'s data; the requests the
    finalisation made (the completion event's handling)."""
    key = start_year(world, year)
    counting(world).requests.clear()
    [outcome] = world.service.handle(parse_run_event(samples.run_event(key, run_key=key)))
    assert outcome.action == "promoted", outcome
    return key, Counter(counting(world).requests)
