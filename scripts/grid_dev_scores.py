#!/usr/bin/env python3
"""Every probe task's dev score of each model in a grid, from its evaluation records alone.

Each evaluation stores its probes' dev selection scores (``_meta.details``); this reads the best
setting's score per task (no test number is read) and writes a table: per model, the 12 task
scores, their mean and on how many tasks the model is above every baseline in the grid.

    python scripts/grid_dev_scores.py results/budget-cpu-long [--seed 0] [--out DIR/dev-tasks.md]
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from recipe_dev_search import BASELINES, grid_dev_task_scores  # noqa: E402

from carl.evaluation.tasks import dev_scored_tasks  # noqa: E402
from carl.reproduce import FROZEN, VARIANTS  # noqa: E402


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("grid")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    grid = pathlib.Path(args.grid)
    scores = grid_dev_task_scores(grid, args.seed, names=[FROZEN, *(v.name for v in VARIANTS)])
    tasks = dev_scored_tasks()
    baselines = [scores[b] for b in BASELINES if b in scores]
    best = {t: max(b[t] for b in baselines) for t in tasks}
    lines = [f"# Dev scores of every probe task: `{grid}`, training seed {args.seed}", "",
             f"Command: `python scripts/grid_dev_scores.py {' '.join(argv)}`. Each probe's dev selection score "
             "(mean V-A Pearson for EmoBank and Facebook-VA, macro-F1 otherwise), read from evals/*/seed*.json; no "
             f"test split. Baselines present: {', '.join(b for b in BASELINES if b in scores)}.", "",
             "| model | " + " | ".join(tasks) + " | mean | above every baseline |", "|---" * (len(tasks) + 3) + "|"]
    for name, row in scores.items():
        above = sum(row[t] > best[t] for t in tasks)
        lines.append(f"| {name} | " + " | ".join(f"{row[t]:.3f}" for t in tasks)
                     + f" | {statistics.mean(row[t] for t in tasks):.4f} | {above} of {len(tasks)} |")
    text = "\n".join(lines) + "\n"
    pathlib.Path(args.out or grid / "dev-tasks.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
