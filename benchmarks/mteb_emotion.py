#!/usr/bin/env python3
"""MTEB EmotionClassification three ways, per model, and the leaderboard check (issue #12 part 4).

For every model (``NAME=PATH``; PATH a model folder or the ``minilm`` alias):

* ``mteb``: ``mteb.evaluate`` on carl's subclass of mteb's EmotionClassification (local CARER
  files), the model wrapped by mteb's own ``SentenceTransformerEncoderWrapper`` (mteb's default
  batch size 32) — the path closest to how the leaderboard ran it;
* ``carl evaluate``: the ``carer-mteb`` task (``run_tasks``: the same mteb task, embeddings
  through carl's EmbeddingStore, batch 64);
* ``hand-written``: carl's former re-implementation (tests/mteb_reference.py) on the
  ``carl evaluate`` embeddings with label *names*, exactly as ``carer-mteb`` ran before the switch.

Writes OUTPUT.json and OUTPUT.md (command, machine, date, versions, per-experiment accuracies).

    python benchmarks/mteb_emotion.py "frozen MiniLM=minilm" "CARL=PATH/model" \
        --data-dir ../shared/data --output results/mteb/emotion-classification
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import pathlib
import shlex
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))  # the hand-written reference lives with the tests

import numpy as np  # noqa: E402

LEADERBOARD = {"sentence-transformers/all-MiniLM-L6-v2": 0.4083}
"""EmotionClassification accuracy on the MTEB leaderboard, as quoted in issue #12 (not fetchable here)."""


def hand_written(store, data_dir) -> dict:
    from mteb_reference import mteb_classification, mteb_undersample

    from carl.evaluation.mteb_tasks import carer_records

    rows = carer_records(data_dir)
    train, test = rows["train"], rows["test"]
    y_train = [r.labels[0] for r in train]
    experiments = mteb_undersample(y_train, seed=42)
    union = sorted(set().union(*experiments))
    pos = {i: p for p, i in enumerate(union)}
    train_x = store.embed("carer", "train", [train[i].text for i in union])
    test_x = store.embed("carer", "test", [r.text for r in test])
    args = (train_x, [y_train[i] for i in union], test_x, [r.labels[0] for r in test])
    exps = [[pos[i] for i in chosen] for chosen in experiments]
    metrics = mteb_classification(*args, seed=42, experiments=exps)
    per = [mteb_classification(*args, seed=42, experiments=[e])["accuracy"] for e in exps]
    return {"metrics": metrics, "accuracy_per_experiment": per}


def one_model(name: str, path: str, data_dir) -> dict:
    from carl.evaluation.mteb_tasks import run_emotion_classification
    from carl.evaluation.embedding_store import EmbeddingStore
    from carl.evaluation.tasks import run_tasks
    from carl.inference.encoders import ALIASES

    out: dict = {"name": name, "model": path}
    t0 = time.time()
    lib = run_emotion_classification(path, data_dir=data_dir, batch_size=32)
    out["mteb"] = {"metrics": lib["metrics"], "main_score": lib["scores"]["main_score"],
                   "accuracy_per_experiment": [e["accuracy"] for e in lib["scores"]["scores_per_experiment"]],
                   "wrapper": "mteb SentenceTransformerEncoderWrapper, batch 32", "seconds": round(time.time() - t0, 1)}
    t0 = time.time()
    store = EmbeddingStore(path, None, batch_size=64)
    res = run_tasks(path, "carer-mteb", data_dir, store=store)
    meta = res["_meta"]
    out["model_path"], out["model_fingerprint"] = meta["model_path"], meta["model_fingerprint"]
    out["model_metadata"] = meta["model_metadata"]
    out["carl_evaluate"] = {"metrics": res["carer-mteb"],
                            "accuracy_per_experiment": meta["details"]["carer-mteb"]["accuracy_per_experiment"],
                            "seconds": round(time.time() - t0, 1)}
    t0 = time.time()
    out["hand_written"] = {**hand_written(store, data_dir), "seconds": round(time.time() - t0, 1)}
    ref = LEADERBOARD.get(ALIASES.get(path, path))
    out["leaderboard_accuracy"] = ref
    accs = {k: out[k]["metrics"]["accuracy"] for k in ("mteb", "carl_evaluate", "hand_written")}
    out["max_abs_diff_accuracy"] = float(max(accs.values()) - min(accs.values()))
    out["max_abs_diff_per_experiment"] = float(np.max(np.abs(
        np.array(out["mteb"]["accuracy_per_experiment"]) - np.array(out["hand_written"]["accuracy_per_experiment"]))))
    if ref is not None:
        out["reproduces_leaderboard"] = bool(round(accs["mteb"] * 100, 2) == round(ref * 100, 2))
    return out


