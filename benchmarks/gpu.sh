#!/usr/bin/env bash
# One prepared benchmark run for a lent GPU machine (H100 / H200). See benchmarks/README.md, "GPU".
#
# The GPU machine has no network and no copy of the repo's .venv. It does have python3 with
# torch, transformers, sentence-transformers, accelerate, numpy, scipy, scikit-learn, pandas,
# pyyaml, tqdm and psutil (see the device docs' package list), which is all that carl and
# these scripts import; carl itself runs from src/ via PYTHONPATH, nothing is installed.
# The encoders' weights (90 / 440 MB) cannot travel (64 MiB limit), so the encoders are built
# from benchmarks/assets/{minilm,mpnet} (architecture + tokenizer) with random weights:
# the same cost per step as the pretrained ones. benchmarks/assets/ is git-ignored; build it
# here with `python benchmarks/prepare_assets.py` and carry it:
#
#   device run:  command "bash benchmarks/gpu.sh", carry ["benchmarks/assets"], timeout_s 600
#
# Writes $OUT/gpu.log, $OUT/summary.md (all Markdown reports) and $OUT/gpu-results.tar.gz
# (every JSON + Markdown report; unpack into benchmarks/results/). Expected wall time on an
# H100: about 5-6 minutes (each step is budgeted with `timeout`, the run never exceeds ~9 min).
#
# Dry run on a CPU (tiny sizes, checks the plumbing only):
#   OUT=/tmp/gpu-dry GPU_BENCH_DEVICE=cpu GPU_BENCH_QUICK=1 PYTHON=.venv/bin/python bash benchmarks/gpu.sh
set -uo pipefail
cd "$(dirname "$0")/.."

OUT="${OUT:-/tmp/carl-gpu-out}"
PY="${PYTHON:-python3}"
DEVICE="${GPU_BENCH_DEVICE:-cuda}"
WEIGHTS="${GPU_BENCH_WEIGHTS:-auto}"     # auto: pretrained where a local copy exists, else random init
QUICK="${GPU_BENCH_QUICK:-0}"
# Which steps to run (names below); step_cost_mpnet_compile (torch.compile'd encoders, up to 4 min of
# compilation) is not in the default set: run it alone in a second call, GPU_BENCH_STEPS=step_cost_mpnet_compile.
STEPS_WANTED=" ${GPU_BENCH_STEPS:-step_cost_mpnet step_cost_minilm throughput embed_mpnet} "
BATCH="${GPU_BENCH_BATCH:-64}"
SEQ="${GPU_BENCH_SEQ:-128}"
RES="$(mktemp -d /tmp/carl-gpu-results.XXXX)"   # outside $OUT: at most 8 files come back from $OUT
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
       PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_DISABLE_PROGRESS_BARS=1
exec > >(tee -a "$OUT/gpu.log") 2>&1

START=$(date +%s)
echo "== carl GPU benchmarks $(date -u +%FT%TZ) on $(hostname); device=$DEVICE quick=$QUICK weights=$WEIGHTS steps:$STEPS_WANTED"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,utilization.gpu --format=csv
"$PY" - <<'EOF' || { echo "FATAL: python environment unusable"; exit 3; }
import importlib, sys
import torch
print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda,
      "available", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
for name in ("transformers", "sentence_transformers", "accelerate", "yaml", "numpy", "sklearn", "psutil", "carl"):
    try:
        m = importlib.import_module(name)
        print(f"  {name} {getattr(m, '__version__', '?')}")
    except ImportError as exc:
        print(f"  MISSING {name}: {exc}")
        if name != "psutil":
            sys.exit(1)
EOF
if [ "$DEVICE" = cuda ] && ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "FATAL: no CUDA device visible"; exit 3
fi
for f in benchmarks/assets/mpnet/config.json benchmarks/assets/minilm/config.json benchmarks/assets/emobank_sample.csv; do
  [ -f "$f" ] || { echo "FATAL: $f missing: run 'python benchmarks/prepare_assets.py' here and carry benchmarks/assets"; exit 3; }
done

if [ "$QUICK" = 1 ]; then
  SIZE=(--quick); PREC=(--precision fp32); [ "$DEVICE" = cuda ] && PREC=(--precision bf16)
  ROUNDS=(--warmup 0 --rounds 1); STEPS=(--warmup 0 --steps 1); EMBED=(--embed-texts 64 --embed-repeats 2)
else
  SIZE=(--batch-size "$BATCH"); PREC=(--precision bf16)
  ROUNDS=(--warmup 10 --rounds 40); STEPS=(--warmup 5 --steps 40); EMBED=(--embed-texts 4096 --embed-repeats 8)
fi
declare -A STATUS

