"""``AzureMLPipelineClient``: the ``PipelineClient`` port over an Azure ML batch endpoint
whose deployment is the training pipeline component (the v2 "published pipeline").

Submitting invokes the endpoint (``batch_endpoints.invoke``): a data-plane POST to the
endpoint's scoring URI that starts an ordinary pipeline job in the workspace. What the job
carries of the run key, and why (azure-wire-contracts.md §1.4, azure-ai-ml 1.35.2 source):

* the job name: sent (``job_name``), but the service ignores it for pipeline-component
  deployments (azure-sdk-for-python#32763), so it cannot be relied on;
* job properties ``retrain_run_key`` / ``retrain_model``: the invoke body's
  ``properties.properties`` (where ``experimentName`` goes) is, per the batch-endpoint
  docs, applied to the job for pipeline-component deployments; the SDK puts only
  ``experimentName`` there, so the adapter passes the whole dict through invoke's
  ``params_override``;
* job tags: not possible; invoke's body schema has no tags (``BatchJobSchema`` rejects
  them), and deployment-level tags are the same for every job.

So a run is found by its key with ``jobs.get(<run key>)`` (cheap, and exact if the name
was kept) and then ``jobs.list(properties="retrain_run_key=<key>")``, the ARM jobs list's
server-side filter on a user property's value (the ``tag`` filter takes a key only).

Never two jobs for one run key: before every invoke, including the first, the job is
looked up by its key; a failed invoke is retried only after waiting (``RetryPolicy``) and
looking again, so a job created by an attempt whose answer was lost is found, not
duplicated. The SDK's invoke also re-sends its POST up to five times on connection errors
with one ``repeatability_request-id``; the service is expected to deduplicate those.

Two SDK quirks are contained here: invoke keeps its headers in a module-level dict, so a
deployment name (and an old Authorization header) sticks to later invokes (reference
§0.4); the dict is reset around every invoke, under a lock, and the deployment is always
passed when one is configured.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from azure.core.exceptions import ResourceNotFoundError

from shared.adapters.azure.workspace import RetryPolicy, classify, describe
from shared.errors import NotFound, PipelineError
from shared.parsing import MODEL_TAG, RUN_KEY_TAG
from shared.ports import FAMILY_PIPELINE, PIPELINES, PipelineRun, PipelineStep, PipelineSubmission

if TYPE_CHECKING:
    from azure.ai.ml import MLClient

logger = logging.getLogger(__name__)

OUTPUTS = ("prepared", "model", "metrics")
# The family pipeline's outputs (pipeline_defs/family_pipeline.yml).
FAMILY_OUTPUTS = ("prepared", "results", "models")
FAMILY_ENDPOINT_SUFFIX = "-family"
FILE_INPUTS = frozenset({"manifest"})
_JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")
# Azure ML JobStatus values, by lower case, so that any casing maps to the service's names.
_STATUSES = {
    s.lower(): s
    for s in (
        "NotStarted",
        "Starting",
        "Provisioning",
        "Preparing",
        "Queued",
        "Running",
        "Finalizing",
        "CancelRequested",
        "Completed",
        "Failed",
        "Canceled",
        "NotResponding",
        "Paused",
        "Unknown",
    )
}
_STATUSES["cancelled"] = "Canceled"
_STATUSES["succeeded"] = "Completed"

_INVOKE_LOCK = threading.Lock()


def job_status(value: Any) -> str:
    """An SDK status (``JobStatus`` enum or string) in Azure ML's spelling; unknown
    values pass through unchanged."""
    text = str(getattr(value, "value", value) or "Unknown")
    return _STATUSES.get(text.lower(), text)


def _reset_invoke_headers() -> None:
    """Empty azure.ai.ml's module-level invoke header dict (reference §0.4)."""
    from azure.ai.ml.constants._endpoint import EndpointInvokeFields

    EndpointInvokeFields.DEFAULT_HEADER.clear()
    EndpointInvokeFields.DEFAULT_HEADER["Content-Type"] = "application/json"


class _Client:
    """An ``MLClient`` given directly or made on first use by a factory."""

    def __init__(self, source: MLClient | Callable[[], MLClient]) -> None:
        self._source = source
        self._client: MLClient | None = None
        self._lock = threading.Lock()

    def get(self) -> MLClient:
        with self._lock:
            if self._client is None:
                source = self._source
                self._client = cast("MLClient", source if hasattr(source, "jobs") else source())
            return self._client


