"""A Parquet data blob is checked on arrival from its footer alone (no pyarrow in the
Function App); the files here are written by pyarrow, as a team's panels are."""

from __future__ import annotations

import io
import random

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shared.datacheck import check_csv, check_data, parquet_footer
from shared.errors import InvalidData


def panel(rows: int = 5) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unique_id": (["a", "b"] * rows)[:rows],
            "timestamp": pd.date_range("2020-01-01", periods=rows, freq="MS"),
            "value": [float(i) for i in range(rows)],
        }
    )


def parquet(frame: pd.DataFrame, **options: object) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, **options)
    return buffer.getvalue()


def check(content: bytes, name: str = "fam/2024.parquet") -> int:
    return check_csv(content, name=name, time_column="timestamp", value_column="value")


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"compression": "gzip"},
        {"row_group_size": 2},
        {"use_dictionary": False, "write_statistics": False},
    ],
)
def test_a_parquet_blob_passes_with_its_row_count(options):
    assert check(parquet(panel(7), **options)) == 7
    assert (
        check_data(
            parquet(panel(3)), name="x.PARQUET", time_column="timestamp", value_column="value"
        )
        == 3
    )


def test_the_footer_gives_the_top_level_columns_even_with_nested_ones():
    table = pa.table(
        {
            "meta": pa.array([{"x": 1, "y": [1, 2]}]),
            "timestamp": pa.array(["2020-01-01"]),
            "value": [1.5],
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    footer = parquet_footer(buffer.getvalue())
    assert (footer.rows, footer.columns) == (1, ("meta", "timestamp", "value"))


def test_a_parquet_blob_without_the_value_column_or_rows_is_refused():
    with pytest.raises(InvalidData, match=r"missing column\(s\) value; columns are unique_id"):
        check(parquet(panel().rename(columns={"value": "y"})))
    with pytest.raises(InvalidData, match="no data rows"):
        check(parquet(panel().head(0)))


def test_what_is_not_a_parquet_file_is_refused_with_a_reason():
    good = parquet(panel())
    with pytest.raises(InvalidData, match="not a Parquet file"):
        check(b"timestamp,value\n2024-01-01,1\n")
    with pytest.raises(InvalidData, match="not a Parquet file"):
        check(good[: len(good) // 2])  # cut in the middle: no trailing magic
    with pytest.raises(InvalidData, match="truncated or damaged"):
        check(good[:4] + good[-8:])  # the footer length points before the file
    with pytest.raises(InvalidData, match="encrypted"):
        check(good[:-4] + b"PARE")
    with pytest.raises(InvalidData, match="only CSV and Parquet"):
        check(b"x", name="fam/2024.xlsx")


def test_a_damaged_footer_is_invalid_data_never_a_crash():
    good = parquet(panel(20))
    length = int.from_bytes(good[-8:-4], "little")
    footer_start = len(good) - 8 - length
    rng = random.Random(14)
    outcomes = set()
    for _ in range(300):
        damaged = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(footer_start, len(good) - 8)] = rng.randrange(256)
        try:
            check(bytes(damaged))
            outcomes.add("passed")
        except InvalidData:
            outcomes.add("refused")
    assert "refused" in outcomes


def test_csv_blobs_are_still_read_row_by_row():
    assert check(b"timestamp,value\n2024-01-01,1\n", name="fam/a.csv") == 1
    with pytest.raises(InvalidData, match="not a number"):
        check(b"timestamp,value\n2024-01-01,x\n", name="fam/a.csv")


def test_a_footer_of_lists_nested_thousands_deep_is_invalid_data():
    footer = b"\x19" * 5001  # a list field of lists of lists ...: Python's recursion limit
    content = b"PAR1" + footer + len(footer).to_bytes(4, "little") + b"PAR1"
    with pytest.raises(InvalidData, match="footer cannot be read"):
        parquet_footer(content, name="deep.parquet")
