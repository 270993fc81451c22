#!/usr/bin/env python3
"""carer-mteb on a grid model's unit-length outputs and on its raw pooled outputs.

Models exported before the export kept the base encoder's Normalize module return raw vectors;
later ones return unit vectors. The probes L2-normalise either way, but MTEB's protocol feeds
the vectors as returned to LogisticRegression(max_iter=100), so this task depends on which
export a grid row has. This script scores each given grid variant's seeds both ways (a copy of
the model folder without its Normalize module gives the raw outputs) on the grid's settings;
the variant ``frozen`` scores the grid's base encoder both ways.

``--apply-raw`` then makes the grid score one kind of output for every trained row: each given
variant's ``evals/VARIANT/seedS.json`` gets the raw-output score as its carer-mteb result (the
kind every older trained row has), keeps the as-exported one under
``_meta.carer_mteb_as_exported`` and records the change under ``_meta.rescored``. Re-write the
report afterwards with the grid command and ``--stop-after-minutes 0``.

    CARL_DATA_DIR=../shared/data python scripts/mteb_output_check.py carl-plus-queue carl-plus frozen \
        [--grid results/reproduce-cpu] [--out results/reproduce-cpu/mteb-output-check.json] [--apply-raw carl-plus-queue]
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
from carl.inference.encoders import resolve_model_path
from carl.reproduce import FROZEN, PRESETS, _write_record, git_commit
from carl.config import CarlConfig

TASK = "carer-mteb"


def without_normalize(model: pathlib.Path, into: pathlib.Path) -> pathlib.Path:
    shutil.copytree(model, into, ignore=shutil.ignore_patterns("*Normalize"))
    modules = [m for m in json.loads((into / "modules.json").read_text()) if not m["type"].endswith("Normalize")]
    (into / "modules.json").write_text(json.dumps(modules, indent=2))
    return into


def grid_models(grid: pathlib.Path, variant: str) -> list[tuple[str, pathlib.Path]]:
    """(seed name, model folder) of a variant's finished runs; the base encoder for ``frozen``."""
    if variant == FROZEN:
        base = CarlConfig.load(grid / "base-config.yaml").model.name_or_path
        return [("seed0", pathlib.Path(resolve_model_path(base)))]
    models = sorted(grid.joinpath("runs", variant).glob("seed*/model"))
    if not models:
        raise SystemExit(f"{grid}/runs/{variant}: no trained model folders (runs/{variant}/seed*/model); "
                         "the grid deletes none, so they were removed or never trained on this machine")
    return [(m.parent.name, m) for m in models]


def apply_raw(grid: pathlib.Path, variant: str, raw_results: dict[str, dict], command: str, commit: str) -> None:
    """Write each seed's raw-output result (``{seed name: result}``) into the variant's evaluations."""
    for seed, raw_result in raw_results.items():
        path = grid / "evals" / variant / f"{seed}.json"
        record = json.loads(path.read_text())
        meta = record["result"].setdefault("_meta", {})
        meta.setdefault("carer_mteb_as_exported", record["result"][TASK])
        record["result"][TASK] = raw_result
        meta.setdefault("rescored", {})[TASK] = {
            "output": "raw pooled vectors (the model folder without its Normalize module)",
            "why": "every other trained row of this grid was exported before the export kept the base's "
                   "Normalize module; carer-mteb feeds vectors as returned to LogisticRegression, so one "
                   "output kind for every trained row",
            "command": command, "commit": commit}
        _write_record(path, record)
        print("rescored", path, flush=True)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="+")
    parser.add_argument("--grid", default="results/reproduce-cpu")
    parser.add_argument("--out", default="results/reproduce-cpu/mteb-output-check.json")
    parser.add_argument("--apply-raw", nargs="*", default=[], metavar="VARIANT",
                        help="write the raw-output score into these variants' grid evaluations")
    args = parser.parse_args(argv)
    grid = pathlib.Path(args.grid)
    if missing := [v for v in args.apply_raw if v not in args.variants or v == FROZEN]:
        parser.error(f"--apply-raw {' '.join(missing)}: only trained variants that are also scored here")
    preset = PRESETS["cpu"]
    command = "python scripts/mteb_output_check.py " + " ".join(argv)
    commit = git_commit()
    rows, results = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in args.variants:
            for seed, model in grid_models(grid, variant):
                normalised = "Normalize" in (model / "modules.json").read_text()
                raw = without_normalize(model, pathlib.Path(tmp) / f"{variant}-{seed}") if normalised else model
                scores = {}
                for kind, path in (("as_exported", model), ("raw", raw)):
                    result = run_tasks(str(path), [TASK], None, seed=preset.eval_seed,
                                       max_train=preset.max_train, max_eval=preset.max_eval)
                    scores[kind] = result[TASK]["accuracy"]
                    results[(variant, seed, kind)] = result[TASK]
                rows[f"{variant}/{seed}"] = {"exported_with_normalize": normalised, **scores}
                print(variant, seed, scores, flush=True)
    summary = {variant: {kind: statistics.mean(r[kind] for k, r in rows.items() if k.startswith(variant + "/"))
                         for kind in ("as_exported", "raw")} for variant in args.variants}
    pathlib.Path(args.out).write_text(json.dumps({"command": command, "commit": commit, "rows": rows,
                                                  "mean": summary, "applied_raw": args.apply_raw}, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    for variant in args.apply_raw:
        apply_raw(grid, variant, {s: r for (v, s, k), r in results.items() if v == variant and k == "raw"},
                  command, commit)


if __name__ == "__main__":
    main(sys.argv[1:])
