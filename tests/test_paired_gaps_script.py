"""scripts/paired_gaps.py reads the test predictions a grid stores beside each evaluation (issue 38, part 4) and
gives each pair's gap with its interval, after checking the predictions against the evaluation files."""

from __future__ import annotations

import gzip
import json
import sys

import numpy as np
import pytest
from script_loading import load_script

from carl.evaluation.paired_bootstrap import pearson_mean
from carl.reproduce.grid import predictions_path


def _store(grid, variant: str, seed: int, gold: np.ndarray, pred: np.ndarray, *, score: float | None = None,
           dev_score: float = 0.5):
    """One evaluated run as the grid writes it: the record and its gzip sidecar of test rows."""
    record = grid / "evals" / variant / f"seed{seed}.json"
    record.parent.mkdir(parents=True, exist_ok=True)
    score = pearson_mean(gold, pred) if score is None else score
    record.write_text(json.dumps({"variant": variant, "seed": seed, "result": {
        "emobank": {"pearson_mean": score},
        "_meta": {"model": "all-MiniLM-L6-v2", "details": {"emobank": {"dev_scores": {"alpha=1": dev_score}}}}}}))
    rows = {"emobank": {"ids": [f"eb{i}" for i in range(len(gold))], "gold": gold.tolist(), "pred": pred.tolist()}}
    predictions_path(record).write_bytes(gzip.compress(json.dumps(rows).encode()))


def _run(monkeypatch, grid, *extra):
    monkeypatch.setattr(sys, "argv", ["paired_gaps.py", "--preset", "cpu", "--grid", str(grid), "--tasks", "emobank",
                                      "--pairs", "carl:frozen,simcse:frozen", "--replicates", "300", *extra])
    load_script("paired_gaps").main()


def _two_grids(tmp_path, first: str, second: str, rng_seed: int):
    """Two grids of one preset whose frozen encoder scored the same 150 test texts alike, as the comparison requires."""
    rng = np.random.default_rng(rng_seed)
    gold = rng.random((150, 2))
    frozen = gold + rng.normal(0, 0.6, gold.shape)
    grids = tmp_path / first, tmp_path / second
    for grid in grids:
        _store(grid, "frozen", 0, gold, frozen)
    return rng, gold, frozen, *grids


