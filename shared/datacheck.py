"""A quick check of a data blob on arrival, before it can join a snapshot.

The prep step validates everything again with pandas; this check runs inside the Function
App (standard library only) so that one bad file is quarantined at once with a clear
reason instead of failing every later run of its model.

- **CSV** (``.csv``): every row is read: UTF-8, a header naming the time and value
  columns, a parseable ISO-8601 timestamp and a numeric (or empty) value per row.
- **Parquet** (``.parquet``): pyarrow is not in the Function App (it is a large wheel for
  a check), so only the file's frame and footer are read, by hand: the ``PAR1`` magic at
  both ends, a footer length that fits in the file, and the footer itself (Thrift compact
  protocol, :func:`parquet_footer`): the number of rows (at least one) and the top-level
  column names (the time and value columns must be among them). The values themselves
  (types, timestamps that parse, numbers) are checked by prep, which reads the file with
  pyarrow; a file that passes here but fails there fails its run with prep's reason.
  Encrypted footers (``PARE``) are refused. On arrival a Parquet blob is not read whole
  (:func:`check_blob`): its last 64 KiB (one ranged read, which holds the footer of most
  files), then, when the footer is longer, the rest of the footer; the leading ``PAR1`` is
  checked only when those reads reach the start of the file.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from shared.errors import InvalidData

SUPPORTED = (".csv", ".parquet")
PARQUET_MAGIC = b"PAR1"
PARQUET_ENCRYPTED_MAGIC = b"PARE"
PARQUET_TAIL = 64 * 1024  # read first from the end of a Parquet blob
MAX_PARQUET_FOOTER = 64 * 1024 * 1024  # a longer footer is not read on arrival

# read(start, end) -> (bytes start..end cut to the blob's size, the blob's size)
ReadRange = Callable[[int, int], tuple[bytes, int]]


def check_blob(
    name: str,
    *,
    read: Callable[[], bytes],
    read_range: ReadRange | None,
    size: int | None,
    time_column: str,
    value_column: str,
) -> tuple[int, bytes]:
    """Check a data blob as it is stored: the number of data rows and the bytes read (the
    whole file for CSV, which is read row by row; nothing for Parquet, whose footer is read
    by ranges when ``read_range`` is given: :func:`check_parquet_ranged`). ``size``: the
    blob's size as its event says (a guess: a wrong one costs one more read)."""
    if name.lower().endswith(".parquet") and read_range is not None:
        rows = check_parquet_ranged(
            read_range, name=name, size=size, time_column=time_column, value_column=value_column
        )
        return rows, b""
    content = read()
    return check_data(
        content, name=name, time_column=time_column, value_column=value_column
    ), content


def check_parquet_ranged(
    read_range: ReadRange, *, name: str, size: int | None, time_column: str, value_column: str
) -> int:
    """:func:`check_parquet` reading only the end of the file: the last ``PARQUET_TAIL``
    bytes, then the part of the footer they miss (a footer longer than
    ``MAX_PARQUET_FOOTER`` is refused rather than read). A file no longer than the tail is
    read whole and checked as :func:`check_parquet` does, leading ``PAR1`` included."""
    guess = size if size is not None and size > 0 else PARQUET_TAIL
    tail, total = read_range(max(0, guess - PARQUET_TAIL), guess)
    if total != guess or len(tail) < min(total, PARQUET_TAIL):
        # the event's size was not the blob's: read the tail of the blob as it is
        tail, total = read_range(max(0, total - PARQUET_TAIL), total)
    if len(tail) >= total:  # the whole file
        return check_parquet(tail, name=name, time_column=time_column, value_column=value_column)
    length = _footer_length(tail, total, name=name)
    if length > MAX_PARQUET_FOOTER:
        raise InvalidData(
            f"{name}: a Parquet footer of {length} bytes; at most {MAX_PARQUET_FOOTER} are "
            "read on arrival"
        )
    if length + 8 > len(tail):
        start = total - 8 - length
        head, _ = read_range(start, total - len(tail))
        tail = head + tail
        if len(tail) != length + 8:
            raise InvalidData(f"{name}: the Parquet blob changed while its footer was read")
    footer = _read_footer(tail[len(tail) - 8 - length : -8], name=name)
    return _checked(footer, name=name, time_column=time_column, value_column=value_column)


