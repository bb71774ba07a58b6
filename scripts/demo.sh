#!/usr/bin/env bash
# Sets up everything and runs the end-to-end demo on the local Ground-Truth-compatible service.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh local,train,pipeline,video,geo,dev 2>&1 | grep -v "^WARNING: Location" || true
exec .venv/bin/gtlabel demo "$@"
