"""A Parquet blob is checked on arrival from ranged reads of its end (the last 64 KiB,
then the rest of a longer footer), never read whole: real files written by pyarrow, stored
in Azurite, read through the data adapter."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
import pytest
from azure.storage.blob import BlobServiceClient

from shared.adapters.blob import BlobDataStore, client_options
from shared.datacheck import PARQUET_TAIL, check_blob, check_parquet
from shared.errors import InvalidData
from shared.messages import SweepTicked
from shared.settings import ModelConfig
from tests.fakes import FakeWorld


def parquet(frame: pd.DataFrame, **options: object) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, **options)
    return buffer.getvalue()


def series(rows: int, *, extra_columns: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    columns = {
        "timestamp": pd.date_range("2020-01-01", periods=rows, freq="h"),
        "value": rng.normal(size=rows),
    }
    for i in range(extra_columns):
        columns[f"feature_with_a_long_name_{i:05d}"] = rng.normal(size=rows)
    return pd.DataFrame(columns)


class Recording:
    """The data adapter, with the reads it was asked for."""

    def __init__(self, inner: BlobDataStore) -> None:
        self.inner = inner
        self.ranges: list[tuple[int, int]] = []
        self.whole = 0

    def read_bytes(self, name: str) -> bytes:
        self.whole += 1
        return self.inner.read_bytes(name)

    def read_range(self, name: str, start: int, end: int) -> tuple[bytes, int]:
        self.ranges.append((start, end))
        return self.inner.read_range(name, start, end)


@pytest.fixture
def stored(new_container, azurite):
    container = new_container("parquet")
    service = BlobServiceClient.from_connection_string(
        azurite.connection_string, **client_options()
    )
    data = BlobDataStore(service.get_container_client(container.container_name))

    def put(name: str, content: bytes) -> Recording:
        container.upload_blob(name, content)
        return Recording(data)

    return put


def check(store: Recording, name: str, size: int | None) -> tuple[int, bytes]:
    return check_blob(
        name,
        read=lambda: store.read_bytes(name),
        read_range=lambda start, end: store.read_range(name, start, end),
        size=size,
        time_column="timestamp",
        value_column="value",
    )


def test_a_large_file_is_checked_from_one_read_of_its_end(stored):
    content = parquet(series(60_000))
    assert len(content) > 4 * PARQUET_TAIL
    store = stored("m/big.parquet", content)
    assert check(store, "m/big.parquet", len(content)) == (60_000, b"")
    assert store.whole == 0
    assert store.ranges == [(len(content) - PARQUET_TAIL, len(content))]


def test_a_footer_longer_than_the_tail_takes_one_more_read(stored):
    content = parquet(series(400, extra_columns=1500))
    footer = int.from_bytes(content[-8:-4], "little")
    assert footer + 8 > PARQUET_TAIL and len(content) > footer + 8
    store = stored("m/wide.parquet", content)
    assert check(store, "m/wide.parquet", len(content)) == (400, b"")
    assert store.whole == 0
    assert len(store.ranges) == 2
    assert sum(end - start for start, end in store.ranges) == footer + 8


def test_a_wrong_size_in_the_event_costs_one_more_read(stored):
    content = parquet(series(60_000))
    store = stored("m/sized.parquet", content)
    assert check(store, "m/sized.parquet", 1_000)[0] == 60_000
    assert check(store, "m/sized.parquet", None)[0] == 60_000
    assert check(store, "m/sized.parquet", len(content) * 3)[0] == 60_000
    assert store.whole == 0


def test_a_small_file_is_read_at_once_and_checked_at_both_ends(stored):
    content = parquet(series(12))
    store = stored("m/small.parquet", content)
    assert check(store, "m/small.parquet", len(content)) == (12, b"")
    assert store.ranges == [(0, len(content))]
    broken = b"XXXX" + content[4:]
    with pytest.raises(InvalidData, match="not a Parquet file"):
        check(stored("m/broken.parquet", broken), "m/broken.parquet", len(broken))


def test_damaged_and_foreign_files_are_refused_as_the_whole_file_check_refuses_them(stored):
    content = parquet(series(60_000))
    truncated = content[: len(content) // 2]
    with pytest.raises(InvalidData, match="not a Parquet file"):
        check(stored("m/cut.parquet", truncated), "m/cut.parquet", len(truncated))
    lying = content[:-8] + (len(content) * 2).to_bytes(4, "little") + b"PAR1"
    with pytest.raises(InvalidData, match="truncated or damaged"):
        check(stored("m/lying.parquet", lying), "m/lying.parquet", len(lying))
    no_value = parquet(series(60_000).rename(columns={"value": "y"}))
    with pytest.raises(InvalidData, match="missing column"):
        check(stored("m/novalue.parquet", no_value), "m/novalue.parquet", len(no_value))
    empty = b""
    with pytest.raises(InvalidData, match="not a Parquet file"):
        check(stored("m/empty.parquet", empty), "m/empty.parquet", 0)


def test_csv_is_still_read_whole(stored):
    store = stored("m/a.csv", b"timestamp,value\n2020-01-01,1\n2020-02-01,2\n")
    assert check(store, "m/a.csv", 10) == (2, b"timestamp,value\n2020-01-01,1\n2020-02-01,2\n")
    assert store.whole == 1 and store.ranges == []


def test_the_ranged_check_agrees_with_the_whole_file_check():
    for frame in (series(3), series(5_000), series(50, extra_columns=40)):
        content = parquet(frame)

        def read_range(start: int, end: int, content: bytes = content) -> tuple[bytes, int]:
            return content[start:end], len(content)

        whole = check_parquet(content, name="x", time_column="timestamp", value_column="value")
        assert check_blob(
            "x.parquet",
            read=lambda: b"",
            read_range=read_range,
            size=len(content),
            time_column="timestamp",
            value_column="value",
        ) == (whole, b"")


class RangedFakeData:
    """The fake data container with the Blob adapter's ranged read; records the reads."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.whole: list[str] = []
        self.ranges: list[tuple[str, int, int]] = []

    def read_bytes(self, name: str) -> bytes:
        self.whole.append(name)
        return bytes(self.inner.read_bytes(name))

    def read_range(self, name: str, start: int, end: int) -> tuple[bytes, int]:
        self.ranges.append((name, start, end))
        content = self.inner.read_bytes(name)
        return content[start:end], len(content)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_the_service_checks_a_parquet_arrival_from_its_end_and_a_sweep_too():
    world = FakeWorld((ModelConfig(name="fam", prefix="fam/", horizon=4, time_column="timestamp"),))
    data = RangedFakeData(world.data)
    world.service.context.data = data
    content = parquet(series(60_000))
    arrived = world.arrive("fam/a.parquet", content, event_id="e1")
    outcomes = world.service.handle(arrived)
    assert [o.action for o in outcomes] == ["retrain"]
    assert "60000 row(s)" in outcomes[0].reason
    assert data.whole == [] and data.ranges == [
        ("fam/a.parquet", len(content) - PARQUET_TAIL, len(content))
    ]
    # a blob whose event never came, found by the sweep: checked the same way
    world.data.put("fam/b.parquet", parquet(series(70_000)))
    world.service.handle(SweepTicked(world.clock.now()))
    assert data.whole == [] and [r[0] for r in data.ranges] == ["fam/a.parquet", "fam/b.parquet"]
