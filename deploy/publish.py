"""Publish the retraining pipeline to Azure ML: ``python -m deploy.publish --help``.

Exit codes: 0 published (or nothing to change, or --dry-run); 1 an Azure call failed or
the workspace is not ready (e.g. the compute is missing); 2 bad arguments or a
pipeline_defs/ that cannot be published. Never prompts.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from deploy.plan import (
    DEFAULT_PIPELINE_NAME,
    FAMILY_SUFFIX,
    PIPELINE_DEFS,
    DatastorePlan,
    PlanError,
    build_plans,
    describe,
)

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.pipeline.transport import HttpTransport

logger = logging.getLogger(__name__)

ENV_SUBSCRIPTION = "AZUREML_SUBSCRIPTION_ID"
ENV_RESOURCE_GROUP = "AZUREML_RESOURCE_GROUP"
ENV_WORKSPACE = "AZUREML_WORKSPACE"

EXIT_OK, EXIT_AZURE, EXIT_USAGE = 0, 1, 2

EPILOG = f"""\
what it does, in order (each line of output is one resource: created / updated / unchanged):
  1. environment <conda name>@<hash>     from pipeline_defs/environment/conda.yml + the image
                                         the component YAMLs name
  2. code <component>_code@<hash>        each component's code folder, uploaded to the
                                         workspace's default datastore
  3. component <name>@<hash>             each pipeline_defs/components/*/*.yml
  4. pipeline-component <name>@<hash>    pipeline_defs/pipeline.yml with its steps bound to (3)
  5. batch-endpoint <endpoint>
  6. deployment <endpoint>/<deployment>  a PipelineComponentBatchDeployment of (4)
  7. default-deployment                  (6) becomes the endpoint's default
  Then the same for pipeline_defs/family_pipeline.yml (when present): the components it
  adds (the parallel fit step), pipeline-component <name>_family, batch-endpoint
  <endpoint>-family (--family-endpoint) and its deployment; shared resources once.
  Versions are content hashes, so a second run with the same files changes nothing.

workspace (flags or environment):
  --subscription    ${ENV_SUBSCRIPTION}
  --resource-group  ${ENV_RESOURCE_GROUP}
  --workspace       ${ENV_WORKSPACE}
  Credentials: DefaultAzureCredential (az login, a CI federated identity, a managed identity).

examples:
  python -m deploy.publish --dry-run
  python -m deploy.publish --subscription 0000-... --resource-group ml-rg --workspace ml-ws
  {ENV_WORKSPACE}=ml-ws python -m deploy.publish --compute gpu-cluster

exit codes: 0 done (or nothing to do), 1 an Azure call failed / workspace not ready,
            2 bad arguments or pipeline_defs/ cannot be published
"""


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(
        prog="python -m deploy.publish",
        description=(
            "Publish the retraining pipeline (pipeline_defs/) to an Azure ML workspace as a "
            "batch endpoint whose default deployment is the pipeline component. Idempotent."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    result.add_argument("--subscription", help=f"subscription id (default: ${ENV_SUBSCRIPTION})")
    result.add_argument("--resource-group", help=f"resource group (default: ${ENV_RESOURCE_GROUP})")
    result.add_argument("--workspace", help=f"Azure ML workspace name (default: ${ENV_WORKSPACE})")
    result.add_argument(
        "--endpoint", default="retrain-pipeline", help="batch endpoint name (default: %(default)s)"
    )
    result.add_argument(
        "--deployment", default="retrain", help="deployment name (default: %(default)s)"
    )
    result.add_argument(
        "--family-endpoint",
        default=None,
        help=(
            "batch endpoint of the family pipeline (default: <endpoint>"
            f"{FAMILY_SUFFIX}; the service's RETRAIN_AZUREML_FAMILY_ENDPOINT)"
        ),
    )
    result.add_argument(
        "--compute",
        default="cpu-cluster",
        help="compute cluster the pipeline steps run on; must exist (default: %(default)s)",
    )
    result.add_argument(
        "--pipeline-name",
        default=DEFAULT_PIPELINE_NAME,
        help="name of the registered pipeline component (default: %(default)s)",
    )
    result.add_argument(
        "--definitions",
        type=Path,
        default=PIPELINE_DEFS,
        metavar="DIR",
        help="folder holding pipeline.yml, components/ and environment/ (default: pipeline_defs/)",
    )
    result.add_argument(
        "--storage-account",
        help=(
            "the app's storage account: also create identity-based datastores for its data "
            "and artifact containers (see --data-datastore/--artifact-datastore)"
        ),
    )
    result.add_argument(
        "--data-container", default="data", help="data container (default: %(default)s)"
    )
    result.add_argument(
        "--artifact-container",
        default="retrain-artifacts",
        help="artifact container (default: %(default)s)",
    )
    result.add_argument(
        "--data-datastore",
        default="trainingdata",
        help="datastore name for the data container, RETRAIN_DATA_DATASTORE (default: %(default)s)",
    )
    result.add_argument(
        "--artifact-datastore",
        default="retrainartifacts",
        help=(
            "datastore name for the artifact container; set RETRAIN_ARTIFACT_DATASTORE to it "
            "(default: %(default)s)"
        ),
    )
    result.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be published, with content hashes, without contacting Azure",
    )
    result.add_argument("--verbose", action="store_true", help="log the SDK's own messages too")
    return result


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    credential: TokenCredential | None = None,
    transport: HttpTransport | None = None,
    out: TextIO | None = None,
) -> int:
    """The command. ``environ``, ``credential``, ``transport`` and ``out`` default to the
    process environment, DefaultAzureCredential, the SDK's own HTTP transport and stdout."""
    environ = os.environ if environ is None else environ
    out = sys.stdout if out is None else out
    args = parser().parse_args(argv)
    _configure_logging(args.verbose)

    try:
        plans = build_plans(
            args.definitions,
            family_endpoint=args.family_endpoint,
            endpoint=args.endpoint,
            deployment=args.deployment,
            compute=args.compute,
            pipeline_name=args.pipeline_name,
            datastores=(
                (
                    DatastorePlan(args.data_datastore, args.storage_account, args.data_container),
                    DatastorePlan(
                        args.artifact_datastore, args.storage_account, args.artifact_container
                    ),
                )
                if args.storage_account
                else ()
            ),
        )
    except PlanError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE

    if args.dry_run:
        print("dry run: nothing is sent to Azure; this run would publish", file=out)
        shown: set[str] = set()
        for plan in plans:
            for line in describe(plan):
                if line not in shown:
                    shown.add(line)
                    print(f"  {line}", file=out)
        return EXIT_OK

    missing = [
        f"--{flag} (or ${env})"
        for flag, env, value in (
            ("subscription", ENV_SUBSCRIPTION, args.subscription),
            ("resource-group", ENV_RESOURCE_GROUP, args.resource_group),
            ("workspace", ENV_WORKSPACE, args.workspace),
        )
        if not (value or environ.get(env))
    ]
    if missing:
        print(f"error: missing {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE

    from deploy.apply import Outcome, PublishError, Workspace, connect, publish

    workspace = Workspace(
        args.subscription or environ[ENV_SUBSCRIPTION],
        args.resource_group or environ[ENV_RESOURCE_GROUP],
        args.workspace or environ[ENV_WORKSPACE],
    )

    def report(outcome: Outcome) -> None:
        print(outcome.line(), file=out, flush=True)

    try:
        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        clients = connect(workspace, credential, transport)
        done: set[str] = set()
        for plan in plans:
            publish(plan, clients, report, done=done)
    except PublishError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_AZURE
    except Exception as error:  # an SDK or HTTP error: say which, without a traceback
        if not _is_azure_error(error):
            raise
        logger.debug("publish failed", exc_info=True)
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_AZURE
    return EXIT_OK


def _is_azure_error(error: Exception) -> bool:
    from azure.core.exceptions import AzureError

    if isinstance(error, AzureError):
        return True
    try:
        from azure.ai.ml.exceptions import MlException
    except ImportError:  # pragma: no cover - azure-ai-ml is a dependency
        return False
    return isinstance(error, MlException)


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s")
    if not verbose:
        # azure-ai-ml logs a notice per experimental class it loads, and azure-core one
        # line per request; the outcome lines are what a CI log needs.
        logging.getLogger("azure").setLevel(logging.ERROR)


if __name__ == "__main__":
    sys.exit(main())
