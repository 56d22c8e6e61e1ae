"""Small in-memory fakes of the ports that record what happened (no patching)."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.adapters.document_registry import DocumentModelRegistry
from shared.errors import ConflictError, NotFound
from shared.messages import NewDataArrived
from shared.parsing import parse_blob_created, parse_run_event
from shared.ports import JSON, DataFile, PipelineRun, PipelineSubmission
from shared.service import Outcome, RetrainService
from shared.settings import GatePolicy, ModelConfig
from tests import samples


class FakeClock:
    """Exact time for tests; each reading moves it on by ``tick`` so records keep order."""

    def __init__(self, start: datetime | None = None, tick: timedelta = timedelta(0)) -> None:
        self.current = start or datetime(2026, 1, 1, tzinfo=UTC)
        self.tick = tick

    def now(self) -> datetime:
        self.current += self.tick
        return self.current

    def advance(self, **kwargs: float) -> None:
        self.current += timedelta(**kwargs)


class FakeStateStore:
    """Documents in a dict; ETags are a counter, as opaque as the real ones."""

    def __init__(self) -> None:
        self.documents: dict[str, tuple[JSON, str]] = {}
        self.listed: list[str] = []  # the prefixes listed, in order (a test counts them)
        self._etags = itertools.count(1)

    def _next_etag(self) -> str:
        return f'"0x{next(self._etags):04X}"'

    def create(self, key: str, document: Mapping[str, Any]) -> str:
        if key in self.documents:
            raise ConflictError(f"state document {key!r} already exists")
        etag = self._next_etag()
        self.documents[key] = (json.loads(json.dumps(document, default=str)), etag)
        return etag

    def get(self, key: str) -> tuple[JSON, str]:
        if key not in self.documents:
            raise NotFound(f"no state document {key!r}")
        document, etag = self.documents[key]
        return copy.deepcopy(document), etag

    def replace(self, key: str, document: Mapping[str, Any], *, etag: str) -> str:
        if key not in self.documents or self.documents[key][1] != etag:
            raise ConflictError(f"state document {key!r} changed since it was read")
        new_etag = self._next_etag()
        self.documents[key] = (json.loads(json.dumps(document, default=str)), new_etag)
        return new_etag

    def list_keys(self, prefix: str) -> list[str]:
        self.listed.append(prefix)
        return sorted(k for k in self.documents if k.startswith(prefix))

    def delete(self, key: str) -> None:
        self.documents.pop(key, None)


class FakeDataStore:
    """The data container as a dict of blob name -> bytes; ETags change on overwrite."""

    def __init__(self) -> None:
        self.blobs: dict[str, tuple[bytes, str]] = {}
        self._etags = itertools.count(1)

    def put(self, name: str, content: bytes | str) -> str:
        data = content.encode() if isinstance(content, str) else content
        etag = f'"0x{next(self._etags):04X}"'
        self.blobs[name] = (data, etag)
        return etag

    def list_files(self, prefix: str) -> list[DataFile]:
        return [
            DataFile(name=name, etag=etag, size=len(data))
            for name, (data, etag) in sorted(self.blobs.items())
            if name.startswith(prefix)
        ]

    def read_bytes(self, name: str) -> bytes:
        if name not in self.blobs:
            raise NotFound(f"no data blob {name!r}")
        return self.blobs[name][0]

    def read_range(self, name: str, start: int, end: int) -> tuple[bytes, int]:
        data = self.read_bytes(name)
        return data[max(0, start) : max(start, end)], len(data)


class CountingReads:
    """A data container counting whole reads per blob (``reads``, in order); the rest is
    the container it wraps."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.reads: list[str] = []

    def read_bytes(self, name: str) -> bytes:
        self.reads.append(name)
        return bytes(self.inner.read_bytes(name))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def count_reads(world: FakeWorld) -> CountingReads:
    """Make the world's service read its data through a ``CountingReads``; returns it."""
    reads = CountingReads(world.data)
    world.service.context.data = reads
    return reads


class FakeArtifactStore:
    def __init__(self, datastore: str = "workspaceblobstore") -> None:
        self.documents: dict[str, JSON] = {}
        self.files: dict[str, bytes] = {}
        self.datastore = datastore
        self.copies: list[tuple[str, str]] = []

    def write_bytes(self, path: str, content: bytes) -> None:
        self.files[path] = content

    def read_bytes(self, path: str) -> bytes:
        if path not in self.files:
            raise NotFound(f"no artifact {path!r}")
        return self.files[path]

    def write_json(self, path: str, document: Mapping[str, Any]) -> None:
        self.documents[path] = json.loads(json.dumps(document, default=str))

    def read_json(self, path: str) -> JSON:
        if path not in self.documents:
            raise NotFound(f"no artifact {path!r}")
        return copy.deepcopy(self.documents[path])

    def uri(self, path: str) -> str:
        return f"azureml://datastores/{self.datastore}/paths/{path}"

    def copy(self, source: str, destination: str) -> None:
        """Server-side copy (recorded in ``copies``)."""
        if source in self.files:
            self.files[destination] = self.files[source]
        elif source in self.documents:
            self.documents[destination] = copy.deepcopy(self.documents[source])
        else:
            raise NotFound(f"no artifact {source!r}")
        self.copies.append((source, destination))


