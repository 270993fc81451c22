#!/usr/bin/env bash
# The main job of the README: set up, train CARL on EmoBank + Facebook-VA with the embedded
# MiniLM (CPU preset), evaluate, print CARL beside the frozen encoder. Extra arguments go to `carl run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export CARL_DATA_DIR=${CARL_DATA_DIR:-../shared/data}
exec .venv/bin/carl run "$@"