class JobFinder:
    """Finds the job of a run key: by job name, then by a user property and/or a tag.

    Shared by the v2 and v1 clients; each says where its jobs keep the run key.
    """

    def __init__(
        self,
        client: _Client,
        retry: RetryPolicy,
        *,
        by_property: bool,
        by_tag: bool,
    ) -> None:
        self._client = client
        self._retry = retry
        self._by_property = by_property
        self._by_tag = by_tag

    def find(self, run_key: str) -> Any | None:
        ml = self._client.get()
        try:
            job = self._retry.call(f"jobs.get {run_key}", lambda: ml.jobs.get(run_key))
        except ResourceNotFoundError:
            job = None
        except Exception as exc:
            raise PipelineError(f"could not look up run {run_key}: {describe(exc)}") from exc
        if job is not None and carries(job, run_key, by_name=True):
            return job
        filters: list[dict[str, str]] = []
        if self._by_property:
            filters.append({"properties": f"{RUN_KEY_TAG}={run_key}"})
        if self._by_tag:
            filters.append({"tag": RUN_KEY_TAG})
        for query in filters:
            matches = [j for j in self._list(run_key, query) if carries(j, run_key)]
            if matches:
                matches.sort(key=lambda j: (_created(j), str(j.name)))
                if len(matches) > 1:
                    logger.warning(
                        "run %s has %s jobs (%s); following the first",
                        run_key,
                        len(matches),
                        ", ".join(str(j.name) for j in matches),
                    )
                return matches[0]
        return None

    def _list(self, run_key: str, query: Mapping[str, str]) -> list[Any]:
        from azure.ai.ml.constants import ListViewType

        ml = self._client.get()

        def listing() -> list[Any]:
            found = ml.jobs.list(list_view_type=ListViewType.ALL, **query)
            return [j for j in found if j is not None]

        try:
            return self._retry.call(f"jobs.list for run {run_key}", listing)
        except Exception as exc:
            raise PipelineError(f"could not look up run {run_key}: {describe(exc)}") from exc


def carries(job: Any, run_key: str, *, by_name: bool = False) -> bool:
    """Whether the job says it belongs to ``run_key`` (property, tag or, when asked, its
    name)."""
    properties = getattr(job, "properties", None) or {}
    tags = getattr(job, "tags", None) or {}
    if properties.get(RUN_KEY_TAG) == run_key or tags.get(RUN_KEY_TAG) == run_key:
        return True
    return by_name and getattr(job, "name", None) == run_key


def job_run_key(job: Any) -> str:
    properties = getattr(job, "properties", None) or {}
    tags = getattr(job, "tags", None) or {}
    return str(properties.get(RUN_KEY_TAG) or tags.get(RUN_KEY_TAG) or "")


def _created(job: Any) -> str:
    context = getattr(job, "creation_context", None)
    created: Any = getattr(context, "created_at", None)
    return created.isoformat() if hasattr(created, "isoformat") else str(created or "")


def failure_message(client: _Client, job: Any, retry: RetryPolicy) -> str | None:
    """Why a job did not complete: the run-history error for a failed job (the ARM job
    resource has no error field), a plain sentence for a canceled one."""
    status = job_status(job.status)
    if status == "Canceled":
        return f"job {job.name} was canceled"
    if status not in ("Failed", "NotResponding"):
        return None
    ml = client.get()
    try:
        # azure.ai.ml reads run history the same way in jobs.stream; there is no public
        # call for a job's error in 1.35.2.
        runs = ml.jobs._runs_operations
        details = retry.call(f"run details {job.name}", lambda: runs.get_run_details(job.name))
    except Exception as exc:
        logger.warning("could not read the error of job %s: %s", job.name, describe(exc))
        return f"job {job.name} {status.lower()} (its error could not be read: {describe(exc)})"
    error = getattr(getattr(details, "error", None), "error", None)
    message = getattr(error, "message", None)
    code = getattr(error, "code", None)
    if not message:
        return f"job {job.name} {status.lower()} without an error message"
    return f"{code}: {message}" if code else str(message)


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if hasattr(moment, "isoformat") else None


def _step(child: Any) -> PipelineStep:
    """A run-history child run (``runhistory.models.Run``) as a pipeline step."""
    started, ended = getattr(child, "start_time_utc", None), getattr(child, "end_time_utc", None)
    duration = None
    if isinstance(started, datetime) and isinstance(ended, datetime):
        duration = round((ended - started).total_seconds(), 3)
    error = getattr(getattr(child, "error", None), "error", None)
    return PipelineStep(
        name=str(getattr(child, "display_name", None) or getattr(child, "run_id", "?")),
        status=job_status(getattr(child, "status", None) or "NotStarted"),
        started_at=_iso(started),
        finished_at=_iso(ended),
        duration_s=duration,
        error=getattr(error, "message", None),
    )


