"""Drives the local stack through the arrivals of a series and reads what happened through the
service's public API only."""

from __future__ import annotations

import json
import logging
import pickle
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bench.order_search import Series
from bench.replaylib.arrivals import Arrival, arrival_csv, dated, model_name
from bench.replaylib.records import ArrivalRecord
from bench.replaylib.render import progress_line
from bench.replaylib.scoring import mase, mase_scale, rescore, seasonal_naive, served_forecast
from bench.replaylib.transform import from_record

if TYPE_CHECKING:
    from localdev.stack import LocalStack

log = logging.getLogger(__name__)


PRODUCTION = "production"
_DATASTORE_URI = re.compile(r"^azureml://datastores/(?P<datastore>[^/]+)/paths/(?P<path>.*)$")


@dataclass
class Peers:
    """The comparators of the served forecast."""

    autoarima: Callable[[np.ndarray, int, int], np.ndarray]


def statsforecast_peers() -> Peers:
    from statsforecast.models import AutoARIMA

    def autoarima(history: np.ndarray, steps: int, season_length: int) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = AutoARIMA(season_length=season_length).fit(np.asarray(history, float))
            return np.asarray(model.predict(steps)["mean"], dtype=float)

    return Peers(autoarima=autoarima)


@dataclass
class Production:
    version: int | None
    artifact_uri: str | None = None