def markdown(payload: dict) -> str:
    lines = ["# MTEB EmotionClassification (v1) on local CARER: mteb library vs hand-written protocol", "",
             "Accuracy (MTEB's main score) and macro-F1 on the 2,000-row test split, mean over mteb's 10 "
             "experiments (16 training examples per label, seed 42). `mteb`: mteb.evaluate with mteb's "
             "SentenceTransformer wrapper; `carl evaluate`: the `carer-mteb` task (same mteb task, carl's "
             "embedding store); `hand-written`: carl's former re-implementation (tests/mteb_reference.py).", "",
             "| model | mteb acc | carl evaluate acc | hand-written acc | leaderboard | mteb macro-F1 | "
             "hand-written macro-F1 | acc std (10 exps) | max per-experiment diff |",
             "|---|---|---|---|---|---|---|---|---|"]
    for m in payload["models"]:
        lb = f"{m['leaderboard_accuracy'] * 100:.2f}" if m["leaderboard_accuracy"] is not None else "–"
        lines.append(
            f"| {m['name']} | {m['mteb']['metrics']['accuracy'] * 100:.2f} | "
            f"{m['carl_evaluate']['metrics']['accuracy'] * 100:.2f} | {m['hand_written']['metrics']['accuracy'] * 100:.2f}"
            f" | {lb} | {m['mteb']['metrics']['macro_f1'] * 100:.2f} | "
            f"{m['hand_written']['metrics']['macro_f1'] * 100:.2f} | {m['mteb']['metrics']['accuracy_std'] * 100:.2f} | "
            f"{m['max_abs_diff_per_experiment']:.1e} |")
    lines += ["", "Per-experiment accuracy (mteb):", ""]
    for m in payload["models"]:
        lines.append(f"- {m['name']} (`{m['model']}`): " + ", ".join(f"{a:.4f}" for a in m["mteb"]["accuracy_per_experiment"]))
    env = payload["machine"]
    lines += ["", f"date: {payload['created']}; machine: {env['processor']}, {env['cpu_count']} cores; "
                  f"mteb {payload['versions'].get('mteb')}, torch {payload['versions'].get('torch')}, "
                  f"scikit-learn {payload['versions'].get('scikit-learn')}, datasets {payload['versions'].get('datasets')}",
              f"command: `{payload['command']}`", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", help="NAME=PATH (PATH: model folder or alias such as minilm)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--output", required=True, help="output stem: writes STEM.json and STEM.md")
    args = ap.parse_args(argv)
    from carl.evaluation.report import machine_info
    from carl.evaluation.tasks import package_versions
    from carl.io import atomic_write

    models = []
    for spec in args.models:
        name, _, path = spec.partition("=")
        models.append((name, path) if path else (spec, spec))
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    results = []
    for name, path in models:
        print(f"{name}: {path}", file=sys.stderr)
        results.append(one_model(name, path, args.data_dir))
        print(json.dumps({k: results[-1][k]["metrics"]["accuracy"] for k in ("mteb", "carl_evaluate", "hand_written")}),
              file=sys.stderr)
    versions = package_versions(extra=("datasets",))
    payload = {"format": "carl-mteb-emotion/1", "created": started,
               "command": "python " + " ".join(shlex.quote(a) for a in [str(pathlib.Path(sys.argv[0]))] +
                                                (argv if argv is not None else sys.argv[1:])),
               "machine": machine_info(), "versions": versions, "data_dir": args.data_dir,
               "leaderboard_source": "MTEB leaderboard value quoted in issue #12 (the hub is unreachable here)",
               "models": results}
    stem = pathlib.Path(args.output)
    stem.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(stem.with_suffix(".json"), lambda t: t.write_text(json.dumps(payload, indent=1) + "\n"))
    atomic_write(stem.with_suffix(".md"), lambda t: t.write_text(markdown(payload)))
    print(markdown(payload))
    return 0


if __name__ == "__main__":
    sys.exit(main())
