"""On Azurite: the local workspace's steps and logs as the API reads them (a real tiny
pipeline run), and every acting route's ledger entry in Blob state."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from localdev.workspace import LocalWorkspace
from localdev.workspace.server import LocalRunInspector
from shared.adapters.blob import BlobArtifactStore, BlobDataStore, BlobStateStore
from shared.adapters.document_registry import DocumentModelRegistry
from shared.bootstrap import set_service
from shared.errors import InvalidData, InvalidInput, NotFound
from shared.parsing import parse_blob_created, parse_run_event
from shared.ports import JSON, PipelineSubmission
from shared.service import RetrainService
from shared.settings import GatePolicy
from tests import samples
from tests.api.world import BAD_CSV, MODELS, answer, call
from tests.fakes import FakeClock, FakePipeline, metrics_v2

pytestmark = pytest.mark.azurite

MINI = Path(__file__).parents[1] / "integration" / "fixtures" / "mini_pipeline" / "pipeline.yml"


def test_the_local_workspace_steps_and_log_tails(
    tmp_path: Path, blob_service: BlobServiceClient, new_container: Callable[..., ContainerClient]
) -> None:
    data, artifacts = new_container("data"), new_container("artifacts")
    data.upload_blob("mini/a.csv", "name,value\nx,1\ny,2\n")
    manifest = {"files": [{"name": "mini/a.csv", "etag": "0x1", "size": 16}]}
    artifacts.upload_blob("manifests/mini.json", json.dumps(manifest))
    datastores = {
        "trainingdata": data.container_name,
        "workspaceblobstore": artifacts.container_name,
    }
    with LocalWorkspace(tmp_path, MINI, blob_service=blob_service, datastores=datastores) as ws:
        ws.submit(PipelineSubmission(run_key="mini-run", model="mini", inputs={}))
        assert ws.wait("mini-run", 120).status == "Completed"
    inspector = LocalRunInspector(tmp_path)
    steps = inspector.get_steps("mini-run")
    assert [(s.name, s.status) for s in steps] == [
        ("prep", "Completed"),
        ("train", "Completed"),
        ("report", "Completed"),
    ]
    assert all(s.duration_s is not None and s.finished_at is not None for s in steps)
    tail = inspector.get_log_tail("mini-run", "prep", lines=1)
    assert tail == ["prepared 2 values from 1 manifest files"]
    epochs = inspector.get_log_tail("mini-run", "train", lines=100)
    assert len(epochs) >= 2 and all(line.startswith("epoch ") for line in epochs)
    assert inspector.get_log_tail("mini-run", "train", lines=1) == epochs[-1:]
    with pytest.raises(NotFound):
        inspector.get_log_tail("mini-run", "nope")
    with pytest.raises(NotFound):
        inspector.get_steps("no-such-run")


@pytest.fixture
def service(new_container: Callable[..., ContainerClient]) -> Iterator[RetrainService]:
    """The service on Azurite state, data and artifacts (fake pipeline and clock)."""
    clock = FakeClock(tick=timedelta(milliseconds=1))
    state = BlobStateStore(new_container("state"))
    service = RetrainService(
        models=MODELS,
        gate=GatePolicy(),
        data_container="data",
        data_datastore="trainingdata",
        state=state,
        data=BlobDataStore(new_container("data")),
        artifacts=BlobArtifactStore(new_container("art"), datastore="workspaceblobstore"),
        pipeline=FakePipeline(),
        registry=DocumentModelRegistry(state, clock),
        clock=clock,
    )
    set_service(service)
    yield service
    set_service(None)


def _data(service: RetrainService) -> ContainerClient:
    return service.context.data._container  # type: ignore[attr-defined, no-any-return]


def _arrive(service: RetrainService, name: str, content: str, event_id: str) -> None:
    blob = _data(service).upload_blob(name, content, overwrite=True)
    etag = blob.get_blob_properties().etag
    event = samples.blob_created(name, event_id=event_id, etag=etag, size=len(content))
    service.handle(parse_blob_created(event, container="data", models=MODELS))


def _train(service: RetrainService, year: int, metrics: JSON) -> None:
    _arrive(service, f"co2/{year}.csv", samples.csv_rows(year, 1), str(year))
    [run] = service.list_runs("co2", limit=1)
    key = run["run_key"]
    pipeline = service.pipeline
    assert isinstance(pipeline, FakePipeline)
    pipeline.finish(key)
    service.context.artifacts.write_json(f"retrain/{key}/metrics/metrics.json", metrics)
    service.handle(parse_run_event(samples.run_event(key, run_key=key)))


def _ledger(service: RetrainService) -> list[JSON]:
    return service.list_ledger("co2")


def test_every_acting_route_leaves_its_ledger_entry_with_who_and_why(service):
    _train(service, 2000, metrics_v2(candidate=0.5, data_end="2000-12-01"))
    _train(service, 2001, metrics_v2(candidate=0.4, champion=0.5, data_end="2001-12-01"))
    assert [r["model_version"] for r in service.list_runs("co2")] == [2, 1]
    principal = {"x-ms-client-principal-name": "ana@example.com"}

    def act(function: str, body: JSON, status: int = 200, **route: str) -> JSON:
        response = call(function, "POST", body, headers=principal, **route)
        assert response.status_code == status, answer(response)
        entry = _ledger(service)[-1] if function != "retrain_model" else None
        return entry or {}

    acts = [
        ("rollback_model", {"version": 1, "reason": "v2 is off"}, "rolled_back"),
        ("promote_model", {"version": 2, "reason": "fixed"}, "manual_promote"),
        ("pin_model", {"reason": "freeze"}, "pinned"),
        ("unpin_model", {"reason": "thaw"}, "unpinned"),
        ("pause_model", {"reason": "backfill"}, "held"),
        ("resume_model", {"reason": "done"}, None),
    ]
    for function, body, action in acts:
        entry = act(function, body, model="co2")
        assert "ana@example.com" in entry["reason"], (function, entry)
        assert body["reason"] in entry["reason"] or body["reason"] in entry.get("request", "")
        if action is not None:
            assert entry["action"] == action

    response = call("retrain_model", "POST", {"reason": "check"}, headers=principal, model="co2")
    assert response.status_code == 202
    assert "manual request by ana@example.com: check" in _ledger(service)[-1]["trigger"]

    # Quarantine, then release the file fixed by a re-upload whose event never came.
    with pytest.raises(InvalidData):
        _arrive(service, "co2/bad.csv", BAD_CSV, "bad")
    _data(service).upload_blob("co2/bad.csv", samples.csv_rows(2003, 1), overwrite=True)
    entry = act("release_quarantined_file", {"blob": "co2/bad.csv", "reason": "re-uploaded"})
    released = [e for e in _ledger(service) if e["action"] == "released"]
    assert [(e["requested_by"], e["kind"]) for e in released] == [("ana@example.com", "operator")]
    assert "re-uploaded" in released[0]["reason"]
    assert service.list_quarantine() == []

    # Replay a dead letter: recorded on the ledger and on the letter.
    late = samples.blob_created("co2/late.csv", event_id="late")
    blob = _data(service).upload_blob("co2/late.csv", samples.csv_rows(2004, 1))
    late["data"]["eTag"] = blob.get_blob_properties().etag
    service.dead_letter("on_blob_created", json.dumps(late), InvalidInput("was refused"))
    [letter] = service.list_dead_letters()
    source, digest = letter["id"].split("/")
    act("replay_dead_letter", {"reason": "config fixed"}, source=source, digest=digest)
    [replayed] = [e for e in _ledger(service) if e["action"] == "replayed"]
    assert replayed["requested_by"] == "ana@example.com" and "config fixed" in replayed["reason"]
    assert service.get_dead_letter(letter["id"])["replays"][0]["by"] == "ana@example.com"
