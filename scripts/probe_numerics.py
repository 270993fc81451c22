#!/usr/bin/env python3
"""Does a logistic probe's dev score depend on the machine's arithmetic? (issue 38, the probes' "machine noise")

    python scripts/probe_numerics.py                     # frozen MiniLM, SST-5 and CARER, the union grids' probes

The frozen encoder's probes scored differently on two CPUs (results/union-2ep-cpu/README.md). This script
separates the two candidate causes on one machine:

1. **The embeddings.** The evaluation's own probe inputs (``carl.evaluation.tasks.run_tasks``, the union
   grids' sizes: ≤ 4,000 train, ≤ 2,000 dev texts) are captured twice, once with one torch thread and once
   with two, each in its own process, and compared element by element.
2. **The fit.** ``carl.evaluation.probes.classification_probe`` is run on the one-thread inputs in
   processes with 1 and with 2 BLAS threads, under its committed settings (float32 embeddings as the encoder
   gives them, lbfgs ``tol=1e-4``, ``max_iter=1000``) and under a tight one (float64, ``tol=1e-8``,
   ``max_iter=10000``). Dev macro-F1 for every C of its grid; no test split is read.

Writes ``OUTPUT.md`` / ``OUTPUT.json`` (default results/probe-numerics/probe_numerics).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

import carl.evaluation.tasks as evaluation_tasks
from carl.evaluation.probes import classification_probe
from carl.evaluation.report import cpu_model

SETTINGS = {  # name: (dtype, tol, max_iter)
    "committed (float32, tol 1e-4, max_iter 1000)": ("float32", 1e-4, 1000),
    "tight (float64, tol 1e-8, max_iter 10000)": ("float64", 1e-8, 10000),
}
THREADS = (1, 2)


def capture(model: str, tasks: list[str], data_dir: str | None, max_train: int, max_eval: int, split_seed: int,
            out: pathlib.Path) -> None:
    """Save each task's probe inputs exactly as the evaluation passes them to the probe (one .npz per task)."""
    probe, current = evaluation_tasks.classification_probe, {}

    def recording_probe(train_x, train_y, dev_x, dev_y, *rest, **kwargs):
        np.savez(out / f"{current['task']}.npz", train_x=train_x, train_y=train_y, dev_x=dev_x, dev_y=dev_y)
        return probe(train_x, train_y, dev_x, dev_y, *rest, **kwargs)

    # The module's own name is what _run_classification calls, so replacing it records the real inputs.
    evaluation_tasks.classification_probe = recording_probe
    try:
        for task in tasks:
            current["task"] = task
            evaluation_tasks.run_tasks(model, [task], data_dir, seed=0, max_train=max_train, max_eval=max_eval,
                                       split_seed=split_seed, dev_only=True)
    finally:
        evaluation_tasks.classification_probe = probe


def fit_scores(folder: pathlib.Path, tasks: list[str]) -> dict:
    """{setting: {task: {C: dev macro-F1}}} of classification_probe on the saved inputs, in this process."""
    scores: dict = {name: {} for name in SETTINGS}
    for task in tasks:
        d = np.load(folder / f"{task}.npz")
        for name, (dtype, tol, max_iter) in SETTINGS.items():
            result = classification_probe(d["train_x"].astype(dtype), d["train_y"], d["dev_x"].astype(dtype),
                                          d["dev_y"], None, None, max_iter=max_iter, tol=tol)
            scores[name][task] = result.dev_scores
    return scores


def in_subprocess(threads: int, *args: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads)}
    subprocess.run([sys.executable, __file__, *args], env=env, check=True)


def largest_gap(a: dict, b: dict) -> float:
    """max |a[C] - b[C]| over the Cs both hold."""
    return max(abs(a[c] - b[c]) for c in a.keys() & b.keys())


