"""``bench/family_finalise.py`` runs (small) on Azurite and shows what it is for: the
same storage requests for every finalisation of a family, whatever its age."""

from __future__ import annotations

import pytest

from bench.family_finalise import main
from shared.service.family_history import bucket_of

pytestmark = pytest.mark.azurite


def test_the_bench_prints_flat_requests_per_finalisation(capsys):
    assert main(["--series", "12", "--runs", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "12 series, 3 runs, each moving every series (Azurite)"
    rows = [line.split() for line in lines[2:]]
    assert [row[0] for row in rows] == ["1", "2", "3"]
    # requests per finalisation, of which the series' history (one per bucket of series;
    # the move's pending marker is one create and one delete)
    buckets = len({bucket_of(f"s{i:05d}") for i in range(12)})
    assert {(row[2], row[3]) for row in rows} == {(str(13 + buckets), str(buckets))}
    # one series' page: the pointer document and one read per entry
    assert [row[4] for row in rows] == ["2", "3", "4"]
