#!/usr/bin/env python3
"""Seconds per training step of every row of the union studies (issue 38), measured in one run.

Each row is the grid's own job (``carl.reproduce.grid.plan`` on its preset: the union study's
``cpu-union`` rows and ``cpu-union-labels``' V-A regression, hybrid and SimCSE τ 0.1), trained by
``carl.training.trainer.train`` itself on the union's texts, so a step here is the step the grid
ran: its batch, objective, heads, PTD and queue. What differs from the grid, none of it part of a
step: the run stops after ``--steps`` steps (``train.stop_after``, the 1,000-step schedule kept),
logs every ``--window`` steps, and checks dev on 50 texts per corpus instead of 1,000 (the step-0
dev check is outside the timing anyway). The trainer's own ``seconds_per_step`` log (time between
logs, evaluation and checkpoints excluded) is read back; the first window (first-call allocations)
is dropped and the median of the rest reported.

Rounds alternate the order (A B C ... then ... C B A) so drift in the machine's load hits every
row alike; the median is over every kept window of every round. SetFit is not a row here: it runs in
its own environment and its step is a pair batch (``scripts/setfit_union.py`` logs its own time).

    python benchmarks/union_step_cost.py                 # every row, 60 steps, 2 rounds (quiet machine, ~40 min)
    python benchmarks/union_step_cost.py --quick         # smoke: 2 rows, 6 steps, 1 round (not a result)

Writes ``benchmarks/results/union_step_cost_cpu.json`` / ``.md``. Nothing asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import _bench  # noqa: E402  (puts the checkout's src/ on sys.path when carl is not installed)
import torch  # noqa: E402

from carl.reproduce.grid import plan  # noqa: E402
from carl.reproduce.presets import PRESETS, VARIANT_BY_NAME  # noqa: E402
from carl.training.trainer import train  # noqa: E402

#: (preset, variant) of every trained row of the union study and of issue 38's label-type grid.
ROWS: tuple[tuple[str, str], ...] = (
    *(("cpu-union", v) for v in ("carl", "online-only", "carl-plus", "carl-plus-queue", "supervised-ce",
                                 "supcon", "supervised-ce-emotion", "supcon-emotion", "simcse")),
    ("cpu-union-labels", "va-regression"), ("cpu-union-labels", "hybrid-w1"), ("cpu-union-labels", "simcse-t0.1"),
)
QUICK_ROWS = (("cpu-union", "supervised-ce-emotion"), ("cpu-union-labels", "hybrid-w1"))


def step_seconds(preset_name: str, variant: str, *, steps: int, window: int, data_dir: str | None,
                 scratch: pathlib.Path) -> list[float]:
    """The trainer's seconds-per-step log of one row's first ``steps`` steps, one value per window."""
    out = scratch / preset_name / variant
    _, jobs = plan(PRESETS[preset_name], out, variants=[variant], seeds=[0], data_dir=data_dir)
    cfg = jobs[0].config.override({"train.stop_after": steps, "train.log_every": window,
                                   "data.max_dev_per_corpus": 50, "train.output_dir": str(jobs[0].run_dir)})
    train(cfg.validate(), progress=False)
    rows = [json.loads(line) for line in (jobs[0].run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["seconds_per_step"] for r in rows if "seconds_per_step" in r]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--window", type=int, default=10, help="steps per logged timing")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--data-dir", default=None, help="corpora folder (default: carl's data dir)")
    parser.add_argument("--quick", action="store_true", help="2 rows, 6 steps of 2-step windows, 1 round")
    parser.add_argument("--output", type=pathlib.Path, default=_bench.RESULTS / "union_step_cost_cpu")
    args = parser.parse_args(argv)
    rows = QUICK_ROWS if args.quick else ROWS
    steps, window, rounds = (6, 2, 1) if args.quick else (args.steps, args.window, args.rounds)
    if steps < 2 * window:
        parser.error(f"--steps {steps} must hold at least two windows of --window {window} (the first is dropped)")

    env = _bench.environment(torch.device("cpu"))
    windows: dict[str, list[float]] = {f"{p}/{v}": [] for p, v in rows}
    with tempfile.TemporaryDirectory(prefix="carl-union-step-cost-") as tmp:
        for r in range(rounds):
            order = rows if r % 2 == 0 else tuple(reversed(rows))
            for preset_name, variant in order:
                logged = step_seconds(preset_name, variant, steps=steps, window=window, data_dir=args.data_dir,
                                      scratch=pathlib.Path(tmp) / f"round{r}")
                windows[f"{preset_name}/{variant}"] += logged[1:]
                print(f"round {r + 1}/{rounds} {preset_name}/{variant}: {[round(s, 3) for s in logged]}", flush=True)
    env = _bench.finish_environment(env)

    summary = {key: _bench.summarize(v) for key, v in windows.items()}
    table_rows = []
    for preset_name, variant in rows:
        s = summary[f"{preset_name}/{variant}"]
        table_rows.append([VARIANT_BY_NAME[variant].label, f"`{preset_name}` / `{variant}`",
                           f"{s['median_ms'] / 1000:.3f}", f"{s['min_ms'] / 1000:.3f}–{s['max_ms'] / 1000:.3f}", s["n"]])
    payload = {"format": "carl-bench-union-step-cost/1", "environment": env, "steps": steps, "window": window,
               "rounds": rounds, "quick": bool(args.quick), "seconds_per_step_windows": windows, "summary": summary}
    markdown = ("# Seconds per training step, union-study rows\n\n"
                + ("**Smoke run (--quick): not a result.**\n\n" if args.quick else "")
                + f"The grid's own jobs (seed 0) trained for {steps} steps each, {rounds} round(s) in alternating "
                  f"order; the trainer's seconds-per-step over windows of {window} steps, the first window of each "
                  "run dropped; median and range over the kept windows.\n\n"
                + _bench.table(["row", "preset / variant", "median s/step", "range", "windows"], table_rows)
                + "\n" + _bench.environment_markdown(env))
    json_path, md_path = _bench.write_report(args.output, payload, markdown)
    sys.stdout.write(markdown + f"\nwritten: {json_path}, {md_path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
