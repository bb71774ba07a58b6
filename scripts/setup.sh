#!/usr/bin/env bash
# Creates .venv and installs everything gtlabel needs: Python extras and Debian's chromium.
# Usage: bash scripts/setup.sh [extras]   (default extras: local,train,runtime,pipeline,video,geo,dev)
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-local,train,runtime,pipeline,video,geo,dev}"
PY="${PYTHON:-python3}"

need_apt=()
if [[ ",$EXTRAS," == *",dev,"* ]] && ! command -v chromium >/dev/null 2>&1; then need_apt+=(chromium); fi
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo ">> apt-get install ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo ">> creating .venv"
  "$PY" -m venv .venv
fi
STAMP=".venv/.gtlabel-installed-$(cat pyproject.toml | sha1sum | cut -c1-12)-${EXTRAS//,/_}"
if [ ! -f "$STAMP" ]; then
  echo ">> pip install -e .[$EXTRAS] (first run takes a few minutes)"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  # torch/torchvision are pinned in the train extra and installed in the same resolve as ultralytics,
  # so pip never puts a bare ultralytics on top of another torch.
  .venv/bin/python -m pip install -q -e ".[$EXTRAS]"
  rm -f .venv/.gtlabel-installed-*
  touch "$STAMP"
fi
echo ">> environment ready: .venv ($EXTRAS)"
