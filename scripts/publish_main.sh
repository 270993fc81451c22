#!/usr/bin/env bash
# Copy the small outputs of a finished main job (runs/main by default) into results/main-cpu/
# and draw its training curves there. Weights and checkpoints stay out of the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:-runs/main}
dest=${2:-results/main-cpu}
mkdir -p "$dest"
cp "$run"/{comparison.md,comparison.json,summary.json,metrics.jsonl,config.yaml} "$dest"/
cp "$run"/model/va_head.json "$dest"/
.venv/bin/python - "$dest" <<'PY'
import json, pathlib, sys
from carl.evaluation.plots import plot_training_curves
dest = pathlib.Path(sys.argv[1])
rows = [json.loads(line) for line in (dest / "metrics.jsonl").read_text().splitlines()]
print(plot_training_curves(rows, path=dest / "training_curves.png"))
PY
