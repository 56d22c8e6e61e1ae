"""The local workspace: a stand-in for Azure ML that runs the pipeline YAML for real.

Local-only (it never ships in the Function App package): ``definition`` parses the
pipeline and component YAML into typed values, ``plan`` resolves a submission into step
bindings, rendered commands and reuse fingerprints, ``runner`` is ``LocalWorkspace``, the
``PipelineClient`` the local backend uses (steps as subprocesses, outputs to Azurite,
Azure ML run events on completion).
"""

from localdev.workspace.definition import (
    LiteralBinding,
    ParentInput,
    PipelineDefinition,
    StepOutput,
    load_pipeline,
)
from localdev.workspace.plan import render_command
from localdev.workspace.runner import LocalWorkspace, RunFailed, experiment_id

__all__ = [
    "LiteralBinding",
    "LocalWorkspace",
    "ParentInput",
    "PipelineDefinition",
    "RunFailed",
    "StepOutput",
    "experiment_id",
    "load_pipeline",
    "render_command",
]
