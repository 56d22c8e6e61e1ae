"""A quick check of a data blob on arrival, before it can join a snapshot.

The prep step validates everything again with pandas; this check runs inside the Function
App (standard library only) so that one bad file is quarantined at once with a clear
reason instead of failing every later run of its model.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import datetime

from shared.errors import InvalidData


def check_csv(content: bytes, *, name: str, time_column: str, value_column: str) -> int:
    """Number of data rows; ``InvalidData`` naming the file, row and value when the file
    is not UTF-8 CSV with a parseable timestamp and a numeric (or empty) value per row."""
    if not name.lower().endswith(".csv"):
        raise InvalidData(f"{name}: only CSV data files are supported")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidData(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in (time_column, value_column) if c not in header]
    if missing:
        raise InvalidData(
            f"{name}: missing column(s) {', '.join(missing)}; header is "
            f"{', '.join(header) or '(empty)'}"
        )
    rows = 0
    for rows, row in enumerate(reader, start=1):
        line = rows + 1
        stamp = (row.get(time_column) or "").strip()
        try:
            datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidData(
                f"{name}: row {line}: {time_column} {stamp!r} is not an ISO-8601 timestamp"
            ) from None
        value = (row.get(value_column) or "").strip()
        if value:
            try:
                number = float(value)
            except ValueError:
                raise InvalidData(
                    f"{name}: row {line}: {value_column} {value!r} is not a number"
                ) from None
            if math.isinf(number):
                raise InvalidData(f"{name}: row {line}: {value_column} is infinite")
    if rows == 0:
        raise InvalidData(f"{name}: no data rows")
    return rows
