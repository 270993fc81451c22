"""Gaps between a grid's variants with test sampling counted (issue 38, part 4's rule; part 5 first).

    python scripts/paired_gaps.py --preset cpu-headlines --grid results/headlines-cpu \
        --tasks semeval-headlines-va,semeval-headlines-emotion \
        --pairs carl-plus-queue:supcon-emotion,va-regression:supervised-ce-emotion

Reads each evaluated run's test predictions from beside its evaluation file
(``evals/VARIANT/seedS.test-rows.json.gz``, written by the grid since issue 38's part 4); for a run evaluated
before that, re-scores the model the grid kept (``runs/VARIANT/seedS/model``; for the frozen encoder, the
model its evaluation names) on the named tasks with the preset's probe settings
(``run_tasks(keep_predictions=True)``). Checks that the metric recomputed from the predictions equals the
grid's own evaluation file, and
gives each pair's gap A - B with a bootstrap interval over test texts (paired) and training seeds
(:mod:`carl.evaluation.paired_bootstrap`), at 95 % and at the Bonferroni confidence for all the
comparisons printed together. Writes GRID/paired-gaps.json and .md (``--name`` to change).

``--grid`` may be given more than once (grids of one preset's probes, e.g. the union study and the
union-labels grid): each variant is read from the first grid that has it, and every grid's frozen-encoder
evaluation must agree, which shows that their probes saw the same texts. ``--store-predictions`` writes the
test predictions of a re-scored run beside its evaluation file, as the grid writes them now, so the next
run reads them. A variant that is A in several pairs gets a line saying on how many tasks it is clearly
above every one of its Bs.

``VARIANT@GRID`` in ``--pairs`` reads that variant from that ``--grid`` folder, so that one variant can be compared
with itself across grids of the same probes (issue 38, part 3: two epochs against 1,000 steps):

    python scripts/paired_gaps.py --preset cpu-union-2ep --grid results/union-2ep-cpu \
        --grid results/union-labels-cpu --tasks $TASKS \
        --pairs hybrid-w1@results/union-2ep-cpu:hybrid-w1@results/union-labels-cpu
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib

import numpy as np

from carl.evaluation.paired_bootstrap import METRICS, bonferroni, paired_gap_at
from carl.evaluation.tasks import DEV_SCORED_KINDS, run_tasks, task_spec
from carl.portable import portable_text
from carl.reproduce.grid import EXACT_PROBE_TOLERANCE, predictions_path, probes_differ, read_predictions, write_predictions
from carl.reproduce.presets import FROZEN, FROZEN_LABEL, HEADLINE, PRESETS, VARIANT_BY_NAME


#: How close a metric recomputed from test predictions must be to the evaluation file's (6-decimal rounding).
EXACT = 1e-5


def scored_rows(model: str, tasks: list[str], preset, split_seed: int) -> dict:
    """{task: test_rows} of ``model`` re-scored with the preset's probe settings."""
    result = run_tasks(model, tasks, None, seed=preset.eval_seed, max_train=preset.max_train,
                       max_eval=preset.max_eval, split_seed=split_seed, keep_predictions=True)
    return {task: result["_meta"]["details"][task]["test_rows"] for task in tasks}


def run_rows(evaluation: pathlib.Path, record: dict, model: str | None, tasks: list[str], preset,
             split_seed: int, *, store: bool = False, tolerance: float = EXACT,
             differences: list | None = None) -> dict | None:
    """{task: test_rows} of one evaluated run (``record``: its evaluation file's content): from its sidecar, else
    by re-scoring ``model`` (None: nothing to re-score); None when neither is there. The metric recomputed from
    the rows must equal the evaluation file's to :data:`EXACT` (the stored predictions are rounded to 6
    decimals). A re-scored run may differ by up to ``tolerance`` (the logistic probe's fit is not bit-identical
    across CPUs and thread counts); each such difference is appended to ``differences``, and its rows are
    used but not stored (a sidecar always reproduces its record exactly)."""
    stored = read_predictions(evaluation)
    if stored is not None and all(task in stored for task in tasks):
        rows, rescored = {task: stored[task] for task in tasks}, False
    elif model is not None:
        rows, rescored = scored_rows(model, tasks, preset, split_seed), True
    else:
        return None
    exact = True
    for task in tasks:
        metric, table = HEADLINE[task], rows[task]
        mine, theirs = METRICS[metric](np.array(table["gold"]), np.array(table["pred"])), record["result"][task][metric]
        if math.isclose(mine, theirs, abs_tol=EXACT):
            continue
        if not rescored or abs(mine - theirs) > tolerance:
            raise SystemExit(f"{evaluation}: {task} {metric} from the test predictions is {mine}, the evaluation "
                             f"file says {theirs}; the models or the probe settings are not the grid's"
                             + (f" (--tolerance {tolerance:g} allows a re-scored run to differ that much)"
                                if rescored else ""))
        exact = False
        note = {"evaluation": portable_text(str(evaluation)), "task": task, "metric": metric, "rescored": mine,
                "recorded": theirs}
        print(f"{evaluation}: {task} {metric} re-scored {mine:.6f}, recorded {theirs:.6f} (within --tolerance); "
              "the gaps use the re-scored predictions")
        if differences is not None:
            differences.append(note)
    if store and rescored and exact:
        store_predictions(evaluation, {**(stored or {}), **rows})
    return rows


