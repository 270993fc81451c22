"""What the grid's runs logged while training (each run's metrics.jsonl): mean dev curves over
seeds, who leads on dev as training goes on, training losses, PTD's late losses, and the report's figures.

Only runs whose evaluation finished count, so no curve mixes in a half-trained seed."""

from __future__ import annotations

import json
import math
import pathlib
from collections.abc import Sequence

from carl.reproduce.grid import Job
from carl.reproduce.presets import HEADLINE

DEV_KEY = "dev/va_pearson"


def finished_metrics(jobs: Sequence[Job]):
    """(job, metrics.jsonl lines) of every run whose evaluation finished: the one filter every curve uses."""
    for job in jobs:
        metrics = job.run_dir / "metrics.jsonl"
        if job.eval_path.is_file() and metrics.is_file():
            yield job, metrics.read_text().splitlines()


def late_ptd_losses(jobs: Sequence[Job]) -> dict[str, list[tuple[int, float]]]:
    """``{variant: [(seed, mean loss_ptd over the last quarter of steps)]}`` of finished runs, from metrics.jsonl.

    Lets a reader compare how well the token discriminator learned under each ε / top-k / token
    rule; variants without PTD are left out.
    """
    out: dict[str, list[tuple[int, float]]] = {}
    for job, lines in finished_metrics(jobs):
        rows = [json.loads(line) for line in lines if '"loss_ptd"' in line]
        last = max((row["step"] for row in rows), default=0)
        late = [row["loss_ptd"] for row in rows if row["step"] > 0.75 * last]
        if late and any(value > 0 for value in late):
            out.setdefault(job.variant.name, []).append((job.seed, sum(late) / len(late)))
    return out


def loss_curves(jobs: Sequence[Job]) -> dict[str, dict[int, list[float]]]:
    """``{variant label: {step: [training loss of each finished seed]}}`` from metrics.jsonl (the logged
    total loss, every ``log_every`` steps; dev-check lines carry no loss and are skipped). A step a resumed
    run logged twice counts once, with its last value."""
    values: dict[str, dict[int, list[float]]] = {}
    for job, lines in finished_metrics(jobs):
        run: dict[int, float] = {}
        for line in lines:
            row = json.loads(line) if '"loss"' in line else None
            if row is not None and isinstance(row.get("loss"), (int, float)) and math.isfinite(row["loss"]):
                run[row["step"]] = float(row["loss"])
        for step, loss in sorted(run.items()):
            values.setdefault(job.variant.label, {}).setdefault(step, []).append(loss)
    return values


def grid_plots(out: pathlib.Path, found, jobs) -> list[pathlib.Path]:
    from carl.evaluation.plots import plot_dev_curves, plot_loss_curves, plot_variant_bars  # lazy: carl --help fast

    figures = [plot_variant_bars(found, HEADLINE, out / "summary-bars.png")]
    means = mean_dev_curves(jobs)
    if means:
        curves = {label: [{"step": step, DEV_KEY: value} for step, (value, _) in sorted(by_step.items())]
                  for label, by_step in means.items()}
        figures.append(plot_dev_curves(curves, out / "dev-curves.png",
                                       title="Dev V-A Pearson during training (mean over training seeds)"))
    losses = loss_curves(jobs)
    if losses:
        figures.append(plot_loss_curves(losses, out / "loss-curves.png"))
    return figures


def mean_dev_curves(jobs: Sequence[Job]) -> dict[str, dict[int, tuple[float, int]]]:
    """``{variant label: {step: (mean dev V-A Pearson over seeds, number of seeds)}}`` from finished runs' metrics.

    Only runs whose evaluation is finished count, so a curve never mixes a half-trained seed in.
    """
    values: dict[str, dict[int, list[float]]] = {}
    for job, lines in finished_metrics(jobs):
        for line in lines:
            row = json.loads(line) if DEV_KEY in line else None
            if row is not None:
                values.setdefault(job.variant.label, {}).setdefault(row["step"], []).append(row[DEV_KEY])
    return {label: {step: (sum(v) / len(v), len(v)) for step, v in by_step.items()}
            for label, by_step in values.items()}


def dev_leader_table(jobs: Sequence[Job], max_columns: int = 6) -> str:
    """Mean dev V-A Pearson of every variant at evenly spaced dev checks, and who leads at each.

    Answers "who wins as training gets longer" on dev, so no test split is read per step.
    """
    means = mean_dev_curves(jobs)
    steps = sorted({s for by_step in means.values() for s in by_step if s > 0})
    if not steps:
        return ""
    stride = max(1, math.ceil(len(steps) / max_columns))
    shown = steps[::-1][::stride][::-1]
    lines = ["| variant | " + " | ".join(f"step {s}" for s in shown) + " |", "|---|" + "---|" * len(shown)]
    leaders = {s: max((by[s][0], label) for label, by in means.items() if s in by)[1] for s in shown}
    for label, by_step in means.items():
        cells = []
        for s in shown:
            if s not in by_step:
                cells.append("–")
                continue
            value, seeds = by_step[s]
            cell = f"{value:.3f}" + (f" ({seeds} seeds)" if seeds != max(n for _, n in by_step.values()) else "")
            cells.append(f"**{cell}**" if leaders[s] == label else cell)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
