"""scripts/labels_glance.py: the README's label type x loss table, from a grid's evaluation records and its
paired-gap report (issue 38)."""

from __future__ import annotations

import json
import pathlib
import re

import pytest
from script_loading import load_script

from carl.evaluation.tasks import dev_scored_tasks
from carl.reproduce.presets import HEADLINE

REPO = pathlib.Path(__file__).resolve().parents[1]


def _record(grid, name: str, seed: int, test: float, dev: float, machine: str = "CPU A") -> None:
    """An evaluation record whose every test metric is ``test`` and every dev selection score ``dev``."""
    path = grid / "evals" / name / f"seed{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    result = {task: {metric: test} for task, metric in HEADLINE.items()}
    result["_meta"] = {"details": {t: {"dev_scores": {"C=1": dev - 0.1, "C=10": dev}} for t in dev_scored_tasks()}}
    path.write_text(json.dumps({"variant": name, "seed": seed, "machine": machine, "result": result}))


def _gap(a: str, b: str, task: str, above: bool, below: bool = False) -> dict:
    return {"a": a, "b": b, "task": task, "at_bonferroni": {"clearly_above": above, "clearly_below": below}}


def _gaps(grid, gaps: list[dict], tasks: list[str]) -> None:
    (grid / "paired-gaps-every.json").write_text(json.dumps(
        {"tasks": tasks, "comparisons": len(gaps), "bonferroni_confidence": 0.99, "gaps": gaps}))


def test_the_table_averages_seeds_and_counts_tasks_clear_of_every_baseline(tmp_path, capsys):
    _record(tmp_path, "hybrid-w1", 0, test=0.6, dev=0.7)
    _record(tmp_path, "hybrid-w1", 1, test=0.8, dev=0.5)
    _record(tmp_path, "frozen", 0, test=0.5, dev=0.4, machine="CPU B")
    _record(tmp_path, "supervised-ce-emotion", 0, test=0.75, dev=0.55)
    _record(tmp_path, "supervised-ce-emotion", 1, test=0.75, dev=0.55, machine="CPU B")
    _gaps(tmp_path, [_gap("hybrid-w1", "frozen", "emobank", True), _gap("hybrid-w1", "supervised-ce-emotion",
                                                                        "emobank", True),
                     _gap("hybrid-w1", "frozen", "tec", True), _gap("hybrid-w1", "supervised-ce-emotion", "tec", False),
                     _gap("hybrid-w1", "frozen", "mr", False), _gap("hybrid-w1", "supervised-ce-emotion", "mr", False,
                                                                     below=True)],
          ["emobank", "tec", "mr"])
    load_script("labels_glance").main(["--grid", str(tmp_path)])
    text = (tmp_path / "glance.md").read_text()
    assert text == capsys.readouterr().out.rstrip("\n") + "\n"
    hybrid = next(line for line in text.splitlines() if line.startswith("| hybrid-w1 |"))
    # two seeds: dev (0.7 + 0.5) / 2 from each task's best dev setting, the column's best (bold); test
    # (0.6 + 0.8) / 2 in every test column, below CE's 0.75 there
    assert hybrid.split(" | ")[3:] == ["2", "**0.600**", "0.700", "0.700", "0.700", "0.700 |"]
    assert "| supervised-ce-emotion | emotion classes | supervised: cross-entropy | 2 | 0.550 | **0.750** |" in text
    assert "| frozen | none | none (frozen encoder) | – | 0.400 | 0.500 |" in text
    assert ("clearly above every one of its 2 baselines in paired-gaps-every (frozen, supervised-ce-emotion) on "
            "**1 of 3** tasks (emobank); some baseline is clearly above it on 1 (mr)") in text
    assert "CPU A: supervised-ce-emotion (seed 0), hybrid-w1; CPU B: supervised-ce-emotion (seed 1), frozen" in text
    # the square's rows come first, whatever order the folders were written in
    assert text.index("| supervised-ce-emotion |") < text.index("| hybrid-w1 |") < text.index("| frozen |")


def test_a_missing_gap_report_names_the_command_that_writes_it(tmp_path):
    _record(tmp_path, "hybrid-w1", 0, test=0.6, dev=0.7)
    with pytest.raises(SystemExit, match="paired-gaps-every.json not found: run scripts/paired_gaps.py --name"):
        load_script("labels_glance").main(["--grid", str(tmp_path)])


def test_a_recipe_absent_from_the_gap_report_is_refused_not_counted_above_everything(tmp_path):
    _record(tmp_path, "hybrid-w1", 0, test=0.6, dev=0.7)
    _gaps(tmp_path, [_gap("carl-plus-queue", "frozen", "emobank", True)], ["emobank"])
    with pytest.raises(SystemExit, match=r"no pair with hybrid-w1 as A: give --recipe one of \['carl-plus-queue'\]"):
        load_script("labels_glance").main(["--grid", str(tmp_path)])


def test_a_folder_without_any_row_is_refused_by_name(tmp_path):
    with pytest.raises(SystemExit, match="holds none of the rows"):
        load_script("labels_glance").main(["--grid", str(tmp_path)])


def test_the_readme_table_is_the_committed_grids():
    """README's "Results at a glance" rows are the table this script derives from results/union-labels-cpu now."""
    text = load_script("labels_glance").glance(REPO / "results" / "union-labels-cpu", "paired-gaps-every", "hybrid-w1")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| model |")]
    assert len(rows) == 9
    for row in rows:
        assert row in readme, f"README.md lacks the row {row!r}: paste results/union-labels-cpu/glance.md's table"
    clear = re.search(r"on \*\*(\d+) of (\d+)\*\* tasks", text)
    assert f"on {clear[1]} of {clear[2]}" in readme
