#!/usr/bin/env bash
# The test command of the README (and of CI): set up, then run the whole suite.
# Data: $CARL_DATA_DIR (CI: ../shared/data). pytest's exit code 5 (no tests ran) is a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh || exit 1
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export CARL_DATA_DIR=${CARL_DATA_DIR:-../shared/data}
.venv/bin/python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "scripts/test.sh: pytest collected no tests; failing" >&2
  exit 1
fi
exit "$rc"