def store_predictions(evaluation: pathlib.Path, rows: dict) -> None:
    """The test rows beside ``evaluation``, as the grid stores them since they are kept."""
    write_predictions(evaluation, rows)
    print(f"{predictions_path(evaluation)}: stored the re-scored test predictions")


def grid_of(name: str, grids: list[pathlib.Path]) -> tuple[str, pathlib.Path]:
    """(variant, grid): ``VARIANT@GRID``'s variant and grid (one of ``grids``), else ``name`` and the first grid with
    evaluations of it."""
    name, _, where = name.partition("@")
    if where:
        named = [grid for grid in grids if grid == pathlib.Path(where)]
        if not named:
            raise SystemExit(f"--pairs {name}@{where}: {where} is not one of the --grid folders "
                             f"({', '.join(str(g) for g in grids)}); name it with --grid too")
        grids = named
    for grid in grids:
        if any((grid / "evals" / name).glob("seed*.json")):
            return name, grid
    raise SystemExit(f"{name}: no evaluation under {', '.join(str(g / 'evals' / name) for g in grids)}")


def row_label(name: str) -> str:
    """A table's name for a row: the variant's label (with its grid folder's name for ``VARIANT@GRID``)."""
    variant, _, where = name.partition("@")
    label = (VARIANT_BY_NAME[variant].label if variant in VARIANT_BY_NAME else FROZEN_LABEL if variant == FROZEN
             else variant)
    return f"{label} ({pathlib.Path(where).name})" if where else label


