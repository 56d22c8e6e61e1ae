#!/usr/bin/env bash
# The demo: installs what it needs, then runs the whole retraining loop on the local
# stack (Azurite, the local Functions host, the local Azure ML workspace).
# Extra arguments go to the demo, see: scripts/demo.sh --help
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/ensure-env.sh
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
exec .venv/bin/python -m localdev.demo "$@"
