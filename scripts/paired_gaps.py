"""Gaps between a grid's variants with test sampling counted (issue 38, part 4's rule; part 5 first).

    python scripts/paired_gaps.py --preset cpu-headlines --grid results/headlines-cpu \
        --tasks semeval-headlines-va,semeval-headlines-emotion \
        --pairs carl-plus-queue:supcon-emotion,va-regression:supervised-ce-emotion

Re-scores every trained model the grid kept (``runs/VARIANT/seedS/model``) and the frozen encoder on the
named tasks with the preset's probe settings, keeping each test text's prediction
(``run_tasks(keep_predictions=True)``), checks that each score equals the grid's own evaluation file, and
gives each pair's gap A - B with a bootstrap interval over test texts (paired) and training seeds
(:mod:`carl.evaluation.paired_bootstrap`), at 95 % and at the Bonferroni confidence for all the
comparisons printed together. Writes GRID/paired-gaps.json and .md (``--name`` to change).
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib

import numpy as np

from carl.evaluation.paired_bootstrap import METRICS, bonferroni, paired_gap
from carl.evaluation.tasks import run_tasks
from carl.reproduce.grid import FROZEN, HEADLINE, PRESETS, VARIANT_BY_NAME


def scored_rows(model: str, tasks: list[str], preset, split_seed: int) -> dict:
    result = run_tasks(model, tasks, None, seed=preset.eval_seed, max_train=preset.max_train,
                       max_eval=preset.max_eval, split_seed=split_seed, keep_predictions=True)
    return {task: (result[task], result["_meta"]["details"][task]["test_rows"]) for task in tasks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", required=True)
    parser.add_argument("--grid", required=True, type=pathlib.Path)
    parser.add_argument("--tasks", required=True)
    parser.add_argument("--pairs", required=True, help="A:B,C:D (variant names; 'frozen' for the frozen encoder)")
    parser.add_argument("--replicates", type=int, default=2000)
    parser.add_argument("--name", default="paired-gaps", help="output files: GRID/NAME.json and GRID/NAME.md")
    args = parser.parse_args()
    preset, tasks = PRESETS[args.preset], [t for t in args.tasks.split(",") if t]
    pairs = [tuple(p.split(":")) for p in args.pairs.split(",") if p]
    names = sorted({name for pair in pairs for name in pair})
    split_seed = 0
    rows: dict[str, list] = {}  # variant -> [(seed, {task: (metrics, test_rows)})]
    for name in names:
        if name == FROZEN:
            base = json.loads((args.grid / "evals" / FROZEN / "seed0.json").read_text())
            rows[name] = [(None, scored_rows(base["result"]["_meta"]["model"], tasks, preset, split_seed), base)]
            continue
        rows[name] = []
        for model in sorted((args.grid / "runs" / name).glob("seed*/model")):
            seed = int(model.parent.name.removeprefix("seed"))
            evaluation = args.grid / "evals" / name / f"seed{seed}.json"
            if not evaluation.is_file():  # a run the grid has not evaluated yet
                continue
            record = json.loads(evaluation.read_text())
            rows[name].append((seed, scored_rows(str(model), tasks, preset, split_seed), record))
    for name, runs in rows.items():  # the same probe on the same texts must give the grid's own numbers
        for seed, scored, record in runs:
            for task in tasks:
                metric = HEADLINE[task]
                mine, theirs = scored[task][0][metric], record["result"][task][metric]
                if not math.isclose(mine, theirs, abs_tol=1e-6):
                    raise SystemExit(f"{name} seed {seed} {task}: re-scored {metric} {mine} differs from the grid's "
                                     f"{theirs}; the models or the probe settings are not the grid's")
    comparisons = len(pairs) * len(tasks)
    strict = bonferroni(0.95, comparisons)
    out = {"preset": args.preset, "tasks": tasks, "comparisons": comparisons, "bonferroni_confidence": strict,
           "seeds": {name: [seed for seed, _, _ in runs] for name, runs in rows.items()}, "gaps": []}
    lines = [f"| A | B | task | A mean | B mean | A − B | 95 % interval | {strict:.4g} interval | clearly |",
             "|---|---|---|---|---|---|---|---|---|"]
    for a, b in pairs:
        for task in tasks:
            metric = HEADLINE[task]
            ids = {tuple(scored[task][1]["ids"]) for runs in (rows[a], rows[b]) for _, scored, _ in runs}
            if len(ids) != 1:
                raise SystemExit(f"{task}: the models were not scored on the same test rows")
            gold = np.array(rows[a][0][1][task][1]["gold"])
            preds = {n: [np.array(scored[task][1]["pred"]) for _, scored, _ in rows[n]] for n in (a, b)}
            wide = paired_gap(gold, preds[a], preds[b], metric, replicates=args.replicates)
            narrow = paired_gap(gold, preds[a], preds[b], metric, replicates=args.replicates, confidence=strict)
            means = {n: float(np.mean([METRICS[metric](gold, p) for p in preds[n]])) for n in (a, b)}
            out["gaps"].append({"a": a, "b": b, "task": task, "metric": metric, "mean_a": means[a], "mean_b": means[b],
                                "at_95": wide, "at_bonferroni": narrow})
            verdict = ("A above B" if narrow["clearly_above"] else "B above A" if narrow["clearly_below"] else
                       "A above B at 95 % only" if wide["clearly_above"] else
                       "B above A at 95 % only" if wide["clearly_below"] else "no")
            label = {n: VARIANT_BY_NAME[n].label if n in VARIANT_BY_NAME else "frozen encoder" for n in (a, b)}
            lines.append(f"| {label[a]} | {label[b]} | {task} {metric} (n = {wide['n_test']}) | {means[a]:.3f} | "
                         f"{means[b]:.3f} | {wide['gap']:+.3f} | [{wide['interval'][0]:+.3f}, {wide['interval'][1]:+.3f}] "
                         f"| [{narrow['interval'][0]:+.3f}, {narrow['interval'][1]:+.3f}] | {verdict} |")
    (args.grid / f"{args.name}.json").write_text(json.dumps(out, indent=1) + "\n")
    (args.grid / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