def check_data(content: bytes, *, name: str, time_column: str, value_column: str) -> int:
    """Number of data rows; ``InvalidData`` naming the file and the problem. CSV is read
    row by row (:func:`check_csv`); Parquet by its footer (:func:`check_parquet`)."""
    lower = name.lower()
    if lower.endswith(".parquet"):
        return check_parquet(content, name=name, time_column=time_column, value_column=value_column)
    if not lower.endswith(".csv"):
        raise InvalidData(f"{name}: only CSV and Parquet data files are supported")
    return _check_csv(content, name=name, time_column=time_column, value_column=value_column)


def check_csv(content: bytes, *, name: str, time_column: str, value_column: str) -> int:
    """:func:`check_data` under its first name (the arrival path calls it for every data
    blob, so it checks Parquet blobs too)."""
    return check_data(content, name=name, time_column=time_column, value_column=value_column)


def _check_csv(content: bytes, *, name: str, time_column: str, value_column: str) -> int:
    """Number of data rows; ``InvalidData`` naming the file, row and value when the file
    is not UTF-8 CSV with a parseable timestamp and a numeric (or empty) value per row."""
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


# --------------------------------------------------------------------------- Parquet


@dataclass(frozen=True)
class ParquetFooter:
    """What the arrival check reads of a Parquet footer."""

    rows: int
    columns: tuple[str, ...]  # top-level column names, in file order


def check_parquet(content: bytes, *, name: str, time_column: str, value_column: str) -> int:
    """Number of rows of a Parquet file, from its footer; ``InvalidData`` when it is not a
    readable (unencrypted) Parquet file, lacks the time or value column, or has no rows."""
    footer = parquet_footer(content, name=name)
    return _checked(footer, name=name, time_column=time_column, value_column=value_column)


def _checked(footer: ParquetFooter, *, name: str, time_column: str, value_column: str) -> int:
    missing = [c for c in (time_column, value_column) if c not in footer.columns]
    if missing:
        raise InvalidData(
            f"{name}: missing column(s) {', '.join(missing)}; columns are "
            f"{', '.join(footer.columns) or '(none)'}"
        )
    if footer.rows <= 0:
        raise InvalidData(f"{name}: no data rows")
    return footer.rows


def parquet_footer(content: bytes, *, name: str = "file") -> ParquetFooter:
    """The row count and top-level columns of a Parquet file: ``<data> <footer>
    <footer length: 4 bytes little-endian> PAR1``, the file starting with ``PAR1`` too; the
    footer is a Thrift compact-protocol ``FileMetaData`` (field 2: the schema, a flattened
    tree of ``SchemaElement``; field 3: ``num_rows``)."""
    size = len(content)
    if size >= 4 and content[-4:] == PARQUET_ENCRYPTED_MAGIC:
        raise InvalidData(f"{name}: an encrypted Parquet file; only plain Parquet is supported")
    if size < 12 or content[:4] != PARQUET_MAGIC or content[-4:] != PARQUET_MAGIC:
        raise InvalidData(
            f"{name}: not a Parquet file ({size} bytes; a Parquet file starts and ends with "
            "PAR1); only CSV and Parquet data files are supported"
        )
    length = _footer_length(content, size, name=name)
    return _read_footer(content[-8 - length : -8], name=name)


def _footer_length(tail: bytes, size: int, *, name: str) -> int:
    """The footer length a Parquet file's last 8 bytes give (``tail`` ends the file of
    ``size`` bytes), checked against the file's frame."""
    if tail[-4:] == PARQUET_ENCRYPTED_MAGIC:
        raise InvalidData(f"{name}: an encrypted Parquet file; only plain Parquet is supported")
    if size < 12 or tail[-4:] != PARQUET_MAGIC:
        raise InvalidData(
            f"{name}: not a Parquet file ({size} bytes; a Parquet file starts and ends with "
            "PAR1); only CSV and Parquet data files are supported"
        )
    length = int.from_bytes(tail[-8:-4], "little")
    if length <= 0 or length > size - 12:
        raise InvalidData(
            f"{name}: a truncated or damaged Parquet file (footer of {length} bytes in a "
            f"file of {size})"
        )
    return length


