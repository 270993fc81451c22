"""Does averaging a trained model's weights with the pretrained encoder's (WiSE-FT) help, on dev?

Dev round 4 found a trade-off (docs/method.md): the recipe learns affect and gives up some
sentence-polarity transfer (SST-2, MR) that the pretrained encoder has. WiSE-FT (Wortsman et
al. 2022) is the standard post-hoc answer to such trade-offs: θ_α = (1 − α)·θ₀ + α·θ₁. This
script trains grid variants at the cpu preset (seed 0, the grid's own settings), interpolates
each at the given α, and scores every model on every probe task's dev split (no test split is
embedded), beside the grid's seed-0 baselines (results/reproduce-cpu). Interpolated baselines
count among the baselines, so a gain the same step gives SupCon is not credited to CARL.

    CARL_DATA_DIR=../shared/data python scripts/weight_interpolation_dev.py \
        --variants carl-plus-queue --alphas 0.5 0.75

Weights go to runs/weight-interpolation/ (not committed); the table to
results/recipe-dev/weight-interpolation.md. Finished trainings and dev scores are cached.
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import sys

from recipe_dev_search import BASELINES, ROOT, dev_task_scores, grid_dev_task_scores, task_dev_table

from carl.evaluation.report import machine_label
from carl.inference.interpolation import interpolate_with_base
from carl.inference.encoders import resolve_model_path
from carl.reproduce import PRESETS, git_commit, plan, train_job


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=["carl-plus-queue", "supcon-lr1e-4"],
                        help="grid variants to train and interpolate (default: the recipe and the strongest baseline)")
    parser.add_argument("--alphas", nargs="+", type=float, default=[0.5, 0.75],
                        help="weights of the trained model (1 = the trained model itself, always scored)")
    parser.add_argument("--runs", default=str(ROOT / "runs" / "weight-interpolation"))
    parser.add_argument("--grid", default=str(ROOT / "results" / "reproduce-cpu"))
    parser.add_argument("--out", default=str(ROOT / "results" / "recipe-dev" / "weight-interpolation.md"))
    args = parser.parse_args(argv)
    preset = PRESETS["cpu"]
    runs = pathlib.Path(args.runs)
    base, jobs = plan(preset, runs, variants=args.variants, seeds=[0], data_dir=os.environ.get("CARL_DATA_DIR"))
    pretrained = pathlib.Path(resolve_model_path(base.model.name_or_path))
    rows = []
    for job in jobs:
        train_job(job)
        model = job.run_dir / "model"
        for alpha in sorted(args.alphas, reverse=True):
            mixed = job.run_dir / f"alpha{alpha:g}"
            if not (mixed / "dev-tasks.json").is_file():
                interpolate_with_base(model, pretrained, alpha, mixed)
            rows.append({"name": f"{job.variant.name} α={alpha:g}", "variant": job.variant.name,
                         "dev_tasks": dev_task_scores(mixed, mixed / "dev-tasks.json", preset, base.data.data_dir)})
        rows.append({"name": f"{job.variant.name} α=1", "variant": job.variant.name,
                     "dev_tasks": dev_task_scores(model, job.run_dir / "dev-tasks.json", preset, base.data.data_dir)})
    write(pathlib.Path(args.out), rows, grid_dev_task_scores(pathlib.Path(args.grid)), argv, preset)


def write(out: pathlib.Path, rows: list[dict], grid_tasks: dict, argv: list[str], preset) -> None:
    # Interpolated baselines are baselines: the table's "above every baseline" counts them.
    table = task_dev_table(rows, grid_tasks, f"{preset.max_train} train / {preset.max_eval} dev texts per task",
                           baseline_trials=[r["name"] for r in rows if r["variant"] in BASELINES])
    lines = ["# Weight interpolation with the pretrained encoder (WiSE-FT), on dev", "",
             f"- Command: `{' '.join(['python', 'scripts/weight_interpolation_dev.py', *argv])}`",
             f"- Date: {datetime.datetime.now().astimezone().isoformat(timespec='minutes')}; commit {git_commit()}; "
             f"machine {machine_label()}",
             "- Each trained model (cpu preset: 200 steps of batch 32, MiniLM, seed 0) is averaged with the "
             "pretrained encoder, θ_α = (1 − α)·θ₀ + α·θ₁ (α = 1: the trained model); no test split is read.",
             *table]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main(sys.argv[1:])
