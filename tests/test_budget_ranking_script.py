"""scripts/budget_ranking.py: the three strongest label-grid rows at 1,000 steps and at two epochs, ranked on dev
(issue 38, part 3)."""

from __future__ import annotations

import json

import pytest
from script_loading import load_script

from carl.evaluation.tasks import dev_scored_tasks
from carl.reproduce.presets import HEADLINE


def _run(grid, name: str, seed: int, *, test: float, dev: float, steps: int, kept: int, frozen_dev: float = 0.4):
    """An evaluated run as a grid writes it: its evaluation record and its trainer summary."""
    path = grid / "evals" / name / f"seed{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    score = frozen_dev if name == "frozen" else dev
    result = {task: {metric: test} for task, metric in HEADLINE.items()}
    result["_meta"] = {"details": {t: {"dev_scores": {"C=1": score - 0.1, "C=10": score}} for t in dev_scored_tasks()}}
    path.write_text(json.dumps({"variant": name, "seed": seed, "machine": "CPU A", "result": result}))
    if name != "frozen":
        run = grid / "runs" / name / f"seed{seed}"
        run.mkdir(parents=True)
        (run / "summary.json").write_text(json.dumps({"steps": steps, "best_step": kept, "seconds": 3600.0}))


@pytest.fixture
def grids(tmp_path):
    short, long = tmp_path / "union-labels", tmp_path / "union-2ep"
    for grid in (short, long):
        _run(grid, "frozen", 0, test=0.5, dev=0.4, steps=0, kept=0)
    for seed in (0, 1, 2):  # at 1,000 steps CE leads on dev, the hybrid second (seed 2, left out, would swap them)
        _run(short, "supervised-ce-emotion", seed, test=0.7, dev=0.66, steps=1000, kept=1000)
        _run(short, "hybrid-w1", seed, test=0.6, dev=0.64 + 0.01 * seed + 0.1 * (seed == 2), steps=1000, kept=900)
    for seed in (0, 1):  # twice the data: the order swaps
        _run(long, "supervised-ce-emotion", seed, test=0.72, dev=0.65, steps=2646, kept=2646 - 46 * seed)
        _run(long, "hybrid-w1", seed, test=0.65, dev=0.68, steps=2646, kept=2400)
    return short, long


def test_both_budgets_are_ranked_on_dev_with_kept_steps_and_a_changed_order_is_said(grids, capsys):
    short, long = grids
    load_script("budget_ranking").main(["--short", str(short), "--long", str(long)])
    text = (long / "ranking.md").read_text()
    assert text == capsys.readouterr().out.rstrip("\n") + "\n"
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]
    # long budget first, its dev leader first; the short grid at the long one's seeds: the hybrid's
    # (0.64 + 0.65) / 2, its seed 2 left out
    assert [(r[1], r[2], r[3], r[4], r[6], r[-1]) for r in rows] == [
        ("union-2ep", "0, 1", "2646", "2400, 2400", "0.680", "1 |"),
        ("union-labels", "0, 1", "1000", "900, 900", "0.645", "2 |"),
        ("union-2ep", "0, 1", "2646", "2646, 2600", "0.650", "2 |"),
        ("union-labels", "0, 1", "1000", "1000, 1000", "0.660", "1 |")]
    assert rows[0][0] == "| hybrid w=1 (recipe)" and rows[0][7] == "0.650"  # a test column, reported
    assert "the same at both budgets for 0 of 2; 1 of 4 union-2ep runs kept their last step" in text


def test_a_variant_missing_at_one_budget_or_other_probes_stop_the_script(grids):
    short, long = grids
    _run(long, "carl-plus-queue", 0, test=0.6, dev=0.6, steps=2646, kept=2646)
    with pytest.raises(SystemExit, match="union-labels/evals lacks the seeds .* of carl-plus-queue"):
        load_script("budget_ranking").main(["--short", str(short), "--long", str(long)])
    _run(short, "carl-plus-queue", 0, test=0.6, dev=0.6, steps=1000, kept=1000)
    _run(short, "frozen", 0, test=0.5, dev=0.4, steps=0, kept=0, frozen_dev=0.401)
    with pytest.raises(SystemExit, match=r"scores differ .* \(by up to 0.001, tolerance 1e-09\)"):
        load_script("budget_ranking").main(["--short", str(short), "--long", str(long)])
    # another CPU's probe fit: allowed by a tolerance, but then the frozen test rows must show the same texts
    with pytest.raises(SystemExit, match="must name the same texts, and one grid stores none"):
        load_script("budget_ranking").main(["--short", str(short), "--long", str(long), "--probe-tolerance", "0.005"])