class AzureMLPipelineClient:
    """The ``PipelineClient`` port over a batch endpoint's pipeline-component deployment.

    ``ml_client`` is an ``MLClient`` (see ``workspace.connect``) or a factory for one,
    called on first use. ``deployment_name`` None invokes the endpoint's default
    deployment. Pipeline outputs are directed to
    ``azureml://datastores/<artifact_datastore>/paths/retrain/<run key>/<output>/``.

    A family submission (``submission.pipeline == "family"``) invokes the family pipeline's
    own batch endpoint, ``family_endpoint_name`` (default ``<endpoint_name>-family``, the
    name ``deploy/`` publishes it under) with its default deployment unless
    ``family_deployment_name`` is given, and directs the family pipeline's outputs
    (``FAMILY_OUTPUTS``) the same way.
    """

    def __init__(
        self,
        ml_client: MLClient | Callable[[], MLClient],
        *,
        endpoint_name: str,
        deployment_name: str | None = None,
        artifact_datastore: str = "workspaceblobstore",
        outputs: Iterable[str] = OUTPUTS,
        file_inputs: Iterable[str] = FILE_INPUTS,
        retry: RetryPolicy | None = None,
        family_endpoint_name: str | None = None,
        family_deployment_name: str | None = None,
    ) -> None:
        if not endpoint_name:
            raise ValueError("endpoint_name is required")
        self._family_endpoint = family_endpoint_name or endpoint_name + FAMILY_ENDPOINT_SUFFIX
        self._family_deployment = family_deployment_name or None
        self._client = _Client(ml_client)
        self._endpoint = endpoint_name
        self._deployment = deployment_name or None
        self._datastore = artifact_datastore
        self._outputs = tuple(outputs)
        self._file_inputs = frozenset(file_inputs)
        self._retry = retry or RetryPolicy()
        self._finder = JobFinder(
            self._client, self._retry, by_property=True, by_tag=self.run_key_in_tags
        )

    #: Whether this client's jobs carry the run key as a tag (v1 submit) rather than only
    #: as a job property (v2 invoke).
    run_key_in_tags = False

    @property
    def invokes_family(self) -> bool:
        """Whether this client can start the family pipeline: only this class's invoke
        knows the family endpoint (a subclass that submits elsewhere, the v1 client, does
        not)."""
        return type(self)._invoke is AzureMLPipelineClient._invoke

    # -- the port -------------------------------------------------------------------------

    def submit(self, submission: PipelineSubmission) -> PipelineRun:
        key = submission.run_key
        if not _JOB_NAME.match(key):
            raise PipelineError(f"run key {key!r} cannot be an Azure ML job name")
        if submission.pipeline == FAMILY_PIPELINE and not self.invokes_family:
            raise PipelineError(
                f"run {key} is a family run, but the {self.describe_target()} publishes only "
                "the single-series pipeline; families need the batch endpoint "
                "(RETRAIN_INVOKE=batch_endpoint)"
            )
        what = f"{self.describe_target()} for run {key}"
        last = None
        for attempt in range(1, self._retry.attempts + 1):
            existing = self.find_run(key)
            if existing is not None:
                logger.info("run %s is already job %s (%s)", key, existing.run_id, existing.status)
                return existing
            try:
                job = self._invoke(submission)
            except Exception as exc:
                last = classify(exc)
                if last.status == 409:  # the job name is taken: that job is ours, look again
                    continue
                if not last.retry:
                    raise PipelineError(f"{what} failed: {last.summary}") from exc
                if attempt < self._retry.attempts:
                    self._retry.wait(attempt, last, what)
                continue
            run = PipelineRun(
                run_id=str(job.name),
                run_key=key,
                status=job_status(getattr(job, "status", None) or "NotStarted"),
                outputs=self._output_uris(key, submission.pipeline),
            )
            logger.info("run %s submitted as job %s", key, run.run_id)
            return run
        existing = self.find_run(key)  # the last attempt may have created it after all
        if existing is not None:
            return existing
        summary = last.summary if last else "no attempt was made"
        raise PipelineError(f"{what} failed {self._retry.attempts} times; last: {summary}")

    def get_run(self, run_id: str) -> PipelineRun:
        ml = self._client.get()
        try:
            job = self._retry.call(f"jobs.get {run_id}", lambda: ml.jobs.get(run_id))
        except ResourceNotFoundError:
            raise NotFound(f"no job {run_id!r} in the workspace") from None
        except Exception as exc:
            raise PipelineError(f"could not read job {run_id}: {describe(exc)}") from exc
        return self._to_run(job, job_run_key(job))

    def find_run(self, run_key: str) -> PipelineRun | None:
        """The job of ``run_key``; None when there is none (yet)."""
        job = self._finder.find(run_key)
        return None if job is None else self._to_run(job, run_key)

    # -- RunInspector ---------------------------------------------------------------------

    def get_steps(self, run_id: str) -> list[PipelineStep]:
        """The pipeline job's steps: its child runs in run history, in start order.

        ``jobs.list(parent_job_name=...)`` in azure.ai.ml 1.35.2 turns child runs into jobs
        without their times or errors, so the run-history operation it wraps (``GET
        {api}/history/v1.0/.../runs/<job>/children``) is called directly, as
        ``failure_message`` reads run details. The job itself is read first, so an
        unknown job is ``NotFound``. A step's ``reused`` is not reported (the recorded
        child runs carry no reuse marker this adapter could rely on).
        """
        ml = self._client.get()
        try:
            self._retry.call(f"jobs.get {run_id}", lambda: ml.jobs.get(run_id))
        except ResourceNotFoundError:
            raise NotFound(f"no job {run_id!r} in the workspace") from None
        except Exception as exc:
            raise PipelineError(f"could not read job {run_id}: {describe(exc)}") from exc
        runs = ml.jobs._runs_operations._operation
        scope = (ml.subscription_id, ml.resource_group_name, str(ml.workspace_name))
        try:
            children = self._retry.call(
                f"run children {run_id}", lambda: list(runs.get_child(*scope, run_id))
            )
        except ResourceNotFoundError:
            raise NotFound(f"run history knows no job {run_id!r}") from None
        except Exception as exc:
            raise PipelineError(f"could not read the steps of {run_id}: {describe(exc)}") from exc
        steps = [_step(child) for child in children]
        return sorted(steps, key=lambda s: (s.started_at is None, s.started_at or "", s.name))

    def get_log_tail(self, run_id: str, step: str, *, lines: int = 100) -> list[str]:
        """Not read from Azure ML: a step's logs are files in its run's artifacts, which
        this adapter does not fetch; always ``NotFound`` (the API says so), see the job in
        Azure ML studio."""
        raise NotFound(
            f"step logs of Azure ML job {run_id} are not read by the service; open the job "
            "in Azure ML studio (its Outputs + logs tab)"
        )

    # -- helpers --------------------------------------------------------------------------

    def describe_target(self) -> str:
        return f"invoke of batch endpoint {self._endpoint}"

    def output_uri(self, run_key: str, output: str) -> str:
        return f"azureml://datastores/{self._datastore}/paths/retrain/{run_key}/{output}/"

    def _output_uris(self, run_key: str, pipeline: str | None = None) -> dict[str, str]:
        names = FAMILY_OUTPUTS if pipeline == FAMILY_PIPELINE else self._outputs
        return {name: self.output_uri(run_key, name) for name in names}

    def _to_run(self, job: Any, run_key: str) -> PipelineRun:
        outputs = self._output_uris(run_key) if run_key else {}
        for name, output in (getattr(job, "outputs", None) or {}).items():
            path = getattr(output, "path", None)
            if isinstance(path, str) and path.startswith("azureml://"):
                outputs[str(name)] = path
        return PipelineRun(
            run_id=str(job.name),
            run_key=run_key,
            status=job_status(job.status),
            outputs=outputs,
            error=failure_message(self._client, job, self._retry),
        )

    def _input(self, name: str, value: str | int | float) -> Any:
        from azure.ai.ml import Input

        if isinstance(value, str) and value.startswith(("azureml://", "https://")):
            kind = "uri_file" if name in self._file_inputs else "uri_folder"
            return Input(type=kind, path=value)
        if isinstance(value, bool):
            return Input(type="boolean", default=value)
        if isinstance(value, int):
            return Input(type="integer", default=value)
        if isinstance(value, float):
            return Input(type="number", default=value)
        return Input(type="string", default=str(value))

    def _invoke(self, submission: PipelineSubmission) -> Any:
        from azure.ai.ml import Output

        key = submission.run_key
        if submission.pipeline not in PIPELINES:
            raise PipelineError(f"run {key}: no published pipeline {submission.pipeline!r}")
        family = submission.pipeline == FAMILY_PIPELINE
        endpoint = self._family_endpoint if family else self._endpoint
        deployment = self._family_deployment if family else self._deployment
        inputs = {name: self._input(name, value) for name, value in submission.inputs.items()}
        outputs = {
            name: Output(type="uri_folder", path=uri)
            for name, uri in self._output_uris(key, submission.pipeline).items()
        }
        properties = {
            "experimentName": submission.experiment,
            **{str(k): str(v) for k, v in submission.tags.items()},
            RUN_KEY_TAG: key,
            MODEL_TAG: submission.model,
        }
        ml = self._client.get()
        with _INVOKE_LOCK:
            _reset_invoke_headers()
            try:
                return ml.batch_endpoints.invoke(
                    endpoint_name=endpoint,
                    deployment_name=deployment,
                    inputs=inputs,
                    outputs=outputs,
                    job_name=key,
                    params_override=[{"properties": properties}],
                )
            finally:
                _reset_invoke_headers()
