#!/usr/bin/env bash
# Set up .venv with everything carl needs, at the versions of requirements/lock.txt: what CI tested,
# not whatever was released since (pyproject.toml keeps ranges for people who depend on carl).
# Idempotent: a second run only checks; it installs again when pyproject.toml, the lock or the torch
# build changed. torch is installed first and pinned, so that no dependency pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
LOCK=requirements/lock.txt
# The lock's torch version; the CPU build is the one pip finds first where it is set up as in the README.
TORCH_SPEC=${CARL_TORCH_SPEC:-$(grep -m1 -E '^torch==' "$LOCK" | cut -d' ' -f1)}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.carl-installed
wanted="$(cat pyproject.toml "$LOCK" | sha256sum | cut -d' ' -f1) $TORCH_SPEC"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet "$TORCH_SPEC"
  .venv/bin/python -m pip install --quiet -c "$LOCK" -e ".[dev]"
  echo "$wanted" > "$stamp"
fi
