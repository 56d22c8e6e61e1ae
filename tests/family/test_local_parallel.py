"""The local parallel step keeps Azure ML's parallel-run semantics: init once per worker,
run per mini-batch, per-batch timeout and retries, error thresholds, the row contract and
the appended rows; and it reuses mini-batches it has run before (shard-level reuse)."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from localdev.workspace.definition import ParallelSettings
from localdev.workspace.parallel import APPEND_ROW_FILE, ParallelFailed, ParallelRun
from localdev.workspace.zygote import ZygotePool, forking_supported

ENTRY = textwrap.dedent(
    """
    import argparse, json, os, time

    args = None

    def init():
        global args
        parser = argparse.ArgumentParser()
        parser.add_argument("--out")
        parser.add_argument("--marker")
        args, _ = parser.parse_known_args()
        if os.environ.get("FAIL_INIT"):
            raise RuntimeError("cannot start")
        open(os.path.join(args.marker, f"init-{os.getpid()}"), "w").close()

    def run(mini_batch):
        time.sleep(0.05)  # every slot takes a batch before one worker can drain the queue
        rows = []
        for name in mini_batch:
            text = open(name).read().strip()
            base = os.path.basename(name)
            if text == "raise":
                raise ValueError("bad file " + base)
            if text == "sleep":
                time.sleep(60)
            if text == "short":
                return []
            if text == "flaky":
                flag = os.path.join(args.marker, "flaky-" + base)
                if not os.path.exists(flag):
                    open(flag, "w").close()
                    raise RuntimeError("first try fails")
            with open(os.path.join(args.out, base.split(".")[0] + ".out"), "w") as out:
                out.write(text.upper())
            rows.append(json.dumps({"file": base, "text": text}))
        return rows
    """
)


def make_run(
    tmp_path: Path, pool: ZygotePool | None, files: dict[str, str], *, env=None, **overrides
) -> ParallelRun:
    """A parallel run of ENTRY over ``files``; workers forked from ``pool``'s zygote when
    it is given, fresh interpreters otherwise."""
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "entry.py").write_text(ENTRY)
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    for name, text in files.items():
        (data / name).write_text(text)
    marker = tmp_path / "marker"
    marker.mkdir(exist_ok=True)
    run_dir = tmp_path / f"run-{len(list(tmp_path.glob('run-*')))}"
    outputs = {"rows": run_dir / "rows", "out": run_dir / "out"}
    settings = ParallelSettings(
        input_data="data",
        mini_batch_size=1,
        entry_script="entry.py",
        program_arguments="",
        append_row_to="rows",
        instance_count=1,
        max_concurrency_per_instance=2,
        max_retries=1,
        timeout=30,
    )
    fields = {k: overrides.pop(k) for k in list(overrides) if hasattr(settings, k)}
    settings = ParallelSettings(**{**settings.__dict__, **fields})
    return ParallelRun(
        step="test/fit",
        settings=settings,
        code=code,
        python=sys.executable,
        program_arguments=["--out", str(outputs["out"]), "--marker", str(marker)],
        input_folder=data,
        outputs=outputs,
        static_digest="static",
        cache=tmp_path / "cache",
        log_dir=run_dir / "logs",
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        max_workers=2,
        zygotes=pool,
        **overrides,
    )


@pytest.fixture(params=["fresh", "forked"])
def pool(request, tmp_path):
    """Every semantic of the step holds with workers started afresh and forked from a
    preloaded zygote (``localdev.workspace.zygote``)."""
    if request.param == "fresh":
        yield None
        return
    if not forking_supported():
        pytest.skip("workers are forked from a zygote on Linux only")
    zygotes = ZygotePool(tmp_path / "zygotes")
    yield zygotes
    zygotes.close()


def rows_of(run: ParallelRun) -> list[dict]:
    text = (run.outputs["rows"] / APPEND_ROW_FILE).read_text()
    return [json.loads(line) for line in text.splitlines()]


GOOD = {f"shard-{i:05d}.txt": f"s{i}" for i in range(6)}


def test_workers_init_once_and_every_batch_appends_its_rows(tmp_path, pool):
    run = make_run(tmp_path, pool, GOOD)
    summary = run.run()
    assert (summary["mini_batches"], summary["ran"], summary["failed"]) == (6, 6, 0)
    assert summary["workers"] == 2
    assert len(list((tmp_path / "marker").glob("init-*"))) == 2  # once per worker
    assert [row["file"] for row in rows_of(run)] == sorted(GOOD)
    assert (run.outputs["out"] / "shard-00003.out").read_text() == "S3"
    assert len(summary["worker_peak_rss_kb"]) == 2 and min(summary["worker_peak_rss_kb"]) > 0


def test_a_failing_batch_is_retried_then_left_out_below_the_threshold(tmp_path, pool):
    run = make_run(tmp_path, pool, GOOD | {"shard-00009.txt": "raise"})
    summary = run.run()
    failed = next(b for b in run.batches if b.status == "failed")
    assert failed.attempts == 2  # the first try and max_retries = 1
    assert "ValueError: bad file shard-00009.txt" in failed.errors[-1]
    assert summary["failed"] == 1 and summary["rows"] == 6
    assert "shard-00009.txt" not in {row["file"] for row in rows_of(run)}


def test_more_failed_batches_than_the_threshold_fail_the_step(tmp_path, pool):
    run = make_run(
        tmp_path, pool, GOOD | {"shard-00009.txt": "raise"}, mini_batch_error_threshold=0
    )
    with pytest.raises(ParallelFailed, match="more than mini_batch_error_threshold 0"):
        run.run()


def test_a_batch_over_its_timeout_is_killed_and_its_worker_replaced(tmp_path, pool):
    files = {"shard-00000.txt": "sleep", "shard-00001.txt": "s1", "shard-00002.txt": "s2"}
    run = make_run(tmp_path, pool, files, timeout=1, max_retries=0, max_concurrency_per_instance=1)
    summary = run.run()
    assert "timed out after 1 s" in run.batches[0].errors[-1]
    assert summary["ran"] == 2 and summary["failed"] == 1
    assert len(list((tmp_path / "marker").glob("init-*"))) == 2  # a new worker, init again


def test_fewer_rows_than_files_is_a_failed_batch_and_a_retry_can_succeed(tmp_path, pool):
    run = make_run(tmp_path, pool, {"shard-00000.txt": "short", "shard-00001.txt": "flaky"})
    summary = run.run()
    short, flaky = run.batches
    assert short.status == "failed" and "returned 0 row(s) for 1 file(s)" in short.errors[-1]
    assert flaky.status == "ok" and flaky.attempts == 2
    assert summary["retries"] == 2


def test_init_failing_fails_the_step(tmp_path, pool):
    run = make_run(tmp_path, pool, GOOD, env={"FAIL_INIT": "1"})
    with pytest.raises(ParallelFailed, match=r"init\(\) of entry.py failed"):
        run.run()


def test_unchanged_batches_are_reused_with_their_rows_and_keyed_outputs(tmp_path, pool):
    make_run(tmp_path, pool, GOOD).run()
    changed = GOOD | {"shard-00002.txt": "new"}
    run = make_run(tmp_path, pool, changed)
    summary = run.run()
    assert (summary["reused"], summary["ran"]) == (5, 1)
    assert [b.status for b in run.batches][2] == "ok"
    assert [row["text"] for row in rows_of(run)] == [changed[name] for name in sorted(changed)]
    assert (run.outputs["out"] / "shard-00000.out").read_text() == "S0"  # restored
    assert (run.outputs["out"] / "shard-00002.out").read_text() == "NEW"


def test_batches_start_longest_expected_first_and_the_timeline_says_where_time_went(tmp_path, pool):
    """One worker: the order batches start in is the order of their expected cost (lines
    of a text file, rows of a Parquet file), the longest first; rows stay in input order."""
    files = {
        "shard-00000.txt": "s0",
        "shard-00001.txt": "s1\nmore\nmore\nmore",
        "shard-00002.txt": "s2\nmore",
    }
    run = make_run(tmp_path, pool, files, max_concurrency_per_instance=1)
    summary = run.run()
    timeline = summary["timeline"]
    started = sorted(timeline["batches"], key=lambda b: b["start"])
    assert [b["files"] for b in started] == [
        ["shard-00001.txt"],
        ["shard-00002.txt"],
        ["shard-00000.txt"],
    ]
    assert [row["file"] for row in rows_of(run)] == sorted(files)
    ((launched, ready),) = timeline["workers"].values()
    assert 0 <= launched <= ready <= started[0]["start"] <= started[0]["end"]
    assert started[-1]["end"] <= summary["wall_seconds"]


def test_the_expected_cost_of_a_parquet_shard_is_its_row_count(tmp_path):
    import pandas as pd

    from localdev.workspace.parallel import expected_cost

    small, large = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pd.DataFrame({"y": [1.0] * 50}).to_parquet(small)
    pd.DataFrame({"y": list(range(400))}, dtype=float).to_parquet(large)
    (tmp_path / "c.bin").write_bytes(b"\0" * 7)
    assert expected_cost([small]) == 50 and expected_cost([large]) == 400
    assert expected_cost([small, large]) == 450
    assert expected_cost([tmp_path / "c.bin"]) == 7  # other files: their bytes
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    assert expected_cost([tmp_path / "broken.parquet"]) == len(b"not parquet")


PRELOADED = textwrap.dedent(
    """
    import os
    open(os.path.join(os.environ["MARKER"], f"lib-{os.getpid()}"), "w").close()
    """
)

ENTRY_WITH_LIB = textwrap.dedent(
    """
    import json, os, sys, time
    import heavylib  # outside the code folder: the zygote keeps it loaded

    open(os.path.join(os.environ["MARKER"], f"entry-{os.getpid()}"), "w").close()

    def init():
        open(os.path.join(os.environ["MARKER"], f"init-{os.getpid()}"), "w").close()

    def run(mini_batch):
        # long enough that both slots get a batch: a slot starts its worker only when it
        # takes one, and a fast first worker could otherwise drain the queue alone
        time.sleep(0.25)
        return [
            json.dumps({"pid": os.getpid(), "run": os.environ.get("AZUREML_RUN_ID"),
                        "argv": sys.argv[1:]})
            for _ in mini_batch
        ]
    """
)


def _run_with_lib(tmp_path: Path, pool: ZygotePool, run_id: str) -> ParallelRun:
    lib, code, data, marker = (tmp_path / n for n in ("lib", "code", "data", "marker"))
    for folder in (lib, code, data, marker):
        folder.mkdir(exist_ok=True)
    (lib / "heavylib.py").write_text(PRELOADED)
    (code / "entry.py").write_text(ENTRY_WITH_LIB)
    for i in range(4):
        (data / f"shard-{i:05d}.txt").write_text(f"s{i}")
    run_dir = tmp_path / run_id
    return ParallelRun(
        step=f"{run_id}/fit",
        settings=ParallelSettings(
            input_data="data",
            mini_batch_size=1,
            entry_script="entry.py",
            program_arguments="",
            append_row_to="rows",
            instance_count=1,
            max_concurrency_per_instance=2,
            max_retries=0,
            timeout=30,
        ),
        code=code,
        python=sys.executable,
        program_arguments=["--run", run_id],
        input_folder=data,
        outputs={"rows": run_dir / "rows"},
        static_digest=run_id,  # no reuse between the two runs
        cache=tmp_path / "cache",
        log_dir=run_dir / "logs",
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(lib),
            "MARKER": str(marker),
            "AZUREML_RUN_ID": run_id,
        },
        max_workers=2,
        zygotes=pool,
    )


@pytest.mark.skipif(not forking_supported(), reason="workers are forked on Linux only")
def test_forked_workers_share_one_preload_and_keep_their_own_import_init_and_run(tmp_path):
    """The zygote imports what the entry script needs once, for every worker of every run
    of the step; each worker still imports the entry script itself (its own arguments and
    run variables) and calls init() once."""
    pool = ZygotePool(tmp_path / "zygotes")
    try:
        first = _run_with_lib(tmp_path, pool, "run-1")
        first.run()
        second = _run_with_lib(tmp_path, pool, "run-2")
        second.run()
    finally:
        pool.close()
    marker = tmp_path / "marker"
    pids = lambda kind: {int(p.name.split("-")[1]) for p in marker.glob(f"{kind}-*")}  # noqa: E731
    (zygote,) = pids("lib")  # imported once, in the zygote, for both runs
    workers = pids("init")
    assert len(workers) == 4 and zygote not in workers  # 2 workers per run, init once each
    assert pids("entry") == workers | {zygote}  # the entry: preloaded, then per worker again
    rows = [json.loads(line) for run in (first, second) for line in _lines(run)]
    assert {row["pid"] for row in rows} == workers
    assert {(row["run"], tuple(row["argv"])) for row in rows} == {
        ("run-1", ("--run", "run-1")),
        ("run-2", ("--run", "run-2")),
    }


@pytest.mark.skipif(not forking_supported(), reason="workers are forked on Linux only")
def test_a_zygote_that_died_is_replaced(tmp_path):
    pool = ZygotePool(tmp_path / "zygotes")
    try:
        _run_with_lib(tmp_path, pool, "run-1").run()
        for zygote in pool.zygotes():
            zygote.process.kill()
            zygote.process.wait()
        run = _run_with_lib(tmp_path, pool, "run-2")
        summary = run.run()
    finally:
        pool.close()
    assert (summary["ran"], summary["failed"]) == (4, 0) and len(_lines(run)) == 4
    assert len(list((tmp_path / "marker").glob("lib-*"))) == 2  # a second zygote preloaded


class _BrokenPool(ZygotePool):
    """Hands out a zygote that can no longer fork (its control socket is closed)."""

    def get(self, python, code, entry_script, env):
        zygote = super().get(python, code, entry_script, env)
        assert zygote is not None
        zygote.close()
        return zygote


@pytest.mark.skipif(not forking_supported(), reason="workers are forked on Linux only")
def test_workers_start_afresh_when_the_zygote_cannot_fork(tmp_path):
    pool = _BrokenPool(tmp_path / "zygotes")
    try:
        run = _run_with_lib(tmp_path, pool, "run-1")
        summary = run.run()
    finally:
        pool.close()
    assert (summary["ran"], summary["failed"]) == (4, 0) and len(_lines(run)) == 4
    # fresh interpreters import the library themselves, each once
    workers = {p.name for p in (tmp_path / "marker").glob("init-*")}
    libs = {p.name.replace("lib-", "init-") for p in (tmp_path / "marker").glob("lib-*")}
    assert workers <= libs and len(workers) == 2


def _lines(run: ParallelRun) -> list[str]:
    return (run.outputs["rows"] / APPEND_ROW_FILE).read_text().splitlines()
