"""Data in and out of the local workspace: Azure ML datastores mapped to Blob containers.

A step's ``azureml://datastores/<datastore>/paths/<path>`` input is downloaded into its
job's folder ("download" mode); a pipeline output is published under its datastore path
after the run. A reused output was published before by the run that produced it; its
files are then copied inside the storage account (conditional on the source blob being
unchanged) instead of uploaded again, as Azure ML moves no data for reused steps.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceNotFoundError

from localdev.workspace.definition import _DATASTORE_URI
from localdev.workspace.jobs import RunFailed, read_json, write_json_atomically
from localdev.workspace.plan import _files_under, _is_remote, _Uri
from shared.adapters.blob import container_client

if TYPE_CHECKING:
    from azure.storage.blob import BlobClient, BlobServiceClient, ContainerClient

logger = logging.getLogger(__name__)

_PATH_VARIABLE = re.compile(r"\$\{\{\s*(name|output_name)\s*\}\}")


class Datastores:
    """``names`` maps Azure ML datastore names to Blob containers of ``blob_service``;
    ``cache`` is the workspace's step cache (a cached output remembers where it was last
    published, so the next publication of it is a copy inside the storage account)."""

    def __init__(
        self, blob_service: BlobServiceClient, names: Mapping[str, str], cache: Path
    ) -> None:
        self.blob_service = blob_service
        self.names = dict(names)
        self.cache = cache

    def container_name(self, datastore: str, where: str) -> str:
        name = self.names.get(datastore)
        if name is None:
            raise RunFailed(
                f"{where}: datastore {datastore!r} is not known to the local workspace "
                f"(known: {sorted(self.names)}); map it to a Blob container"
            )
        return name

    # -- in -------------------------------------------------------------------------------

    def materialise(self, uri: _Uri, target: Path, where: str) -> Path:
        """The local path of an input: a local path as it is, a datastore URI downloaded
        into ``target`` (a file: the file in it; a folder: ``target`` itself)."""
        match = _DATASTORE_URI.match(uri.source)
        if match is None:
            if _is_remote(uri.source):
                raise RunFailed(
                    f"{where}: {uri.source!r} is not supported locally; use an "
                    "azureml://datastores/<datastore>/paths/<path> URI or a local path"
                )
            path = Path(uri.source)
            if uri.type == "uri_folder" and not path.is_dir():
                raise RunFailed(f"{where}: folder {path} does not exist")
            if uri.type == "uri_file" and not path.is_file():
                raise RunFailed(f"{where}: file {path} does not exist")
            return path
        datastore, blob_path = match.groups()
        container_name = self.container_name(datastore, where)
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        container = self.blob_service.get_container_client(container_name)
        try:
            if uri.type == "uri_file":
                return _download_file(container, blob_path, target, where, container_name)
            _download_folder(container, blob_path, target, where, container_name)
            return target
        except AzureError as exc:
            raise RunFailed(f"{where}: cannot download {uri.source}: {exc}") from exc

    # -- out ------------------------------------------------------------------------------

    def publish(self, name: str, uri: str, source: Path) -> tuple[int, int]:
        """Publish the output folder ``source`` at the datastore URI ``uri``; return
        (files uploaded, files copied inside the storage account)."""
        match = _DATASTORE_URI.match(uri)
        assert match is not None  # checked when the pipeline was loaded
        datastore, blob_path = match.groups()
        container_name = self.container_name(datastore, f"output {name!r}")
        prefix = blob_path if not blob_path or blob_path.endswith("/") else blob_path + "/"
        try:
            container = container_client(self.blob_service, container_name)
            return self._publish(source, container, prefix)
        except AzureError as exc:
            raise RunFailed(f"output {name!r}: cannot upload to {uri}: {exc}") from exc

    def _publish(self, source: Path, container: ContainerClient, prefix: str) -> tuple[int, int]:
        record_path = self._publication_record(source)
        previous = read_json(record_path) if record_path else None
        files: dict[str, str] = {}
        uploaded = copied = 0
        for path in sorted(_files_under(source, skip_caches=False)):
            relative = path.relative_to(source).as_posix()
            blob = container.get_blob_client(prefix + relative)
            etag = self._copy_published(blob, previous, relative)
            if etag is None:
                with path.open("rb") as handle:
                    etag = str(blob.upload_blob(handle, overwrite=True)["etag"])
                uploaded += 1
            else:
                copied += 1
            files[relative] = etag
        if record_path is not None:
            record = {"container": container.container_name, "prefix": prefix, "files": files}
            write_json_atomically(record_path, record)
        return uploaded, copied

    def _publication_record(self, source: Path) -> Path | None:
        """Where a cached output remembers its last publication (None if not cached)."""
        if source.parent.name != "outputs" or source.parent.parent.parent != self.cache:
            return None
        return source.parent.parent / "published" / f"{source.name}.json"

    def _copy_published(
        self, blob: BlobClient, previous: Mapping[str, Any] | None, relative: str
    ) -> str | None:
        """Copy the previously published blob to ``blob``; its new ETag, or None if the
        source is gone, changed or the copy did not finish at once."""
        if not previous or relative not in previous.get("files", {}):
            return None
        source = self.blob_service.get_blob_client(
            previous["container"], previous["prefix"] + relative
        )
        try:
            result = blob.start_copy_from_url(
                source.url,
                source_etag=previous["files"][relative],
                source_match_condition=MatchConditions.IfNotModified,
            )
        except AzureError as exc:
            logger.debug("copy of %s failed (%s); uploading instead", source.url, exc)
            return None
        if result.get("copy_status") != "success":
            with contextlib.suppress(AzureError):
                blob.abort_copy(str(result["copy_id"]))
            return None
        return str(result["etag"])


def _download_file(
    container: Any, blob_path: str, target: Path, where: str, container_name: str
) -> Path:
    if not blob_path or blob_path.endswith("/"):
        raise RunFailed(f"{where}: a uri_file needs a blob path, got {blob_path!r}")
    destination = target / safe_relative(blob_path.rsplit("/", 1)[-1], where)
    try:
        with destination.open("wb") as handle:
            container.download_blob(blob_path).readinto(handle)
    except ResourceNotFoundError:
        raise RunFailed(
            f"{where}: blob {blob_path!r} does not exist in container {container_name!r}"
        ) from None
    return destination


def _download_folder(
    container: Any, blob_path: str, target: Path, where: str, container_name: str
) -> None:
    prefix = blob_path if not blob_path or blob_path.endswith("/") else blob_path + "/"
    count = 0
    try:
        for blob in container.list_blobs(name_starts_with=prefix or None):
            relative = str(blob.name)[len(prefix) :]
            if not relative or relative.endswith("/"):
                continue
            destination = target / safe_relative(relative, where)
            destination.parent.mkdir(parents=True, exist_ok=True)
            with destination.open("wb") as handle:
                container.download_blob(blob.name).readinto(handle)
            count += 1
    except ResourceNotFoundError:
        raise RunFailed(f"{where}: container {container_name!r} does not exist") from None
    if count == 0:
        raise RunFailed(f"{where}: no blobs under {prefix!r} in container {container_name!r}")


def expand_output_path(template: str, *, job_name: str, output_name: str) -> str:
    """A pipeline output's path with ``${{name}}`` and ``${{output_name}}`` filled in."""

    def variable(match: re.Match[str]) -> str:
        return job_name if match.group(1) == "name" else output_name

    return _PATH_VARIABLE.sub(variable, template)


def safe_name(key: str) -> str:
    return re.sub(r"[^\w.-]", "_", key)


def safe_relative(relative: str, where: str) -> Path:
    path = Path(relative)
    if path.is_absolute() or ".." in path.parts:
        raise RunFailed(f"{where}: refusing blob name {relative!r} (it escapes the job folder)")
    return path
