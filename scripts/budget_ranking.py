#!/usr/bin/env python3
"""Does the ranking hold once every text has been seen twice? (issue 38, part 3)

    python scripts/budget_ranking.py --short results/union-labels-cpu --long results/union-2ep-cpu

For every variant the long grid evaluated, at each budget: its seeds, the steps it ran, the checkpoint each run
kept (``runs/VARIANT/seedS/summary.json``: the trainer keeps the step with the best dev V-A), the 12-task dev
mean of the probes (:func:`carl.evaluation.tasks.probe_dev_scores`) and its rank among these variants, then the
test columns of the README's table (scripts/labels_glance.py's ``row_scores``), at the seeds the long grid has
at both budgets (so that a row's two budgets differ in the steps only). The ranks read dev only; the
test columns are reported, not ranked on. Writes LONG/ranking.md and prints it. The paired gaps with test noise
counted come from scripts/paired_gaps.py (LONG/README.md has the commands).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from labels_glance import row_scores  # noqa: E402

from carl.reproduce.grid import EXACT_PROBE_TOLERANCE, probes_differ  # noqa: E402
from carl.reproduce.presets import VARIANT_BY_NAME  # noqa: E402

COLUMNS = (("dev", "dev mean (12 tasks)"), ("emobank", "EmoBank r"), ("facebook-va", "Facebook-VA r"),
           ("emotion", "emotion tasks F1 (5)"), ("polarity", "polarity acc (5)"))


def budget_row(grid: pathlib.Path, variant: str, seeds: list[int] | None = None) -> dict | None:
    """One variant at one grid's budget (only ``seeds`` if given): seeds, steps, kept steps, training seconds,
    CPUs and the scores."""
    evaluations = sorted(path for path in (grid / "evals" / variant).glob("seed*.json")
                         if seeds is None or int(path.stem.removeprefix("seed")) in seeds)
    if not evaluations:
        return None
    records = [json.loads(path.read_text()) for path in evaluations]
    summaries = [json.loads((grid / "runs" / variant / f"seed{r['seed']}" / "summary.json").read_text())
                 for r in records]
    return {"seeds": [r["seed"] for r in records], "steps": sorted({s["steps"] for s in summaries}),
            "kept": [s["best_step"] for s in summaries], "hours": [s["seconds"] / 3600 for s in summaries],
            "machines": sorted({r.get("machine", "?") for r in records}), "scores": row_scores(records)}


def ranks(rows: dict[str, dict]) -> dict[str, int]:
    """1 for the highest dev mean."""
    order = sorted(rows, key=lambda name: -rows[name]["scores"]["dev"])
    return {name: order.index(name) + 1 for name in rows}


def ranking(short: pathlib.Path, long: pathlib.Path, probe_tolerance: float = EXACT_PROBE_TOLERANCE) -> str:
    if why := probes_differ([long, short], probe_tolerance):
        sys.exit(why)
    variants = sorted(p.name for p in (long / "evals").iterdir() if p.is_dir() and p.name in VARIANT_BY_NAME)
    if not variants:
        sys.exit(f"{long}/evals holds no evaluated variant yet")
    budgets = {"long": {v: budget_row(long, v) for v in variants}}
    # the short budget at the long one's seeds only, so that a row's two budgets differ in the steps alone
    budgets["short"] = {v: row for v in variants if (row := budget_row(short, v, budgets["long"][v]["seeds"]))}
    missing = sorted(v for v in variants if v not in budgets["short"]
                     or budgets["short"][v]["seeds"] != budgets["long"][v]["seeds"])
    if missing:
        sys.exit(f"{short}/evals lacks the seeds {long} has of {', '.join(missing)}: both budgets need every "
                 "variant at the same seeds")
    rank = {label: ranks(rows) for label, rows in budgets.items()}
    lines = ["| model | budget | seeds | steps | kept step (per seed) | training h (mean) | "
             + " | ".join(title for _, title in COLUMNS) + " | dev rank |", "|---" * (7 + len(COLUMNS)) + "|"]
    for variant in sorted(variants, key=lambda v: rank["long"][v]):
        for label, grid in (("long", long), ("short", short)):
            row = budgets[label][variant]
            lines.append(f"| {VARIANT_BY_NAME[variant].label} | {grid.name} | {', '.join(map(str, row['seeds']))} | "
                         f"{', '.join(map(str, row['steps']))} | {', '.join(map(str, row['kept']))} | "
                         f"{statistics.fmean(row['hours']):.2f} | "
                         + " | ".join(f"{row['scores'][c]:.3f}" for c, _ in COLUMNS) + f" | {rank[label][variant]} |")
    same = [v for v in variants if rank["long"][v] == rank["short"][v]]
    kept = [(k, max(row["steps"])) for row in budgets["long"].values() for k in row["kept"]]
    last = [k for k, steps in kept if k == steps]
    machines = sorted({m for rows in budgets.values() for row in rows.values() for m in row["machines"]})
    tolerance = f" --probe-tolerance {probe_tolerance:g}" if probe_tolerance > EXACT_PROBE_TOLERANCE else ""
    lines += ["", f"Command: `python scripts/budget_ranking.py --short {short.as_posix()} --long {long.as_posix()}"
              f"{tolerance}`. "
              "Each row at the same seeds at both budgets (the short grid's other seeds are left out). Dev rank among "
              "these rows by the 12-task dev mean (mean over the seeds listed); test columns are the mean over the "
              "same seeds, reported, not ranked on. Training hours as run (CPUs and processes beside differ).",
              "", f"The dev ranking of the {len(variants)} rows is the same at both budgets for {len(same)} of "
              f"{len(variants)}" + (f" ({', '.join(same)})" if same else "") + f"; {len(last)} of {len(kept)} "
              f"{long.name} runs kept their last step. CPUs: {', '.join(machines)}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", type=pathlib.Path, default=pathlib.Path("results/union-labels-cpu"))
    parser.add_argument("--long", type=pathlib.Path, default=pathlib.Path("results/union-2ep-cpu"))
    parser.add_argument("--probe-tolerance", type=float, default=EXACT_PROBE_TOLERANCE,
                        help="how far the two grids' frozen dev scores may differ (grids evaluated on different "
                             "CPUs: ~5e-3; the frozen test rows must then name the same texts)")
    parser.add_argument("--out", help="default: LONG/ranking.md")
    args = parser.parse_args(argv)
    text = ranking(args.short, args.long, args.probe_tolerance)
    pathlib.Path(args.out or args.long / "ranking.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