def markdown(report: dict) -> str:
    tasks, lines = report["tasks"], ["# Probe numerics: the same probe inputs at 1 and 2 threads\n"]
    lines.append(f"Command: `{report['command']}`; model {report['model']}, ≤ {report['max_train']} train / "
                 f"≤ {report['max_eval']} dev texts per task, split seed {report['split_seed']}; dev only.\n")
    lines.append("**Embeddings.** Largest |difference| between the probe inputs captured with 1 and with 2 torch "
                 "threads: " + ", ".join(f"{t} {report['embedding_max_abs_diff'][t]:.3g}" for t in tasks) + ".\n")
    lines.append("**Fits.** Dev macro-F1 of `classification_probe` on the 1-thread inputs, fitted with 1 and 2 "
                 "BLAS threads:\n")
    cs = list(report["fits"]["1"][next(iter(SETTINGS))][tasks[0]])  # the probe's C grid, as it named it
    lines.append("| setting | task | threads | " + " | ".join(cs) + " |")
    lines.append("|---|---|---|" + "---|" * len(cs))
    for name in SETTINGS:
        for task in tasks:
            for threads in THREADS:
                row = report["fits"][str(threads)][name][task]
                lines.append(f"| {name} | {task} | {threads} | " + " | ".join(f"{row[c]:.5f}" for c in cs) + " |")
    lines.append("\nLargest dev macro-F1 gap between 1 and 2 threads, over the C grid:\n")
    lines.append("| setting | " + " | ".join(tasks) + " |")
    lines.append("|---|" + "---|" * len(tasks))
    for name in SETTINGS:
        lines.append(f"| {name} | " + " | ".join(f"{report['thread_gap'][name][t]:.5f}" for t in tasks) + " |")
    lines.append(f"\nMachine: {report['machine']}; date {report['date']}.")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--tasks", default="sst5,carer")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--max-train", type=int, default=4000)
    parser.add_argument("--max-eval", type=int, default=2000)
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--output", type=pathlib.Path, default=pathlib.Path("results/probe-numerics/probe_numerics"))
    parser.add_argument("--capture-into", type=pathlib.Path, help=argparse.SUPPRESS)  # child process: step 1
    parser.add_argument("--fit-from", type=pathlib.Path, help=argparse.SUPPRESS)      # child process: step 2
    args = parser.parse_args(argv)
    tasks = [t for t in args.tasks.split(",") if t]
    if args.capture_into:
        capture(args.model, tasks, args.data_dir, args.max_train, args.max_eval, args.split_seed, args.capture_into)
        return 0
    if args.fit_from:
        (args.fit_from / f"fits-{os.environ['OMP_NUM_THREADS']}.json").write_text(
            json.dumps(fit_scores(args.fit_from, tasks)))
        return 0

    common = ["--model", args.model, "--tasks", args.tasks, "--max-train", str(args.max_train),
              "--max-eval", str(args.max_eval), "--split-seed", str(args.split_seed),
              *(["--data-dir", args.data_dir] if args.data_dir else [])]
    with tempfile.TemporaryDirectory(prefix="carl-probe-numerics-") as tmp:
        folders = {t: pathlib.Path(tmp) / f"threads{t}" for t in THREADS}
        for threads, folder in folders.items():
            folder.mkdir()
            in_subprocess(threads, *common, "--capture-into", str(folder))
        diff = {}
        for task in tasks:
            a, b = (np.load(folders[t] / f"{task}.npz") for t in THREADS)
            if not all(np.array_equal(a[k], b[k]) for k in ("train_y", "dev_y")):
                sys.exit(f"{task}: the two captures hold different texts; the comparison needs the same rows")
            diff[task] = float(max(np.abs(a[k] - b[k]).max() for k in ("train_x", "dev_x")))
        for threads in THREADS:
            in_subprocess(threads, *common, "--fit-from", str(folders[1]))
        fits = {str(t): json.loads((folders[1] / f"fits-{t}.json").read_text()) for t in THREADS}
    gap = {name: {task: largest_gap(fits["1"][name][task], fits["2"][name][task]) for task in tasks}
           for name in SETTINGS}
    report = {"command": "python scripts/probe_numerics.py" + (f" {' '.join(argv)}" if argv else ""),
              "model": args.model, "tasks": tasks, "max_train": args.max_train, "max_eval": args.max_eval,
              "split_seed": args.split_seed, "embedding_max_abs_diff": diff, "fits": fits, "thread_gap": gap,
              "machine": f"{cpu_model()}, {os.cpu_count()} cores",
              "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
              "versions": evaluation_tasks.package_versions()}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    text = markdown(report)
    args.output.with_suffix(".md").write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