def test_gaps_come_from_the_stored_predictions_without_any_model(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    gold = rng.random((200, 2))
    _store(tmp_path, "frozen", 0, gold, gold + rng.normal(0, 0.6, gold.shape))
    for seed in (0, 1, 2):
        _store(tmp_path, "carl", seed, gold, gold + rng.normal(0, 0.2, gold.shape))
        _store(tmp_path, "simcse", seed, gold, gold + rng.normal(0, 0.6, gold.shape))
    _run(monkeypatch, tmp_path)
    out = json.loads((tmp_path / "paired-gaps.json").read_text())
    assert out["comparisons"] == 2 and out["seeds"] == {"carl": [0, 1, 2], "simcse": [0, 1, 2], "frozen": [None]}
    carl, simcse = out["gaps"]
    assert carl["at_bonferroni"]["clearly_above"] and carl["at_95"]["gap"] > 0.2
    assert not simcse["at_bonferroni"]["clearly_above"] and not simcse["at_bonferroni"]["clearly_below"]
    table = (tmp_path / "paired-gaps.md").read_text()
    assert "| CARL | frozen encoder | emobank pearson_mean (n = 200) |" in table and "| A above B |" in table


def test_predictions_that_disagree_with_the_evaluation_file_stop_the_script(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    gold = rng.random((50, 2))
    _store(tmp_path, "frozen", 0, gold, gold + rng.normal(0, 0.5, gold.shape))
    _store(tmp_path, "carl", 0, gold, gold + rng.normal(0, 0.1, gold.shape), score=0.123)
    _store(tmp_path, "simcse", 0, gold, gold + rng.normal(0, 0.5, gold.shape))
    with pytest.raises(SystemExit, match=r"carl/seed0.json: emobank pearson_mean from the test predictions is .* the "
                                         r"evaluation file says 0.123"):
        _run(monkeypatch, tmp_path)


def test_a_run_with_neither_predictions_nor_model_is_left_out_by_name(tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(3)
    gold = rng.random((80, 2))
    for variant in ("frozen", "carl", "simcse"):
        _store(tmp_path, variant, 0, gold, gold + rng.normal(0, 0.3, gold.shape))
    old = tmp_path / "evals" / "carl" / "seed1.json"
    old.write_text(json.dumps({"result": {"emobank": {"pearson_mean": 0.5}, "_meta": {"model": "gone"}}}))
    _run(monkeypatch, tmp_path)
    assert "carl/seed1.json: no stored test predictions and no model folder; left out" in capsys.readouterr().out
    assert json.loads((tmp_path / "paired-gaps.json").read_text())["seeds"]["carl"] == [0]


def test_a_row_from_outside_the_grids_variants_is_named_by_its_folder(tmp_path, monkeypatch):
    """SetFit's rows (scripts/setfit_union.py --evaluate-into) sit in evals/setfit/: not a grid variant, not frozen."""
    rng = np.random.default_rng(3)
    gold = rng.random((80, 2))
    _store(tmp_path, "frozen", 0, gold, gold + rng.normal(0, 0.5, gold.shape))
    _store(tmp_path, "setfit", 0, gold, gold + rng.normal(0, 0.5, gold.shape))
    monkeypatch.setattr(sys, "argv", ["paired_gaps.py", "--preset", "cpu", "--grid", str(tmp_path), "--tasks",
                                      "emobank", "--pairs", "setfit:frozen", "--replicates", "100"])
    load_script("paired_gaps").main()
    assert "| setfit | frozen encoder | emobank pearson_mean (n = 80) |" in (tmp_path / "paired-gaps.md").read_text()


def test_two_grids_of_one_preset_are_compared_and_a_variant_above_every_other_is_counted(tmp_path, monkeypatch):
    rng, gold, frozen, old, new = _two_grids(tmp_path, "old", "new", rng_seed=4)
    for seed in (0, 1):
        _store(new, "carl", seed, gold, gold + rng.normal(0, 0.15, gold.shape))  # the grid with the new rows
        _store(old, "simcse", seed, gold, gold + rng.normal(0, 0.6, gold.shape))  # a row only the old grid has
    argv = ["paired_gaps.py", "--preset", "cpu", "--grid", str(new), "--grid", str(old), "--tasks", "emobank",
            "--pairs", "carl:frozen,carl:simcse", "--replicates", "300"]
    monkeypatch.setattr(sys, "argv", argv)
    load_script("paired_gaps").main()
    out = json.loads((new / "paired-gaps.json").read_text())
    assert out["seeds"] == {"carl": [0, 1], "simcse": [0, 1], "frozen": [None]} and len(out["grids"]) == 2
    assert out["above_every"] == ["- **carl** is clearly above every one of frozen, simcse on 1 of 1 tasks (emobank)"]
    assert out["above_every"][0] in (new / "paired-gaps.md").read_text()
    # grids whose frozen encoder's probes scored differently on dev saw other texts: no comparison across them
    _store(old, "frozen", 0, gold, frozen, dev_score=0.49)
    with pytest.raises(SystemExit, match="the frozen encoder's scores differ on emobank"):
        load_script("paired_gaps").main()


def test_a_rescored_run_can_store_its_predictions_for_the_next_run(tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(5)
    gold = rng.random((60, 2))
    for variant in ("frozen", "carl", "simcse"):
        _store(tmp_path, variant, 0, gold, gold + rng.normal(0, 0.3, gold.shape))
    stored = json.loads(gzip.decompress(predictions_path(tmp_path / "evals" / "carl" / "seed0.json").read_bytes()))
    predictions_path(tmp_path / "evals" / "carl" / "seed0.json").unlink()  # evaluated before sidecars were kept
    (tmp_path / "runs" / "carl" / "seed0" / "model").mkdir(parents=True)
    script = load_script("paired_gaps")
    monkeypatch.setattr(script, "scored_rows", lambda model, tasks, preset, split_seed: stored)  # the model's rows
    monkeypatch.setattr(sys, "argv", ["paired_gaps.py", "--preset", "cpu", "--grid", str(tmp_path), "--tasks",
                                      "emobank", "--pairs", "carl:frozen", "--replicates", "100", "--store-predictions"])
    script.main()
    assert "carl/seed0.test-rows.json.gz: stored the re-scored test predictions" in capsys.readouterr().out
    sidecar = predictions_path(tmp_path / "evals" / "carl" / "seed0.json")
    assert json.loads(gzip.decompress(sidecar.read_bytes())) == stored


def test_a_task_without_per_text_predictions_is_refused_before_any_scoring(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["paired_gaps.py", "--preset", "cpu", "--grid", str(tmp_path), "--tasks",
                                      "emobank,carer-mteb", "--pairs", "carl:frozen"])
    with pytest.raises(SystemExit, match="--tasks carer-mteb: no per-text test predictions"):
        load_script("paired_gaps").main()


def test_a_rescored_run_within_tolerance_is_used_listed_and_not_stored(tmp_path, monkeypatch, capsys):
    """A probe refitted on another CPU may move a metric by ~1e-4: allowed only when asked, said, never stored."""
    rng = np.random.default_rng(6)
    gold = rng.random((60, 2))
    for variant in ("frozen", "carl"):
        _store(tmp_path, variant, 0, gold, gold + rng.normal(0, 0.3, gold.shape))
    record = tmp_path / "evals" / "frozen" / "seed0.json"
    rows = json.loads(gzip.decompress(predictions_path(record).read_bytes()))
    predictions_path(record).unlink()
    saved = json.loads(record.read_text())
    saved["result"]["emobank"]["pearson_mean"] += 3e-4  # recorded on another machine
    record.write_text(json.dumps(saved))
    script = load_script("paired_gaps")
    monkeypatch.setattr(script, "scored_rows", lambda model, tasks, preset, split_seed: rows)
    argv = ["paired_gaps.py", "--preset", "cpu", "--grid", str(tmp_path), "--tasks", "emobank", "--pairs",
            "carl:frozen", "--replicates", "100", "--store-predictions"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit, match=r"--tolerance 1e-05 allows a re-scored run to differ that much"):
        script.main()
    monkeypatch.setattr(sys, "argv", argv + ["--tolerance", "1e-3"])
    script.main()
    out = json.loads((tmp_path / "paired-gaps.json").read_text())
    assert [d["task"] for d in out["rescored_differences"]] == ["emobank"]
    assert "frozen/seed0.json emobank" in (tmp_path / "paired-gaps.md").read_text()
    assert "within --tolerance" in capsys.readouterr().out and not predictions_path(record).exists()


def test_one_variant_is_compared_with_itself_across_two_grids_by_folder(tmp_path, monkeypatch):
    """Issue 38, part 3: the same variant trained longer in another grid; VARIANT@GRID picks the grid."""
    rng, gold, _, short, long = _two_grids(tmp_path, "short", "long", rng_seed=5)
    for seed in (0, 1):
        _store(long, "carl", seed, gold, gold + rng.normal(0, 0.1, gold.shape))
        _store(short, "carl", seed, gold, gold + rng.normal(0, 0.5, gold.shape))
    argv = ["paired_gaps.py", "--preset", "cpu", "--grid", str(long), "--grid", str(short), "--tasks", "emobank",
            "--pairs", f"carl@{long}:carl@{short}", "--replicates", "300", "--name", "longer"]
    monkeypatch.setattr(sys, "argv", argv)
    load_script("paired_gaps").main()
    gap, = json.loads((long / "longer.json").read_text())["gaps"]
    assert gap["a"] == f"carl@{long}" and gap["mean_a"] > gap["mean_b"] + 0.2 and gap["at_bonferroni"]["clearly_above"]
    assert "| CARL (long) | CARL (short) | emobank" in (long / "longer.md").read_text()
    argv[argv.index("--pairs") + 1] = f"carl@{tmp_path / 'elsewhere'}:carl@{short}"
    with pytest.raises(SystemExit, match="elsewhere is not one of the --grid folders"):
        load_script("paired_gaps").main()
