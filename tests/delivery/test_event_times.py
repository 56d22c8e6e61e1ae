"""The worker's Event Grid converter reads event times as before once the Function App
keeps more compiled ``strptime`` formats (``functions/_delivery.py``)."""

from __future__ import annotations

import _strptime
import json
from datetime import UTC, datetime

import pytest
from azure.functions import EventGridEvent, meta
from azure.functions.eventgrid import EventGridEventInConverter

from functions._delivery import STRPTIME_FORMATS_KEPT, keep_strptime_formats


def decode_time(event_time: str) -> datetime | None:
    event = {
        "id": "e1",
        "topic": "t",
        "subject": "s",
        "eventType": "Microsoft.Storage.BlobCreated",
        "eventTime": event_time,
        "data": {},
        "dataVersion": "",
    }
    decoded = EventGridEventInConverter.decode(
        meta.Datum(json.dumps(event), "json"), trigger_metadata=None
    )
    assert isinstance(decoded, EventGridEvent)
    return decoded.event_time


def test_the_app_keeps_enough_formats_for_the_converter_and_never_fewer():
    assert _strptime._CACHE_MAX_SIZE >= STRPTIME_FORMATS_KEPT  # set on import of the app
    keep_strptime_formats(1)
    assert _strptime._CACHE_MAX_SIZE >= STRPTIME_FORMATS_KEPT


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01T00:00:00.1234567Z", datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)),
        ("2026-01-01T00:00:00Z", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01T00:00:00.5+00:00", datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)),
        ("01/02/2026 03:04:05Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-01T00:00:00.25", datetime(2026, 1, 1, 0, 0, 0, 250000)),
    ],
)
def test_event_times_read_the_same_with_every_format_kept(text: str, expected: datetime):
    # each format the converter tries in turn, many times over: the same answer each time
    for _ in range(3):
        assert decode_time(text) == expected


def test_an_unreadable_event_time_is_still_refused():
    with pytest.raises(ValueError):
        decode_time("tomorrow")