class FakePipeline:
    """Records submissions; idempotent on the run key like the real backends."""

    def __init__(self) -> None:
        self.submissions: list[PipelineSubmission] = []
        self.runs: dict[str, PipelineRun] = {}
        self.fail_next: Exception | None = None

    def submit(self, submission: PipelineSubmission) -> PipelineRun:
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        if submission.run_key in self.runs:
            return self.runs[submission.run_key]
        self.submissions.append(submission)
        run = PipelineRun(run_id=submission.run_key, run_key=submission.run_key, status="Queued")
        self.runs[run.run_id] = run
        return run

    def get_run(self, run_id: str) -> PipelineRun:
        if run_id not in self.runs:
            raise NotFound(f"no run {run_id!r}")
        return self.runs[run_id]

    def find_run(self, run_key: str) -> PipelineRun | None:
        return next((r for r in self.runs.values() if r.run_key == run_key), None)

    def finish(self, run_id: str, status: str = "Completed", error: str | None = None) -> None:
        run = self.runs[run_id]
        self.runs[run_id] = PipelineRun(run.run_id, run.run_key, status, error=error)


class FakeWorld:
    """The service wired to fakes, with helpers that play Event Grid and the backend."""

    def __init__(self, models: tuple[ModelConfig, ...]) -> None:
        self.models = models
        self.state = FakeStateStore()
        self.data = FakeDataStore()
        self.artifacts = FakeArtifactStore()
        self.pipeline = FakePipeline()
        self.clock = FakeClock(tick=timedelta(milliseconds=1))
        self.registry = DocumentModelRegistry(self.state, self.clock)
        self.service = RetrainService(
            models=models,
            gate=GatePolicy(),
            data_container="data",
            data_datastore="trainingdata",
            state=self.state,
            data=self.data,
            artifacts=self.artifacts,
            pipeline=self.pipeline,
            registry=self.registry,
            clock=self.clock,
        )

    def arrive(self, name: str, content: str, *, event_id: str = "e1") -> NewDataArrived:
        etag = self.data.put(name, content)
        event = samples.blob_created(name, event_id=event_id, etag=etag, size=len(content))
        return parse_blob_created(event, container="data", models=self.models)

    def complete(self, run_key: str, metrics: JSON, status: str = "Completed") -> Outcome:
        self.pipeline.finish(run_key, status, error="prep: boom" if status == "Failed" else None)
        if status == "Completed":
            self.artifacts.write_json(f"retrain/{run_key}/metrics/metrics.json", metrics)
        event = samples.run_event(run_key, run_key=run_key, status=status)
        return self.service.handle(parse_run_event(event))[0]

    def ledger(self) -> list[JSON]:
        return self.service.list_ledger("co2")


def metrics_v2(
    *,
    candidate: float,
    baseline: float = 1.0,
    champion: float | None = None,
    champion_error: str | None = None,
    data_end: str = "2002-12-01T00:00:00",
    folds: int = 3,
    horizon: int = 4,
    candidate_errors: list[list[float]] | None = None,
    champion_errors: list[list[float]] | None = None,
) -> JSON:
    """metrics.json as the evaluate step writes it (schema 2), with backtest MASE values
    as given and per-fold errors proportional to them (or as given)."""
    origins = [f"2001-{m:02d}-01T00:00:00" for m in range(1, folds + 1)]
    shape = [1.0, -0.6, 0.8, -1.2, 0.4, -0.9, 1.1, -0.3]

    def section(mase: float, errors: list[list[float]] | None) -> JSON:
        errors = errors or [
            [mase * shape[(i + f) % len(shape)] for i in range(horizon)] for f in range(folds)
        ]
        values = {"mase": mase, "smape": 10 * mase, "rmse": mase, "mae": mase, "coverage": 0.8}
        return {
            "holdout": dict(values),
            "backtest": dict(values),
            "folds": [
                {"origin": origin, "mase": mase, "errors": fold_errors}
                for origin, fold_errors in zip(origins, errors, strict=True)
            ],
            "holdout_errors": errors[-1],
        }

    return {
        "schema": 2,
        "horizon": horizon,
        "season_length": 12,
        "interval": 0.8,
        "holdout_start": "2002-01-01T00:00:00",
        "holdout_end": data_end,
        "data_end": data_end,
        "mase_scale": 1.0,
        "backtest": {"folds": folds, "horizon": horizon, "origins": origins},
        "candidate": section(candidate, candidate_errors),
        "baseline": section(baseline, None) | {"name": "seasonal_naive"},
        "champion": None if champion is None else section(champion, champion_errors),
        **({"champion_error": champion_error} if champion_error else {}),
        "model": {"order": [1, 1, 1], "seasonal_order": [0, 1, 1, 12], "trend": None},
        "champion_model": None if champion is None else {"order": [0, 1, 1]},
    }
