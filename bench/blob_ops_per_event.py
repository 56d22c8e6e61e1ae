"""Blob Storage operations per BlobCreated event, with many blobs already under the prefix.

Drives the service wired to the test fakes (no Azurite), counting every call the service
makes on its storage ports (state, data, artifacts; the registry's state too) and the
items those calls list. Works against this checkout and, for comparison, an older one:
``PYTHONPATH=/path/to/checkout python bench/blob_ops_per_event.py``.

    python bench/blob_ops_per_event.py --existing 1000 --events 20
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared.adapters.document_registry import DocumentModelRegistry
from shared.messages import SweepTicked
from shared.parsing import parse_blob_created
from shared.settings import ModelConfig
from tests import samples
from tests.fakes import FakeWorld, metrics_v2


class Counting:
    """Wraps a port; counts calls per method and the items list calls return."""

    def __init__(self, inner: Any, name: str, counts: collections.Counter[str]) -> None:
        self._inner, self._name, self._counts = inner, name, counts

    def __getattr__(self, attr: str) -> Any:
        target = getattr(self._inner, attr)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self._counts[f"{self._name}.{attr}"] += 1
            result = target(*args, **kwargs)
            if attr.startswith("list"):
                self._counts["listed items"] += len(result)
            return result

        return call


def measure(existing: int, events: int, quiet_period: float | None) -> dict[str, Any]:
    model = ModelConfig(name="co2", prefix="co2/")
    if quiet_period is not None and "policy" in ModelConfig.__dataclass_fields__:
        from shared.policy import TriggerPolicy

        model = dataclasses.replace(model, policy=TriggerPolicy(quiet_period=quiet_period))
    world = FakeWorld((model,))
    row = samples.csv_rows(2000, 1)
    for n in range(existing):
        world.data.put(f"co2/old-{n:05d}.csv", row)
    # The history: one run over what is there (the sweep finds it, or one event).
    if "policy" in ModelConfig.__dataclass_fields__:
        world.service.handle(SweepTicked(at=world.clock.now()))
    else:
        world.service.handle(world.arrive("co2/old-00000.csv", row, event_id="first"))
    for key in list(world.pipeline.runs):
        world.complete(key, metrics_v2(candidate=0.3, baseline=1.4))
    counts: collections.Counter[str] = collections.Counter()
    ctx = world.service.context
    ctx.state = Counting(world.state, "state", counts)
    ctx.data = Counting(world.data, "data", counts)
    ctx.artifacts = Counting(world.artifacts, "artifacts", counts)
    ctx.registry = DocumentModelRegistry(ctx.state, world.clock)
    for n in range(events):
        content = samples.csv_rows(2010 + n, 1)
        etag = world.data.put(f"co2/new-{n:05d}.csv", content)
        event = samples.blob_created(
            f"co2/new-{n:05d}.csv", event_id=f"new-{n}", etag=etag, size=len(content)
        )
        world.service.handle(parse_blob_created(event, container="data", models=world.models))
    calls = sum(v for k, v in counts.items() if k != "listed items")
    return {
        "existing_blobs": existing,
        "events": events,
        "quiet_period": quiet_period,
        "calls_per_event": round(calls / events, 2),
        "listed_items_per_event": round(counts["listed items"] / events, 1),
        "runs_started": len(world.pipeline.submissions),
        "by_call": {k: round(v / events, 2) for k, v in sorted(counts.items())},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--existing", type=int, nargs="+", default=[0, 1000])
    parser.add_argument("--events", type=int, default=20)
    args = parser.parse_args(argv)
    for existing in args.existing:
        for quiet in (0.0, 300.0):
            print(json.dumps(measure(existing, args.events, quiet)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
