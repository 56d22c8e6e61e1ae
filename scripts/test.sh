#!/usr/bin/env bash
# The test command: installs what it needs, then runs the checks and the whole suite
# (unit, functions contract, integration on Azurite, pipeline, end to end).
# Extra arguments go to pytest, e.g. scripts/test.sh -k policy
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RETRAIN_ENSURE_BROWSER=1 bash scripts/ensure-env.sh

echo "==> ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "==> mypy"
.venv/bin/mypy function_app.py functions shared localdev retrainctl deploy bench pipeline_defs/components/*/src
echo "==> pytest"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
.venv/bin/python -m pytest -n 2 "$@"
