#!/usr/bin/env python3
"""The README's one table for issue 38: which label type and which loss, on the union study's texts.

    python scripts/labels_glance.py --grid results/union-labels-cpu --gaps paired-gaps-every

Reads only what the grid committed: each row's evaluation records (``evals/NAME/seedS.json``; the dev
columns from the probes' dev selection scores, the test columns from the test metrics) and the paired-gap
report ``GRID/GAPS.json`` written by scripts/paired_gaps.py (part 4's rule: a gap is clear when its
Bonferroni interval over test texts and seeds excludes 0). Writes GRID/glance.md and prints it.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys

from carl.evaluation.tasks import dev_scored_tasks, probe_dev_scores
from carl.reproduce.presets import HEADLINE

#: (evaluation folder, label type, loss) of every row, the square first, then the hybrid and the references.
ROWS: tuple[tuple[str, str, str], ...] = (
    ("va-regression", "V-A", "supervised: regression (MSE)"),
    ("carl-plus-queue", "V-A", "contrastive: CARL+ queue"),
    ("carl", "V-A", "contrastive: the paper's CARL"),
    ("supervised-ce-emotion", "emotion classes", "supervised: cross-entropy"),
    ("supcon-emotion", "emotion classes", "contrastive: SupCon"),
    ("setfit", "emotion classes", "SetFit (pair cosine loss, its library)"),
    ("hybrid-w1", "both", "CARL+ queue on V-A + CE on classes"),
    ("simcse-t0.1", "none", "contrastive: SimCSE τ 0.1"),
    ("frozen", "none", "none (frozen encoder)"),
)
EMOTION_TASKS = ("goemotions-10", "goemotions-ekman", "dailydialog", "tec", "carer")
POLARITY_TASKS = ("sst2", "sst5", "mr", "cr", "mpqa")


def row_scores(records: list[dict]) -> dict[str, float]:
    """Mean over seeds of: the 12-task dev mean, EmoBank and Facebook-VA test r, and the test means of the
    emotion tasks (macro-F1) and of the polarity tasks (accuracy)."""
    def mean_of(tasks, score):
        return statistics.fmean(statistics.fmean(score(r, t) for t in tasks) for r in records)

    def test(r, t):
        return r["result"][t][HEADLINE[t]]

    def dev(r, t):
        return probe_dev_scores(r, [t])[t]

    return {"dev": mean_of(dev_scored_tasks(), dev), "emobank": mean_of(["emobank"], test),
            "facebook-va": mean_of(["facebook-va"], test), "emotion": mean_of(EMOTION_TASKS, test),
            "polarity": mean_of(POLARITY_TASKS, test)}


def clear_counts(gaps: dict, recipe: str) -> tuple[list[str], list[str], list[str]]:
    """The recipe's baselines in the gap report, the tasks where it is clearly above every one of them and
    the tasks where some baseline is clearly above it (Bonferroni intervals)."""
    mine = [g for g in gaps["gaps"] if g["a"] == recipe]
    if not mine:  # else every task would count as "clearly above every one of no baselines"
        sys.exit(f"the gap report has no pair with {recipe} as A: give --recipe one of "
                 f"{sorted({g['a'] for g in gaps['gaps']})}, or re-run scripts/paired_gaps.py with its pairs")
    baselines = sorted({g["b"] for g in mine})
    above, below = [], []
    for task in gaps["tasks"]:
        on_task = [g["at_bonferroni"] for g in mine if g["task"] == task]
        if len(on_task) == len(baselines) and all(g["clearly_above"] for g in on_task):
            above.append(task)
        if any(g["clearly_below"] for g in on_task):
            below.append(task)
    return baselines, above, below


def glance(grid: pathlib.Path, gaps_name: str, recipe: str) -> str:
    """The table, its command, the recipe's count against every baseline and the CPUs, as markdown."""
    scored = {}
    for name, labels, loss in ROWS:
        records = [json.loads(p.read_text()) for p in sorted((grid / "evals" / name).glob("seed*.json"))]
        if records:
            scored[name] = (labels, loss, len(records), row_scores(records),
                            [(r.get("seed"), r.get("machine", "?")) for r in records])
    if not scored:
        sys.exit(f"{grid}/evals holds none of the rows {[r[0] for r in ROWS]}: is --grid a union-labels grid?")
    gaps_path = grid / f"{gaps_name}.json"
    if not gaps_path.is_file():
        sys.exit(f"{gaps_path} not found: run scripts/paired_gaps.py --name {gaps_name} first (its README has it)")
    gaps = json.loads(gaps_path.read_text())
    baselines, above, below = clear_counts(gaps, recipe)
    best = {c: max(s[3][c] for s in scored.values()) for c in ("dev", "emobank", "facebook-va", "emotion", "polarity")}

    def cell(value, column):
        return f"**{value:.3f}**" if value == best[column] else f"{value:.3f}"

    lines = ["| model | labels | loss | seeds | dev mean (12 tasks) | EmoBank r | Facebook-VA r | emotion tasks F1 "
             "(5) | polarity acc (5) |", "|---|---|---|---|---|---|---|---|---|"]
    for name, (labels, loss, seeds, s, _) in scored.items():
        lines.append(f"| {name} | {labels} | {loss} | {'–' if name == 'frozen' else seeds} | " + " | ".join(
            cell(s[c], c) for c in ("dev", "emobank", "facebook-va", "emotion", "polarity")) + " |")
    machines = {}  # a row whose seeds ran on two CPUs is named under each, with its seeds there
    for name, (*_, runs) in scored.items():
        for machine in dict.fromkeys(m for _, m in runs):
            seeds = [str(seed) for seed, m in runs if m == machine]
            whole = len(seeds) == len(runs)
            machines.setdefault(machine, []).append(name if whole else f"{name} (seed {', '.join(seeds)})")
    lines += ["", f"Command: `python scripts/labels_glance.py --grid {grid.as_posix()} --gaps {gaps_name}`. Test "
              f"columns: mean over seeds; emotion tasks: {', '.join(EMOTION_TASKS)}; polarity: "
              f"{', '.join(POLARITY_TASKS)}. Class rows train on V-A cells for the V-A-rated texts (SetFit: on "
              "the texts with an emotion only). Bold: the column's best.",
              "", f"**{recipe}** is clearly above every one of its {len(baselines)} baselines in {gaps_name} "
              f"({', '.join(baselines)}) on **{len(above)} of {len(gaps['tasks'])}** tasks"
              f"{' (' + ', '.join(above) + ')' if above else ''}; some baseline is clearly above it on "
              f"{len(below)}{' (' + ', '.join(below) + ')' if below else ''}. {gaps['comparisons']} comparisons, "
              f"Bonferroni confidence {gaps['bonferroni_confidence']:.4f}.",
              "", "Evaluated on: " + "; ".join(f"{m}: {', '.join(n)}" for m, n in machines.items()) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", default="results/union-labels-cpu")
    parser.add_argument("--gaps", default="paired-gaps-every", help="name of the paired-gap report in the grid")
    parser.add_argument("--recipe", default="hybrid-w1", help="the row counted against every baseline")
    parser.add_argument("--out", help="default: GRID/glance.md")
    args = parser.parse_args(argv)
    grid = pathlib.Path(args.grid)
    text = glance(grid, args.gaps, args.recipe)
    pathlib.Path(args.out or grid / "glance.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
