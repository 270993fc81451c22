#!/usr/bin/env bash
# SetFit beside carl (issue 38, part 1): install setfit into a folder of its own, used on top of carl's venv.
#
#   bash scripts/setfit_env.sh [SITE]          # default SITE: $CARL_SETFIT_SITE, else /tmp/carl-setfit/site
#
# setfit 1.2.0 asks for sentence-transformers[train]>=3, transformers>=4.41, datasets>=2.15,
# huggingface_hub>=0.24, scikit-learn and evaluate>=0.4.6. carl's venv already holds every one of
# them at versions that satisfy those bounds (sentence-transformers 6, transformers 5, datasets 5,
# huggingface_hub 2) except evaluate, whose own requirements it holds too; setfit 1.2.0 supports
# transformers 5 (it maps warmup_ratio to v5's warmup_steps). So nothing clashes, and no second
# torch is needed: the two packages go, without dependencies, into SITE, and
# scripts/setfit_union.py puts SITE on sys.path (PYTHONPATH works too). carl's venv is not touched.
set -euo pipefail
cd "$(dirname "$0")/.."
SITE="${1:-${CARL_SETFIT_SITE:-/tmp/carl-setfit/site}}"
PY="${PYTHON:-.venv/bin/python}"
"$PY" -m pip install --quiet --no-deps --target "$SITE" "setfit==1.2.0" "evaluate==0.4.6"
PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}" "$PY" - <<'EOF'
import evaluate, sentence_transformers, setfit, torch, transformers
from setfit import SetFitModel, Trainer, TrainingArguments  # noqa: F401  (the script's imports resolve)
print(f"setfit {setfit.__version__}, evaluate {evaluate.__version__} on sentence-transformers "
      f"{sentence_transformers.__version__}, transformers {transformers.__version__}, torch {torch.__version__}")
EOF
echo "SetFit site: $SITE (scripts/setfit_union.py --setfit-site $SITE, or CARL_SETFIT_SITE=$SITE)"
