#!/usr/bin/env bash
# Sets up everything (venv, extras, Debian chromium) and runs ruff, mypy, import-linter and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh local,train,pipeline,dev 2>&1 | grep -v "^WARNING: Location" || true
test -x .venv/bin/python
export PATH="$PWD/.venv/bin:$PATH"
echo ">> ruff"; ruff check src tests bench
echo ">> mypy (strict)"; mypy
echo ">> import-linter (layer contracts)"; lint-imports --no-cache --no-logo
# in parallel (pytest-xdist): PYTEST_XDIST_AUTO_NUM_WORKERS processes (default 3: most tests wait on servers and
# subprocesses, so one more worker than the 2 cores keeps both busy); tests sharing an expensive fixture run on one
# worker (--dist loadgroup; the groups are made in tests/conftest.py). Pass -n 0 to run in one process.
export PYTEST_XDIST_AUTO_NUM_WORKERS="${PYTEST_XDIST_AUTO_NUM_WORKERS:-3}"
echo ">> pytest"; python -m pytest -q -n auto --dist loadgroup "$@"