run() {  # run NAME SECONDS CMD...: a bounded step; a failure or timeout is logged, the rest goes on
  local name=$1 limit=$2; shift 2
  case "$STEPS_WANTED" in *" $name "*) ;; *) echo "== [$name] not in GPU_BENCH_STEPS, skipped"; return ;; esac
  echo; echo "== [$name] (limit ${limit}s, $(( $(date +%s) - START ))s elapsed): $*"
  timeout --signal=INT --kill-after=15 "$limit" "$@"
  local rc=$?
  STATUS[$name]=$rc
  echo "== [$name] exit $rc"
}

# 1. Step cost, base size (the issue's headline): CARL vs supervised vs SimCSE, phases, pgd=3, no PTD, no finite check.
SEQARG=(--seq-len "$SEQ"); [ "$QUICK" = 1 ] && SEQARG=()
run step_cost_mpnet 190 "$PY" benchmarks/step_cost.py --model mpnet --weights "$WEIGHTS" --device "$DEVICE" \
    "${PREC[@]}" "${SIZE[@]}" "${SEQARG[@]}" "${ROUNDS[@]}" --out "$RES/step_cost_mpnet_${DEVICE}"
# 2. Same for the small encoder (launch-overhead regime).
run step_cost_minilm 100 "$PY" benchmarks/step_cost.py --model minilm --weights "$WEIGHTS" --device "$DEVICE" \
    "${PREC[@]}" "${SIZE[@]}" "${SEQARG[@]}" "${ROUNDS[@]}" --out "$RES/step_cost_minilm_${DEVICE}"
# 3. Training throughput + memory (both encoders, real length-grouped batches) and MiniLM embedding throughput.
MAXLEN=(--max-length "$SEQ"); [ "$QUICK" = 1 ] && MAXLEN=()
run throughput 170 "$PY" benchmarks/throughput.py --models minilm,mpnet --weights "$WEIGHTS" --device "$DEVICE" \
    "${PREC[@]}" "${SIZE[@]}" "${MAXLEN[@]}" "${STEPS[@]}" "${EMBED[@]}" --out "$RES/throughput_${DEVICE}"
# 4. Embedding throughput with the base-size model.
run embed_mpnet 100 "$PY" benchmarks/throughput.py --skip-train --embed-model mpnet --weights "$WEIGHTS" \
    --device "$DEVICE" "${SIZE[@]}" "${EMBED[@]}" --out "$RES/throughput_embed_mpnet_${DEVICE}"
# 5. Optional (GPU_BENCH_STEPS): torch.compile'd encoders (train.compile=true); compiles in the warm-up rounds.
if true; then
  run step_cost_mpnet_compile 400 "$PY" benchmarks/step_cost.py --model mpnet --weights "$WEIGHTS" --device "$DEVICE" \
      "${PREC[@]}" "${SIZE[@]}" "${SEQARG[@]}" --warmup 5 --rounds 30 --compile --methods carl,supervised,simcse \
      --no-verify --out "$RES/step_cost_mpnet_${DEVICE}_compiled"
fi

echo; echo "== summary ($(( $(date +%s) - START ))s)"
for k in "${!STATUS[@]}"; do echo "  $k: exit ${STATUS[$k]}"; done
cat "$RES"/*.md > "$OUT/summary.md" 2>/dev/null
tar -C "$RES" -czf "$OUT/gpu-results.tar.gz" .
ls -la "$RES"
# The last lines of the output are what the device tool shows: the headline numbers.
"$PY" - "$RES" <<'EOF'
import json, pathlib, sys
for p in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    d = json.loads(p.read_text())
    if d.get("benchmark") == "step_cost":
        r = d.get("ratios", {})
        ph = d.get("phases", {})
        print(f"{p.stem}: " + ", ".join(f"{m} {s['median_ms']:.1f} ms" for m, s in d["methods"].items()))
        print("   ratios: " + ", ".join(f"{k} {v['ratio_of_medians']}" for k, v in r.items()))
        if ph:
            print(f"   phase sum vs step: {ph.get('phase_sum_vs_carl_step_pct')} %; groups: "
                  + ", ".join(f"{g.split(' (')[0]} {v:.1f}" for g, v in ph["groups_median_ms"].items()))
    elif d.get("benchmark") == "throughput":
        for t in d.get("training", []):
            if "step" in t:
                print(f"{p.stem}: train {t['model']['name']} {t['sentences_per_s_median_step']} sent/s, "
                      f"memory {t['memory']}")
        e = d.get("embedding")
        if e:
            print(f"{p.stem}: embed {e['model']['name']} ratio carl/ST {e['ratio_carl_over_st']} "
                  + ", ".join(f"{n} {s['sentences_per_s']} sent/s" for n, s in e["methods"].items()))
EOF
