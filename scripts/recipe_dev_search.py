#!/usr/bin/env python3
"""Design the CARL recipe on dev splits only: train candidate configurations at the cpu grid's
budget and compare their dev V-A Pearson (the training's own checkpoint signal: 5-fold ridge on
the EmoBank + Facebook-VA dev texts) with the grid's variants. No test split is read here.

    CARL_DATA_DIR=../shared/data python scripts/recipe_dev_search.py [--out results/recipe-dev] [--only NAME ...]

Trials train with seed 0 under the cpu preset (`carl reproduce --preset cpu`: 200 steps of batch
32, MiniLM); runs go to runs/recipe-dev/ (weights are not committed), the table to OUT/trials.md
and OUT/trials.json. Finished trials are cached (re-run to continue). The grid's own variants
(3 seeds each) are read from results/reproduce-cpu/evals/*/seed*.json: their `best_dev_va_pearson`
came from the same dev check.
"""

from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import statistics
import sys

from carl.reproduce import PRESETS, VARIANTS, Job, Variant, git_commit, plan, train_job

ROOT = pathlib.Path(__file__).resolve().parents[1]

RECIPE_PARTS = {"mccl.label_similarity": "neg_sq_distance", "mccl.projection_heads": False,
                "mccl.momentum": False, "ptd.enabled": False}

#: name -> (settings changed from the cpu preset, why the trial is here)
TRIALS: dict[str, tuple[dict, str]] = {
    "distance-online-noptd-noheads": (dict(RECIPE_PARTS), "distance kernel instead of cosine, online target, no PTD, "
                                      "contrasting the pooled embeddings (no heads)"),
    "distance-online-noptd": ({"mccl.label_similarity": "neg_sq_distance", "mccl.momentum": False, "ptd.enabled": False},
                              "the same with the paper's projection/prediction heads"),
    "cosine-online-noptd-noheads": ({**RECIPE_PARTS, "mccl.label_similarity": "cosine"},
                                    "no heads with the paper's cosine: isolates the kernel"),
    "distance-ema0.99-noptd-noheads": ({**RECIPE_PARTS, "mccl.momentum": True, "mccl.base_momentum": 0.99},
                                       "no heads, distance kernel, an EMA target with the short-schedule momentum 0.99"),
    "distance-online-noptd-noheads-tauy0.5": ({**RECIPE_PARTS, "mccl.label_temperature": 0.5},
                                              "softer label kernel (tau_y 0.5 instead of 0.1)"),
    "distance-online-noptd-noheads-lr1e-4": ({**RECIPE_PARTS, "train.learning_rate": 1e-4},
                                             "learning-rate trial for the recipe (same trial as SupCon's)"),
    "supcon-lr1e-4": ({"objective.name": "supcon", "data.discrete_labels": "va_grid", "train.learning_rate": 1e-4},
                      "learning-rate trial for the strongest baseline (same trial as the recipe's)"),
}


def grid_reference(grid: pathlib.Path) -> list[dict]:
    """The grid's variants' dev scores (same preset, same dev check), mean over their seeds."""
    rows = []
    for variant in VARIANTS:
        scores = [json.loads(p.read_text()).get("best_dev_va_pearson")
                  for p in sorted((grid / "evals" / variant.name).glob("seed*.json"))]
        scores = [s for s in scores if s is not None]
        if scores:
            rows.append({"name": variant.name, "label": variant.label, "seeds": len(scores),
                         "dev_va_pearson": statistics.mean(scores),
                         "std": statistics.stdev(scores) if len(scores) > 1 else None, "source": "grid"})
    return rows


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "results" / "recipe-dev"))
    parser.add_argument("--runs", default=str(ROOT / "runs" / "recipe-dev"))
    parser.add_argument("--grid", default=str(ROOT / "results" / "reproduce-cpu"))
    parser.add_argument("--only", nargs="*", help="trial names (default: all)")
    args = parser.parse_args(argv)
    out, runs = pathlib.Path(args.out), pathlib.Path(args.runs)
    out.mkdir(parents=True, exist_ok=True)
    preset = PRESETS["cpu"]
    base, _ = plan(preset, runs, variants=["carl"], seeds=[0])

    def finished(name: str) -> dict | None:
        run_dir = runs / name / "seed0"
        if not (run_dir / "summary.json").is_file():
            return None
        overrides, why = TRIALS[name]
        summary = json.loads((run_dir / "summary.json").read_text())
        curve = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
                 if '"dev/va_pearson"' in line]
        return {"name": name, "why": why, "overrides": overrides, "seed": 0,
                "dev_va_pearson": summary["best_dev_va_pearson"], "best_step": summary["best_step"],
                "train_seconds": summary["seconds"], "dev_curve": {row["step"]: row["dev/va_pearson"] for row in curve}}

    unknown = sorted(set(args.only or []) - set(TRIALS))
    if unknown:
        parser.error(f"unknown trial(s) {unknown}; trials: {', '.join(TRIALS)}")
    for name in args.only or TRIALS:  # --only runs its trials in the order given
        overrides, why = TRIALS[name]
        run_dir = runs / name / "seed0"
        cfg = base.override({**overrides, "train.seed": 0, "train.output_dir": str(run_dir)}).validate()
        train_job(Job(Variant(name, name, "dev-trial", overrides, why), 0, cfg, run_dir, run_dir / "unused.json"))
        results = [r for r in map(finished, TRIALS) if r is not None]  # every finished trial, in TRIALS order
        write(out, results, grid_reference(pathlib.Path(args.grid)), " ".join(["python", "scripts/recipe_dev_search.py", *argv]))


def write(out: pathlib.Path, trials: list[dict], reference: list[dict], command: str) -> None:
    from carl.evaluation.report import machine_info

    machine = machine_info()
    meta = {"command": command, "date": datetime.datetime.now().astimezone().isoformat(timespec="minutes"),
            "commit": git_commit(), "machine": f"{machine.get('processor')}, {machine.get('cpu_count')} cores"}
    (out / "trials.json").write_text(json.dumps({**meta, "trials": trials, "grid_reference": reference}, indent=1) + "\n")
    lines = ["# Recipe design on dev (cpu preset: 200 steps of batch 32, MiniLM)", "",
             f"- Command: `{meta['command']}`", f"- Date: {meta['date']}; commit {meta['commit']}; machine {meta['machine']}",
             "- Score: best dev V-A Pearson of the run (5-fold ridge on EmoBank + Facebook-VA dev, every 100 steps); "
             "no test split is read.", "",
             "## Trials (seed 0)", "", "| trial | dev V-A r | dev r at steps 0/100/200 | train s | what changes |",
             "|---|---|---|---|---|"]
    for t in trials:
        curve = " / ".join(f"{v:.3f}" for _, v in sorted(t["dev_curve"].items(), key=lambda kv: int(kv[0])))
        lines.append(f"| {t['name']} | {t['dev_va_pearson']:.4f} | {curve} | {t['train_seconds']:.0f} | {t['why']} |")
    lines += ["", "## The grid's variants (same preset and dev check; mean ± std over their seeds)", "",
              "| variant | seeds | dev V-A r |", "|---|---|---|"]
    for r in reference:
        std = f" ± {r['std']:.4f}" if r["std"] is not None else ""
        lines.append(f"| {r['label']} | {r['seeds']} | {r['dev_va_pearson']:.4f}{std} |")
    (out / "trials.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
