"""The local workspace reads parallel jobs as Azure ML does, and refuses clearly what it
cannot run locally."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from localdev.workspace import load_pipeline
from shared.errors import PipelineError

PIPELINE = """
type: pipeline
inputs:
  data:
    type: uri_folder
    path: ./data
  budget: 5
jobs:
  fit:
    type: parallel
    inputs:
      shards: ${{parent.inputs.data}}
      budget: ${{parent.inputs.budget}}
      earlier: ${{parent.inputs.earlier}}
    outputs:
      rows: {}
    input_data: ${{inputs.shards}}
    mini_batch_size: "3"
    resources:
      instance_count: 2
    max_concurrency_per_instance: 3
    retry_settings:
      max_retries: 4
      timeout: 90
    mini_batch_error_threshold: 1
    logging_level: debug
    task:
      type: run_function
      code: ./src
      entry_script: entry.py
      program_arguments: --budget ${{inputs.budget}} $[[--earlier ${{inputs.earlier}}]]
      append_row_to: ${{outputs.rows}}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipeline.yml"
    path.write_text(textwrap.dedent(text))
    return path


def test_an_inline_parallel_job_is_read_with_its_run_settings(tmp_path):
    step = load_pipeline(write(tmp_path, PIPELINE)).steps[0]
    settings = step.component.parallel
    assert settings is not None
    assert (settings.input_data, settings.mini_batch_size, settings.append_row_to) == (
        "shards",
        3,
        "rows",
    )
    assert (settings.instance_count, settings.max_concurrency_per_instance) == (2, 3)
    assert (settings.max_retries, settings.timeout, settings.mini_batch_error_threshold) == (
        4,
        90.0,
        1,
    )
    assert settings.logging_level == "DEBUG"
    assert step.component.code == (tmp_path / "src").resolve()
    inputs = step.component.inputs
    assert inputs["shards"].type == "uri_folder" and inputs["budget"].type == "number"
    assert inputs["earlier"].type == "uri_folder" and inputs["earlier"].optional


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('mini_batch_size: "3"', "mini_batch_size: 10kb"), "must be a number of files"),
        (('mini_batch_size: "3"', "partition_keys: [store]"), "partition_keys needs an mltable"),
        (("entry_script: entry.py", "entry_script: ''"), "task has no entry_script"),
        (("input_data: ${{inputs.shards}}", "input_data: ${{inputs.other}}"), "input_data must"),
        (("append_row_to: ${{outputs.rows}}", "append_row_to: rows.txt"), "append_row_to must"),
        (("--budget ${{inputs.budget}}", "--budget ${{inputs.nope}}"), "inputs.nope"),
        (
            (" $[[--earlier ${{inputs.earlier}}]]", " --earlier ${{inputs.earlier}}"),
            "optional input 'earlier' must be used inside $[[ ... ]]",
        ),
    ],
)
def test_what_cannot_run_locally_is_refused_with_the_reason(tmp_path, change, message):
    old, new = change
    assert old in PIPELINE
    with pytest.raises(PipelineError, match=message.replace("$", r"\$").replace("[", r"\[")):
        load_pipeline(write(tmp_path, PIPELINE.replace(old, new)))
