#!/usr/bin/env bash
# The test command of the README (and of CI): set up, then run the whole suite.
# Data: $CARL_DATA_DIR (CI: ../shared/data). pytest's exit code 5 (no tests ran) is a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh || exit 1
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export CARL_DATA_DIR=${CARL_DATA_DIR:-../shared/data}
# Two worker processes (CARL_TEST_WORKERS; 0 runs in this process): waits for subprocesses, servers and
# the browser overlap. --dist loadfile keeps each file in one worker: test_distributed.py's fixed ports
# and test_docs.py's shared working folder stay with one process.
.venv/bin/python -m pytest -n "${CARL_TEST_WORKERS:-2}" --dist loadfile "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "scripts/test.sh: pytest collected no tests; failing" >&2
  exit 1
fi
exit "$rc"
