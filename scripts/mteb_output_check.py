#!/usr/bin/env python3
"""carer-mteb on a trained model's unit-length outputs and on its raw pooled outputs.

Models exported before the export kept the base encoder's Normalize module return raw vectors;
later ones return unit vectors. The probes L2-normalise either way, but MTEB's protocol feeds
the vectors as returned to LogisticRegression(max_iter=100), so this task depends on which
export a grid row has. This script scores each given grid variant's seeds both ways (a copy of
the model folder without its Normalize module gives the raw outputs) on the grid's settings.

    CARL_DATA_DIR=../shared/data python scripts/mteb_output_check.py carl-plus-queue \
        [--grid results/reproduce-cpu] [--out results/reproduce-cpu/mteb-output-check.json]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import statistics
import sys
import tempfile

from carl.evaluation.tasks import run_tasks
from carl.reproduce import PRESETS, git_commit


def without_normalize(model: pathlib.Path, into: pathlib.Path) -> pathlib.Path:
    shutil.copytree(model, into, ignore=shutil.ignore_patterns("*Normalize"))
    modules = [m for m in json.loads((into / "modules.json").read_text()) if not m["type"].endswith("Normalize")]
    (into / "modules.json").write_text(json.dumps(modules, indent=2))
    return into


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="+")
    parser.add_argument("--grid", default="results/reproduce-cpu")
    parser.add_argument("--out", default="results/reproduce-cpu/mteb-output-check.json")
    args = parser.parse_args(argv)
    preset = PRESETS["cpu"]
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in args.variants:
            for model in sorted(pathlib.Path(args.grid, "runs", variant).glob("seed*/model")):
                normalised = "Normalize" in (model / "modules.json").read_text()
                raw = without_normalize(model, pathlib.Path(tmp) / f"{variant}-{model.parent.name}") if normalised else model
                scores = {}
                for kind, path in (("as_exported", model), ("raw", raw)):
                    result = run_tasks(str(path), ["carer-mteb"], None, seed=preset.eval_seed,
                                       max_train=preset.max_train, max_eval=preset.max_eval)
                    scores[kind] = result["carer-mteb"]["accuracy"]
                rows[f"{variant}/{model.parent.name}"] = {"exported_with_normalize": normalised, **scores}
                print(variant, model.parent.name, scores, flush=True)
    summary = {variant: {kind: statistics.mean(r[kind] for k, r in rows.items() if k.startswith(variant + "/"))
                         for kind in ("as_exported", "raw")} for variant in args.variants}
    pathlib.Path(args.out).write_text(json.dumps({"command": "python scripts/mteb_output_check.py " + " ".join(argv),
                                                  "commit": git_commit(), "rows": rows, "mean": summary}, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