def _read_footer(footer: bytes, *, name: str) -> ParquetFooter:
    try:
        metadata = _CompactReader(footer).struct(stop_after=3)
    except (IndexError, ValueError, RecursionError) as exc:
        raise InvalidData(f"{name}: the Parquet footer cannot be read ({exc})") from None
    schema, rows = metadata.get(2), metadata.get(3)
    if not isinstance(schema, list) or not schema or not isinstance(rows, int):
        raise InvalidData(f"{name}: the Parquet footer has no schema or row count")
    return ParquetFooter(rows, _top_level_columns(schema))


def _top_level_columns(schema: list[object]) -> tuple[str, ...]:
    """The root's children in a depth-first flattened schema (a group's ``num_children``,
    field 5, says how many elements follow it as its children)."""
    elements = [e if isinstance(e, dict) else {} for e in schema]

    def children(index: int) -> int:
        count = elements[index].get(5)
        return count if isinstance(count, int) and count > 0 else 0

    names: list[str] = []
    index = 1
    while index < len(elements):
        raw = elements[index].get(4)
        names.append(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else "")
        pending = 1  # subtrees left to pass over: this column's, then its children's
        while pending and index < len(elements):
            pending += children(index) - 1
            index += 1
    return tuple(names)


class _CompactReader:
    """Just enough of Thrift's compact protocol to read a struct into ``{field id:
    value}`` (structs as dicts, lists as lists, binaries as bytes, integers as int)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0
        self.depth = 0

    def byte(self) -> int:
        value = self.data[self.at]
        self.at += 1
        return value

    def varint(self) -> int:
        shift = result = 0
        while True:
            byte = self.byte()
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7
            if shift > 70:
                raise ValueError("varint too long")

    def zigzag(self) -> int:
        raw = self.varint()
        return (raw >> 1) ^ -(raw & 1)

    def value(self, kind: int) -> object:
        if kind in (1, 2):  # booleans (in a struct the type carries the value)
            return kind == 1
        if kind == 3:
            return self.byte()
        if kind in (4, 5, 6):
            return self.zigzag()
        if kind == 7:
            self.at += 8
            if self.at > len(self.data):
                raise IndexError("double past the end")
            return None
        if kind == 8:
            length = self.varint()
            start, self.at = self.at, self.at + length
            if self.at > len(self.data):
                raise IndexError("binary past the end")
            return self.data[start : self.at]
        if kind in (9, 10):
            header = self.byte()
            count, element = header >> 4, header & 0x0F
            if count == 15:
                count = self.varint()
            if element in (1, 2):  # booleans in a list are one byte each
                return [self.byte() == 1 for _ in range(count)]
            return [self.value(element) for _ in range(count)]
        if kind == 11:
            count = self.varint()
            if count:
                types = self.byte()
                for _ in range(count):
                    self.value(types >> 4)
                    self.value(types & 0x0F)
            return None
        if kind == 12:
            return self.struct()
        raise ValueError(f"unknown Thrift compact type {kind}")

    def struct(self, stop_after: int | None = None) -> dict[int, object]:
        """A struct's fields; with ``stop_after``, stops once past that field id (the rest
        of the footer, row groups and column statistics, is not needed)."""
        self.depth += 1
        if self.depth > 32:
            raise ValueError("structs nested too deep")
        fields: dict[int, object] = {}
        field = 0
        while True:
            header = self.byte()
            if header == 0:
                break
            kind, delta = header & 0x0F, header >> 4
            field = field + delta if delta else self.zigzag()
            if stop_after is not None and field > stop_after:
                break
            fields[field] = self.value(kind)
        self.depth -= 1
        return fields
