#!/usr/bin/env bash
# Serve your own models: installs what it needs, then keeps the local stack up (Azurite
# with its blobs under .local/serve, the local Functions host on port 7071, the local
# Azure ML workspace) until Ctrl-C. Settings: local.settings.json (made from
# local.settings.example.json on first use). Options: scripts/serve.sh --help
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/ensure-env.sh
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
exec .venv/bin/python -m localdev.serve "$@"
