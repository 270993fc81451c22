"""scripts/recipe_dev_search.py keeps the committed table's trials whose runs are not on this machine."""

import json
import pathlib

from script_loading import load_script

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_a_sitting_on_a_new_machine_keeps_the_committed_trials_and_replicate_rows(tmp_path):
    script = load_script("recipe_dev_search")
    assert script.kept_from_table(tmp_path) == ({}, [])
    record = {"name": "queue1024", "dev_va_pearson": 0.69, "dev_tasks": {"sst2": 0.8}}
    (tmp_path / "trials.json").write_text(json.dumps({"trials": [record],
                                                      "replicate_trial_rows": ["| trial: queue1024 | 3 |"]}))
    assert script.kept_from_table(tmp_path) == ({"queue1024": record}, ["| trial: queue1024 | 3 |"])
    (tmp_path / "trials.json").write_text(json.dumps({"trials": []}))
    assert script.kept_from_table(tmp_path) == ({}, [])


def test_kept_replicate_rows_follow_the_grid_rows():
    script = load_script("recipe_dev_search")
    grid = ROOT / "results" / "reproduce-cpu"  # the committed cpu grid's evaluation records
    kept = ["| trial: queue1024 | 3 | old |", "| trial: queue-llrd0.8 | 3 | old |"]
    lines = script.replicate_table({}, grid, kept)
    assert lines[-2:] == kept and lines[1] == "## Replicates: several training seeds, dev only"
    assert any(line.startswith("| grid: carl-plus-queue | 3 |") for line in lines)
    assert script.trial_rows(lines) == kept
    assert script.replicate_table({}, grid, []) == []


def fake_train_job(job):
    """Writes what a finished trial run holds (summary, dev curve) unless the run exists; seconds trained."""
    if (job.run_dir / "summary.json").is_file():
        return 0.0
    job.run_dir.mkdir(parents=True)
    (job.run_dir / "summary.json").write_text(json.dumps({"best_dev_va_pearson": 0.6, "best_step": 100,
                                                          "seconds": 12.0}))
    (job.run_dir / "metrics.jsonl").write_text(json.dumps({"step": 100, "dev/va_pearson": 0.6}) + "\n")
    return 12.0


def test_each_trial_keeps_the_command_of_the_sitting_that_trained_it(tmp_path, monkeypatch):
    script = load_script("recipe_dev_search")
    monkeypatch.setattr(script, "train_job", fake_train_job)
    out, runs, grid = tmp_path / "table", tmp_path / "runs", tmp_path / "grid"
    folders = ["--out", str(out), "--runs", str(runs), "--grid", str(grid), "--no-task-dev"]
    commits = iter(["aaaaaaa", "bbbbbbb", "bbbbbbb", "ccccccc"])
    monkeypatch.setattr(script, "git_commit", lambda: next(commits))

    script.main(["--only", "supcon-lr1e-4", *folders])
    script.main(["--only", "recipe-tau0.05", "supcon-lr1e-4", *folders])  # supcon-lr1e-4 is cached: its sitting stays the first
    table = (out / "trials.md").read_text()
    first = "`python scripts/recipe_dev_search.py --only supcon-lr1e-4 --out"
    second = "`python scripts/recipe_dev_search.py --only recipe-tau0.05 supcon-lr1e-4 --out"
    assert f"1. {first}" in table and "commit aaaaaaa" in table
    assert f"2. {second}" in table and "commit bbbbbbb" in table
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in table.splitlines()
            if line.startswith("| ") and "dev r at each check" not in line and "| variant" not in line
            and not line.startswith("| grid")}
    assert rows["supcon-lr1e-4"] == "1" and rows["recipe-tau0.05"] == "2"
    assert f"Last written by {second}" in table

    # A run trained before runs recorded their sitting keeps the one its committed record names.
    (runs / "supcon-lr1e-4" / "seed0" / "sitting.json").unlink()
    script.main(["--only", "recipe-tau0.05", *folders])
    assert "| supcon-lr1e-4 | 1 |" in (out / "trials.md").read_text()

    # A sitting on a new machine (the runs are not here) keeps the committed records' sittings.
    import shutil
    shutil.rmtree(runs)
    script.main(["--only", "recipe-queue256", *folders])
    records = {t["name"]: t for t in json.loads((out / "trials.json").read_text())["trials"]}
    assert records["supcon-lr1e-4"]["sitting"]["commit"] == "aaaaaaa"
    assert records["recipe-tau0.05"]["sitting"]["commit"] == "bbbbbbb"
    assert records["recipe-queue256"]["sitting"]["commit"] == "ccccccc"
    assert "recipe-queue256 --out" in records["recipe-queue256"]["sitting"]["command"]

    # --tables-only trains nothing and keeps every row's sitting.
    def no_training(job):
        raise AssertionError(f"--tables-only trained {job.run_dir}")

    monkeypatch.setattr(script, "train_job", no_training)
    monkeypatch.setattr(script, "git_commit", lambda: "ddddddd")
    script.main(["--tables-only", *folders])
    table = (out / "trials.md").read_text()
    assert "| supcon-lr1e-4 | 1 |" in table and "| recipe-tau0.05 | 2 |" in table
    assert "| recipe-queue256 | 3 |" in table and "commit ddddddd" in table.split("## Sittings")[0]
    assert "commit ddddddd" not in table.split("## Sittings")[1]


def test_trials_without_a_recorded_sitting_are_marked_and_explained():
    script = load_script("recipe_dev_search")
    sitting = {"command": "python scripts/recipe_dev_search.py --only b", "date": "2026-12-02T00:00+00:00",
               "commit": "abc1234", "machine": "AMD EPYC, 2 cores"}
    lines, labels = script.sitting_lines([{"name": "a"}, {"name": "b", "sitting": sitting},
                                          {"name": "c", "sitting": dict(sitting)}])
    assert labels == {"a": "–", "b": "1", "c": "1"}
    assert lines[0].startswith("1. `python scripts/recipe_dev_search.py --only b` (2026-12-02")
    assert len(lines) == 2 and "docs/method.md" in lines[1]
