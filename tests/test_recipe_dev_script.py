"""scripts/recipe_dev_search.py keeps the committed table's trials whose runs are not on this machine."""

import importlib.util
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location("recipe_dev_search", ROOT / "scripts" / "recipe_dev_search.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_sitting_on_a_new_machine_keeps_the_committed_trials_and_replicate_rows(tmp_path):
    script = load_script()
    assert script.kept_from_table(tmp_path) == ({}, [])
    record = {"name": "queue1024", "dev_va_pearson": 0.69, "dev_tasks": {"sst2": 0.8}}
    (tmp_path / "trials.json").write_text(json.dumps({"trials": [record],
                                                      "replicate_trial_rows": ["| trial: queue1024 | 3 |"]}))
    assert script.kept_from_table(tmp_path) == ({"queue1024": record}, ["| trial: queue1024 | 3 |"])
    (tmp_path / "trials.json").write_text(json.dumps({"trials": []}))
    assert script.kept_from_table(tmp_path) == ({}, [])


def test_kept_replicate_rows_follow_the_grid_rows():
    script = load_script()
    grid = ROOT / "results" / "reproduce-cpu"  # the committed cpu grid's evaluation records
    kept = ["| trial: queue1024 | 3 | old |", "| trial: queue-llrd0.8 | 3 | old |"]
    lines = script.replicate_table({}, grid, kept)
    assert lines[-2:] == kept and lines[1] == "## Replicates: several training seeds, dev only"
    assert any(line.startswith("| grid: carl-plus-queue | 3 |") for line in lines)
    assert script.trial_rows(lines) == kept
    assert script.replicate_table({}, grid, []) == []
