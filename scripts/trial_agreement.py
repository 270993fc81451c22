"""Did the learning-rate trial rank the contenders as the grid did? Dev splits only (issue 38, part 2).

    python scripts/trial_agreement.py --grid results/union-cpu --trial results/union-cpu/lr-trial/lr0.0001

For every variant with a trial record at the chosen rate (``TRIAL/evals/VARIANT/seed0.json``, a dev-only
evaluation: its ``dev_score`` per task) and grid records (``GRID/evals/VARIANT/seedS.json``), the 12-task
dev mean of each: the trial's from its ``dev_score``s, the grid's from each probe task's best dev score
(the score of the setting the probe chose; the grid fits its probes on more texts than the trial, so the
two means differ in level and only their orders are compared), averaged over the grid's seeds. Prints a
Markdown table with both ranks, Spearman's rho and Kendall's tau, and writes it to ``--output``.
No test score is read.

``--grid`` repeated ranks rows of several grids of one preset's probes (the union study and the union-labels grid:
their frozen encoder's dev scores must agree); ``--variants`` ranks only the named ones, e.g. the same
contenders under two trial designs.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
from collections.abc import Sequence

from scipy import stats

from carl.evaluation.tasks import probe_dev_scores
from carl.reproduce.grid import probes_differ
from carl.reproduce.presets import VARIANT_BY_NAME
from carl.reproduce.lr_trial import dev_mean


def grid_dev_mean(record: dict, tasks: list[str]) -> float:
    """Mean over ``tasks`` of the best dev score of each probe (the setting the probe chose)."""
    return statistics.mean(probe_dev_scores(record, tasks).values())


def agreement(grids: pathlib.Path | Sequence[pathlib.Path], trial: pathlib.Path,
              variants: Sequence[str] | None = None) -> tuple[list[dict], float, float]:
    """Rows of the variants with a trial record and grid records (each variant's from the first of ``grids``
    that has it; only ``variants`` if given), with both ranks; Spearman's rho and Kendall's tau."""
    grids = [grids] if isinstance(grids, pathlib.Path) else list(grids)
    rows = []
    for trial_record in sorted((trial / "evals").glob("*/seed0.json")):
        variant = trial_record.parent.name
        if variants is not None and variant not in variants:
            continue
        seeds = next((found for grid in grids if (found := sorted((grid / "evals" / variant).glob("seed*.json")))),
                     [])
        if not seeds:
            continue
        record = json.loads(trial_record.read_text())
        tasks = [task for task in record["result"] if task != "_meta"]
        grid_means = [grid_dev_mean(json.loads(path.read_text()), tasks) for path in seeds]
        rows.append({"variant": variant, "trial": dev_mean(record), "grid": statistics.mean(grid_means),
                     "seeds": len(seeds), "tasks": len(tasks)})
    if len(rows) < 3:
        raise SystemExit(f"{len(rows)} variant(s) have both a trial under {trial} and grid evaluations under "
                         f"{', '.join(map(str, grids))}; a rank agreement needs at least 3")
    for key in ("trial", "grid"):
        for rank, row in enumerate(sorted(rows, key=lambda r: -r[key]), start=1):
            row[f"{key}_rank"] = rank
    rho = stats.spearmanr([r["trial"] for r in rows], [r["grid"] for r in rows]).statistic
    tau = stats.kendalltau([r["trial"] for r in rows], [r["grid"] for r in rows]).statistic
    return sorted(rows, key=lambda r: r["grid_rank"]), float(rho), float(tau)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", required=True, type=pathlib.Path, action="append",
                        help="a grid folder; repeat for grids of one preset's probes (a variant is read from the "
                             "first that has it)")
    parser.add_argument("--trial", required=True, type=pathlib.Path, help="the trial folder of the chosen rate")
    parser.add_argument("--variants", default=None, help="comma list: rank only these variants")
    parser.add_argument("--output", type=pathlib.Path, default=None, help="Markdown file (default: print only)")
    args = parser.parse_args()
    if len(args.grid) > 1 and (why := probes_differ(args.grid)):
        raise SystemExit(why)
    rows, rho, tau = agreement(args.grid, args.trial, args.variants.split(",") if args.variants else None)
    lines = ["| variant | trial dev mean | trial rank | grid dev mean (seeds) | grid rank |", "|---|---|---|---|---|"]
    for r in rows:
        label = VARIANT_BY_NAME[r["variant"]].label if r["variant"] in VARIANT_BY_NAME else r["variant"]
        lines.append(f"| {label} | {r['trial']:.4f} | {r['trial_rank']} | {r['grid']:.4f} ({r['seeds']}) | "
                     f"{r['grid_rank']} |")
    lines.append("")
    lines.append(f"{len(rows)} variants, {rows[0]['tasks']} dev tasks: Spearman rho {rho:+.2f}, Kendall tau {tau:+.2f}.")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.output:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