@dataclass
class Replayer:
    """Drives one local stack through the arrivals of each series."""

    stack: LocalStack
    peers: Peers
    run_timeout: float
    _pickles: dict[str, Any] = field(default_factory=dict)

    # -- reading the service's public state

    def production(self, model: str) -> Production:
        for version in self.stack.service.list_versions(model):
            if version.get("production"):
                return Production(int(version["version"]), str(version["artifact_uri"]))
        return Production(None)

    def version_of_run(self, model: str, run_key: str) -> dict[str, Any] | None:
        found = [
            v
            for v in self.stack.service.list_versions(model)
            if (v.get("tags") or {}).get("run_key") == run_key
        ]
        return found[-1] if found else None

    def run_folder(self, run_key: str) -> str:
        """A run's model folder in the artifact datastore (the pipeline's output path)."""
        datastore = self.stack.settings.artifact_datastore
        return f"azureml://datastores/{datastore}/paths/retrain/{run_key}/model/"

    def load_model(self, folder_uri: str, *names: str) -> Any:
        """The first of ``names`` present in a registered model folder, unpickled."""
        return self._load(folder_uri, names, pickle.loads)

    def load_transform(self, folder_uri: str) -> Any:
        """The transform a model folder's model.json records (``BoxCox.from_record``): None
        when it records none or has no model.json (a model in the series' units)."""
        try:
            info = self._load(folder_uri, ("model.json",), json.loads)
        except FileNotFoundError:
            return None
        return from_record(info.get("transform") if isinstance(info, dict) else None)

    def _load(self, folder_uri: str, names: tuple[str, ...], parse: Callable[[bytes], Any]) -> Any:
        """The first of ``names`` present in a registered model folder, parsed (cached)."""
        match = _DATASTORE_URI.match(folder_uri)
        if match is None:
            raise ValueError(f"not a datastore URI: {folder_uri!r}")
        settings = self.stack.settings
        containers = {
            settings.artifact_datastore: settings.artifact_container,
            settings.data_datastore: settings.data_container,
        }
        container = self.stack.blobs.get_container_client(containers[match["datastore"]])
        folder = match["path"].rstrip("/")
        present = {b.name for b in container.list_blobs(name_starts_with=folder + "/")}
        for name in names:
            path = f"{folder}/{name}"
            if path in present:
                if path not in self._pickles:
                    data = container.download_blob(path).readall()
                    self._pickles[path] = parse(data)
                return self._pickles[path]
        raise FileNotFoundError(f"none of {', '.join(names)} in {folder_uri}")

    def wait_for_trigger(self, model: str, blob: str, seen: int) -> dict[str, Any]:
        """The ledger's trigger decision for ``blob`` (entries after the first ``seen``)."""

        def check() -> dict[str, Any] | None:
            for entry in self.stack.service.list_ledger(model)[seen:]:
                if entry.get("kind") == "trigger" and blob in str(entry.get("trigger", "")):
                    return entry
            return None

        found: dict[str, Any] = self.stack.wait_for(
            f"the trigger decision on {blob}", check, timeout=120
        )
        return found

    # -- one series

    def replay(
        self,
        series: Series,
        arrivals: list[Arrival],
        progress: Callable[[str], None],
    ) -> list[ArrivalRecord]:
        model = model_name(series.name)
        values = dated(series.values, series.season_length)
        m, h = series.season_length, series.horizon
        records: list[ArrivalRecord] = []
        # version -> (the arrival whose run put it in production, "promoted" or "refreshed")
        put_by: dict[int, tuple[int, str]] = {}
        for arrival in arrivals:
            started = time.monotonic()
            record = ArrivalRecord(series.name, arrival.number, (arrival.start, arrival.end))
            part = values.iloc[arrival.start : arrival.end]
            record.blob = (
                f"{model}/arrival-{arrival.number:03d}-"
                f"{part.index[0]:%Y%m%d}-{part.index[-1]:%Y%m%d}.csv"
            )
            before = self.production(model)
            record.production_before = before.version
            seen = len(self.stack.service.list_ledger(model))
            self.stack.upload(record.blob, arrival_csv(part))
            if arrival.number > 0:  # scored while the pipeline runs
                self.score_served(record, values, arrival, before, m)
                if record.served_mase is not None and before.version in put_by:
                    run_arrival, how = put_by[before.version]
                    record.served_behind = arrival.number - 1 - run_arrival
                    record.served_by = how if record.served_behind == 0 else "older"
            entry = self.wait_for_trigger(model, record.blob, seen)
            record.decision = str(entry.get("action"))
            record.reason = str(entry.get("reason", ""))
            if record.decision == "retrain" and entry.get("run_key"):
                record.run_key = str(entry["run_key"])
                run = self.stack.wait_for_run(record.run_key, timeout=self.run_timeout)
                record.status = str(run.get("status"))
                if record.status != "Completed" and run.get("error"):
                    record.reason = str(run["error"])
                version = self.version_of_run(model, record.run_key)
                after = self.production(model)
                record.production_after = after.version
                if version is not None:
                    record.version = int(version["version"])
                    record.promoted = (
                        after.version == record.version and before.version != record.version
                    )
                if record.completed and before.version is not None and before.artifact_uri:
                    # A run that registered nothing is re-scored from its model folder.
                    folder = (
                        str(version["artifact_uri"]) if version else self.run_folder(record.run_key)
                    )
                    self.rescore_run(record, values.iloc[: arrival.end], folder, before, m, h)
            else:
                record.production_after = self.production(model).version
            if record.promoted and record.version is not None:
                put_by[record.version] = (arrival.number, "promoted")
            elif record.production_after not in (None, record.production_before):
                # production moved to a version this run registered besides its candidate:
                # the champion refreshed on the run's data
                assert record.production_after is not None
                put_by[record.production_after] = (arrival.number, "refreshed")
            record.seconds = round(time.monotonic() - started, 2)
            records.append(record)
            progress(progress_line(record, len(arrivals)))
        return records

    def score_served(
        self,
        record: ArrivalRecord,
        values: pd.Series,
        arrival: Arrival,
        production: Production,
        season_length: int,
    ) -> None:
        history = values.iloc[: arrival.start].to_numpy(dtype=float)
        actual = values.iloc[arrival.start : arrival.end].to_numpy(dtype=float)
        scale = mase_scale(history, season_length)
        record.naive_mase = mase(
            actual, seasonal_naive(history, arrival.size, season_length), scale
        )
        record.autoarima_mase = mase(
            actual, self.peers.autoarima(history, arrival.size, season_length), scale
        )
        if production.version is None or production.artifact_uri is None:
            return
        try:
            results = self.load_model(production.artifact_uri, "model.pkl")
            transform = self.load_transform(production.artifact_uri)
            forecast = served_forecast(results, pd.DatetimeIndex(values.index), arrival, transform)
            record.served_mase = mase(actual, forecast, scale)
        except Exception as exc:  # a model that cannot serve is reported, not fatal
            record.served_error = f"{type(exc).__name__}: {exc}"
            log.warning(
                "%s arrival %d: served forecast failed: %s", record.series, arrival.number, exc
            )

    def rescore_run(
        self,
        record: ArrivalRecord,
        data: pd.Series,
        candidate_folder: str,
        champion: Production,
        season_length: int,
        horizon: int,
    ) -> None:
        train, holdout = data.iloc[:-horizon], data.iloc[-horizon:]
        try:
            scale = mase_scale(train.to_numpy(dtype=float), season_length)
            candidate = self.load_model(candidate_folder, "model_eval.pkl", "model.pkl")
            assert champion.artifact_uri is not None
            defending = self.load_model(champion.artifact_uri, "model.pkl")
            record.candidate_holdout_mase = rescore(
                candidate, train, holdout, scale, self.load_transform(candidate_folder)
            )
            record.champion_holdout_mase = rescore(
                defending, train, holdout, scale, self.load_transform(champion.artifact_uri)
            )
        except Exception as exc:
            record.rescore_error = f"{type(exc).__name__}: {exc}"
            log.warning("%s arrival %d: re-scoring failed: %s", record.series, record.arrival, exc)
