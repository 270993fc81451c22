"""scripts/trial_agreement.py: the learning-rate trial's ranking of the contenders against the grid's, on dev."""

from __future__ import annotations

import json

import pytest
from script_loading import load_script


def _write(path, record):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def _trial(score):
    return {"result": {"emobank": {"dev_score": score}, "tec": {"dev_score": score / 2}, "_meta": {}}}


def _grid(score):
    # the probe chose the best dev setting: only the maximum of each task's dev scores counts
    return {"result": {"_meta": {"details": {"emobank": {"dev_scores": {"alpha=1": score, "alpha=10": score - 0.1}},
                                             "tec": {"dev_scores": {"C=1": score / 2, "C=10": 0.0}},
                                             "geometry": {"pair_rules": {}}}}}}


def test_ranks_and_rank_correlation(tmp_path):
    script = load_script("trial_agreement")
    trial, grid = tmp_path / "trial", tmp_path / "grid"
    trial_scores = {"carl": 0.6, "simcse": 0.4, "supervised-ce-emotion": 0.5, "supcon": 0.7}
    grid_scores = {"carl": [0.7, 0.8], "simcse": [0.5, 0.5], "supervised-ce-emotion": [0.9, 0.9], "supcon": [0.6, 0.6]}
    for variant, score in trial_scores.items():
        _write(trial / "evals" / variant / "seed0.json", _trial(score))
        for seed, value in enumerate(grid_scores[variant]):
            _write(grid / "evals" / variant / f"seed{seed}.json", _grid(value))
    _write(trial / "evals" / "online-only" / "seed0.json", _trial(0.9))  # no grid runs: left out
    rows, rho, tau = script.agreement(grid, trial)
    assert [r["variant"] for r in rows] == ["supervised-ce-emotion", "carl", "supcon", "simcse"]
    assert [r["trial_rank"] for r in rows] == [3, 2, 1, 4]
    assert rows[1]["grid"] == pytest.approx((0.75 + 0.375) / 2) and rows[1]["seeds"] == 2 and rows[1]["tasks"] == 2
    # ranks (3, 2, 1, 4) against (1, 2, 3, 4): sum of squared differences 8, rho = 1 - 6 * 8 / (4 * 15); 3 of 6 pairs agree
    assert rho == pytest.approx(0.2) and tau == pytest.approx(0.0)


def test_fewer_than_three_common_variants_is_refused(tmp_path):
    script = load_script("trial_agreement")
    _write(tmp_path / "trial" / "evals" / "carl" / "seed0.json", _trial(0.5))
    _write(tmp_path / "grid" / "evals" / "carl" / "seed0.json", _grid(0.5))
    with pytest.raises(SystemExit, match="1 variant.*needs at least 3"):
        script.agreement(tmp_path / "grid", tmp_path / "trial")


def test_grids_of_one_preset_are_read_together_and_variants_can_be_named(tmp_path):
    """The union study's grid and the union-labels grid share probes: a trial ranks rows of both."""
    script = load_script("trial_agreement")
    trial, old, new = tmp_path / "trial", tmp_path / "old", tmp_path / "new"
    for variant, score, grid, grid_score in (("carl", 0.6, old, 0.7), ("supcon", 0.5, old, 0.6),
                                             ("va-regression", 0.7, new, 0.8), ("hybrid-w1", 0.4, new, 0.5)):
        _write(trial / "evals" / variant / "seed0.json", _trial(score))
        _write(grid / "evals" / variant / "seed0.json", _grid(grid_score))
    _write(new / "evals" / "carl" / "seed0.json", _grid(0.1))  # the first grid that has a variant is read
    rows, rho, _ = script.agreement([old, new], trial)
    assert [r["variant"] for r in rows] == ["va-regression", "carl", "supcon", "hybrid-w1"] and rho == pytest.approx(1.0)
    named, _, _ = script.agreement([old, new], trial, variants=["carl", "supcon", "hybrid-w1"])
    assert [r["variant"] for r in named] == ["carl", "supcon", "hybrid-w1"]


def test_grids_whose_frozen_probes_differ_are_refused(tmp_path, monkeypatch):
    from carl.reproduce.grid import probes_differ

    for grid, dev in (("a", 0.51), ("b", 0.51)):
        _write(tmp_path / grid / "evals" / "frozen" / "seed0.json",
               {"result": {"_meta": {"details": {"emobank": {"dev_scores": {"alpha=1": dev}}, "geometry": {}}}}})
    assert probes_differ([tmp_path / "a", tmp_path / "b"]) is None
    _write(tmp_path / "b" / "evals" / "frozen" / "seed0.json",
           {"result": {"_meta": {"details": {"emobank": {"dev_scores": {"alpha=1": 0.52}}}}}})
    assert "differ on emobank" in probes_differ([tmp_path / "a", tmp_path / "b"])
    assert "c/evals/frozen/seed0.json is missing" in probes_differ([tmp_path / "a", tmp_path / "c"])
    monkeypatch.setattr("sys.argv", ["trial_agreement.py", "--grid", str(tmp_path / "a"), "--grid",
                                     str(tmp_path / "b"), "--trial", str(tmp_path / "trial")])
    with pytest.raises(SystemExit, match="differ on emobank"):
        load_script("trial_agreement").main()


def test_a_probe_tolerance_admits_another_machines_fit_only_on_the_same_test_texts(tmp_path):
    """The same texts scored on another CPU: V-A probes agree to ~1e-7, logistic ones up to ~5e-3."""
    from carl.reproduce.grid import probes_differ, write_predictions

    for grid, dev, ids in (("a", 0.510, ["t1", "t2"]), ("b", 0.513, ["t1", "t2"]), ("c", 0.513, ["t1", "t3"])):
        path = tmp_path / grid / "evals" / "frozen" / "seed0.json"
        _write(path, {"result": {"_meta": {"details": {"tec": {"dev_scores": {"C=1": dev}}}}}})
        write_predictions(path, {"tec": {"ids": ids, "gold": ["joy", "fear"], "pred": ["joy", "joy"]}})
    a, b, c = (tmp_path / g for g in "abc")
    assert "(by up to 0.003, tolerance 1e-09)" in probes_differ([a, b])
    assert probes_differ([a, b], tolerance=0.005) is None
    assert "must name the same texts, and they differ" in probes_differ([a, c], tolerance=0.005)
    assert "differ on tec (by up to 0.003, tolerance 0.001)" in probes_differ([a, b], tolerance=0.001)