def above_every(gaps: list[dict]) -> list[str]:
    """For each variant that is A of more than one pair: on how many tasks it is clearly above every B (at the
    Bonferroni confidence)."""
    lines = []
    for a in dict.fromkeys(g["a"] for g in gaps):
        mine = [g for g in gaps if g["a"] == a]
        bs = list(dict.fromkeys(g["b"] for g in mine))
        if len(bs) < 2:
            continue
        tasks = list(dict.fromkeys(g["task"] for g in mine))
        won = [t for t in tasks if all(g["at_bonferroni"]["clearly_above"] for g in mine if g["task"] == t)]
        lines.append(f"- **{a}** is clearly above every one of {', '.join(bs)} on {len(won)} of {len(tasks)} tasks"
                     + (f" ({', '.join(won)})" if won else ""))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", required=True)
    parser.add_argument("--grid", required=True, type=pathlib.Path, action="append",
                        help="a grid folder; repeat to compare grids of the same preset (outputs go to the first)")
    parser.add_argument("--store-predictions", action="store_true",
                        help="write a re-scored run's test predictions beside its evaluation file")
    parser.add_argument("--tolerance", type=float, default=EXACT,
                        help="how far a re-scored run's metric may be from its evaluation file's (default 1e-5; "
                             "a probe fitted on another CPU or thread count can differ by ~1e-4); every such "
                             "difference is listed in the output")
    parser.add_argument("--probe-tolerance", type=float, default=EXACT_PROBE_TOLERANCE,
                        help="with several --grid: how far their frozen encoder's dev scores may differ (grids "
                             "evaluated on different CPUs: ~5e-3; their frozen test rows must then name the same "
                             "texts)")
    parser.add_argument("--tasks", required=True)
    parser.add_argument("--pairs", required=True, help="A:B,C:D (variant names; 'frozen' for the frozen encoder)")
    parser.add_argument("--replicates", type=int, default=2000)
    parser.add_argument("--name", default="paired-gaps", help="output files: GRID/NAME.json and GRID/NAME.md")
    args = parser.parse_args()
    preset, tasks = PRESETS[args.preset], [t for t in args.tasks.split(",") if t]
    without_rows = [t for t in tasks if task_spec(t).kind not in DEV_SCORED_KINDS]
    if without_rows:
        raise SystemExit(f"--tasks {','.join(without_rows)}: no per-text test predictions are kept for it (only the "
                         "probe tasks keep them; carer-mteb is scored by MTEB's own classifier), so it has no paired "
                         "gap; leave it out and read its seed spread in the grid's REPORT.md")
    pairs = [tuple(p.split(":")) for p in args.pairs.split(",") if p]
    names = sorted({name for pair in pairs for name in pair})
    split_seed = 0
    grids = args.grid
    if len(grids) > 1 and (why := probes_differ(grids, args.probe_tolerance)):
        raise SystemExit(why)
    rows: dict[str, list] = {}  # variant -> [(seed, {task: test_rows})]
    differences: list[dict] = []  # re-scored runs whose metric differs from the record within --tolerance
    for name in names:
        rows[name] = []
        variant, grid = grid_of(name, grids)
        for evaluation in sorted((grid / "evals" / variant).glob("seed*.json")):
            seed, record = int(evaluation.stem.removeprefix("seed")), json.loads(evaluation.read_text())
            if variant == FROZEN:
                model = record["result"]["_meta"]["model"]
            else:
                folder = grid / "runs" / variant / f"seed{seed}" / "model"
                model = str(folder) if folder.is_dir() else None
            scored = run_rows(evaluation, record, model, tasks, preset, split_seed, store=args.store_predictions,
                              tolerance=args.tolerance, differences=differences)
            if scored is None:
                print(f"{evaluation}: no stored test predictions and no model folder; left out")
                continue
            rows[name].append((None if variant == FROZEN else seed, scored))
        if not rows[name]:
            raise SystemExit(f"{name}: no evaluated run with test predictions under {grid}")
    comparisons = len(pairs) * len(tasks)
    strict = bonferroni(0.95, comparisons)
    out = {"preset": args.preset, "grids": [portable_text(str(g)) for g in grids], "tasks": tasks,
           "comparisons": comparisons, "bonferroni_confidence": strict,
           "seeds": {name: [seed for seed, _ in runs] for name, runs in rows.items()}, "gaps": []}
    lines = [f"| A | B | task | A mean | B mean | A − B | 95 % interval | {strict:.4g} interval | clearly |",
             "|---|---|---|---|---|---|---|---|---|"]
    for a, b in pairs:
        for task in tasks:
            metric = HEADLINE[task]
            ids = {tuple(scored[task]["ids"]) for runs in (rows[a], rows[b]) for _, scored in runs}
            if len(ids) != 1:
                raise SystemExit(f"{task}: the models were not scored on the same test rows")
            gold = np.array(rows[a][0][1][task]["gold"])
            preds = {n: [np.array(scored[task]["pred"]) for _, scored in rows[n]] for n in (a, b)}
            wide, narrow = paired_gap_at(gold, preds[a], preds[b], metric, (0.95, strict), replicates=args.replicates)
            means = {a: wide["mean_a"], b: wide["mean_b"]}  # the bootstrap scored every seed on the whole test set
            out["gaps"].append({"a": a, "b": b, "task": task, "metric": metric, "mean_a": means[a], "mean_b": means[b],
                                "at_95": wide, "at_bonferroni": narrow})
            verdict = ("A above B" if narrow["clearly_above"] else "B above A" if narrow["clearly_below"] else
                       "A above B at 95 % only" if wide["clearly_above"] else
                       "B above A at 95 % only" if wide["clearly_below"] else "no")
            label = {n: row_label(n) for n in (a, b)}
            lines.append(f"| {label[a]} | {label[b]} | {task} {metric} (n = {wide['n_test']}) | {means[a]:.3f} | "
                         f"{means[b]:.3f} | {wide['gap']:+.3f} | [{wide['interval'][0]:+.3f}, {wide['interval'][1]:+.3f}] "
                         f"| [{narrow['interval'][0]:+.3f}, {narrow['interval'][1]:+.3f}] | {verdict} |")
    if differences:
        out["rescored_differences"] = differences
        lines += ["", "Re-scored runs whose metric differs from their evaluation file (within --tolerance; the gaps "
                  "above use the re-scored predictions): " + "; ".join(
                      f"{d['evaluation']} {d['task']} {d['rescored']:.4f} (recorded {d['recorded']:.4f})"
                      for d in differences)]
    summary = above_every(out["gaps"])
    if summary:
        out["above_every"] = summary
        lines += ["", *summary]
    (grids[0] / f"{args.name}.json").write_text(json.dumps(out, indent=1) + "\n")
    (grids[0] / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
