#!/usr/bin/env bash
# Installs what the project needs, once: a virtual environment in .venv/ with
# requirements-dev.txt, and the npm packages (Azurite). Re-installs only when
# requirements*.txt or package-lock.json change; and Debian's Chromium for the dashboard's
# browser tests (tests/browser/), for the test command, when it is missing and this runs as root (elsewhere those
# tests skip and say why). Sourced by demo.sh and test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python_bin=""
for candidate in python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 \
    && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 11))'; then
    python_bin=$candidate
    break
  fi
done
if [ -z "$python_bin" ]; then
  echo "error: Python 3.11 or newer is needed (python3.11 or python3 on PATH)" >&2
  exit 1
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "error: Node.js with npm is needed for Azurite (the local Blob storage)" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $python_bin"
  "$python_bin" -m venv .venv
fi
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat .venv/.requirements.sha256 2>/dev/null)" != "$want" ]; then
  echo "==> installing Python packages into .venv (first run takes a minute or two)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  echo "$want" > .venv/.requirements.sha256
fi

want_npm=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.package-lock.sha256 2>/dev/null)" != "$want_npm" ]; then
  echo "==> installing npm packages (Azurite)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want_npm" > node_modules/.package-lock.sha256
fi

# Only the test command asks for it (RETRAIN_ENSURE_BROWSER=1); the demo and serve do not.
if [ "${RETRAIN_ENSURE_BROWSER:-0}" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Chromium (Debian's package) for the dashboard's browser tests"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq chromium >/dev/null; }; then
      echo "warning: Chromium could not be installed; the browser tests will skip" >&2
    fi
  else
    echo "note: no /usr/bin/chromium (apt-get install -y chromium as root);" \
      "the browser tests will skip" >&2
  fi
fi
