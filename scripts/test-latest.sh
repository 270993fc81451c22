#!/usr/bin/env bash
# Drift check: install the NEWEST versions pyproject.toml allows (not requirements/lock.txt) into a fresh
# virtual environment and run the command-line tests there, so that a release that breaks carl shows up
# as a named failing test here, not as a user's traceback. It prints which versions differ from the lock
# first. torch stays the lock's CPU build (the newest torch on PyPI is a multi-GB CUDA build; set
# CARL_TORCH_SPEC=torch to take it anyway). Extra arguments go to pytest; CARL_LATEST_TESTS replaces
# the test files. How often to run it and what to do when it fails: CONTRIBUTING.md.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
LOCK=requirements/lock.txt
venv=${CARL_LATEST_VENV:-.venv-latest}
TORCH_SPEC=${CARL_TORCH_SPEC:-$(grep -m1 -E '^torch==' "$LOCK" | cut -d' ' -f1)}
read -r -a tests <<< "${CARL_LATEST_TESTS:-tests/test_cli_usage.py tests/test_cli.py}"

rm -rf "$venv"
"$PYTHON" -m venv "$venv" || exit 1
"$venv/bin/python" -m pip install --quiet --upgrade pip || exit 1
"$venv/bin/python" -m pip install --quiet "$TORCH_SPEC" || exit 1
# No -c: every other package at the newest version its range (and its dependants') allows.
if ! "$venv/bin/python" -m pip install --quiet -e ".[dev]"; then
  echo "scripts/test-latest.sh: the newest allowed versions do not install together (see pip's message above)" >&2
  exit 1
fi

echo "scripts/test-latest.sh: versions that differ from $LOCK:"
"$venv/bin/python" - "$LOCK" <<'PY'
import re, sys
from importlib import metadata

def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()

locked = {}
for line in open(sys.argv[1]):
    pin = re.match(r"([A-Za-z0-9_.-]+)==([^\s;]+)", line)
    if pin:
        locked[canonical(pin[1])] = pin[2]
installed = {canonical(d.metadata["Name"]): d.version for d in metadata.distributions() if d.metadata["Name"]}
drift = [f"  {name} {locked.get(name, '(not in the lock)')} -> {version}"
         for name, version in sorted(installed.items())
         if name not in ("carl-affect", "pip") and locked.get(name) != version.split("+")[0]]
drift += [f"  {name} {version} -> (not installed)" for name, version in sorted(locked.items()) if name not in installed]
print("\n".join(drift) if drift else "  none: the lock is the newest allowed")
PY

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export CARL_DATA_DIR=${CARL_DATA_DIR:-../shared/data}
"$venv/bin/python" -m pytest -n "${CARL_TEST_WORKERS:-2}" --dist loadfile "${tests[@]}" "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "scripts/test-latest.sh: pytest collected no tests; failing" >&2
  exit 1
fi
exit "$rc"
