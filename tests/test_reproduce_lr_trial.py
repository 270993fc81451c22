"""Equal tuning in `carl reproduce`: a preset with a learning-rate trial trains every contender at
each rate first, scores the trials on dev only, and trains the grid with each variant's dev-best
rate (training and evaluation replaced by fakes that record what they were asked)."""

from __future__ import annotations

import json
import pathlib

import pytest

from carl import reproduce as rp
from carl.config import CarlConfig
from carl.reproduce import lr_trial

#: Dev score of each (variant, learning rate): SimCSE is better at 1e-4, CARL at 3e-5.
DEV = {("simcse", 1e-4): 0.52, ("simcse", 3e-5): 0.50, ("carl", 1e-4): 0.40, ("carl", 3e-5): 0.45}


class Fakes:
    def __init__(self):
        self.trained: list[tuple[str, float, int, int]] = []
        self.evaluated: list[tuple[str, bool]] = []

    def train_job(self, job, *, keep_checkpoints=False):
        cfg = job.config
        self.trained.append((job.variant.name, cfg.train.learning_rate, cfg.train.max_steps, job.seed))
        (job.run_dir / "model").mkdir(parents=True, exist_ok=True)
        cfg.save(job.run_dir / "model" / "train-config.yaml")
        (job.run_dir / "metrics.jsonl").write_text(json.dumps({"step": 1, "dev/va_pearson": 0.3}) + "\n")
        (job.run_dir / "summary.json").write_text(json.dumps({"steps": cfg.train.max_steps, "best_step": 1,
                                                              "best_dev_va_pearson": 0.3, "seconds": 1.0}))

    def run_tasks(self, model_ref, tasks, data_dir=None, dev_only=False, **kwargs):
        self.evaluated.append((str(model_ref), dev_only, (kwargs.get("max_train"), kwargs.get("max_eval"))))
        path = pathlib.Path(model_ref)
        if dev_only:
            cfg = CarlConfig.load(path / "train-config.yaml")
            score = DEV[(path.parent.parent.name, cfg.train.learning_rate)]
            return {"emobank": {"dev_score": score}, "tec": {"dev_score": score - 0.1}, "_meta": {}}
        return {"emobank": {"pearson_mean": 0.5, "n_test": 10}, "_meta": {"model": str(model_ref), "details": {}}}


@pytest.fixture
def fakes(monkeypatch):
    import carl.evaluation.tasks

    fake = Fakes()
    monkeypatch.setattr(rp, "train_job", fake.train_job)
    monkeypatch.setattr(rp.grid, "train_job", fake.train_job)
    monkeypatch.setattr(carl.evaluation.tasks, "run_tasks", fake.run_tasks)
    monkeypatch.setitem(rp.PRESETS, "trial-test", rp.Preset("cpu.yaml", {"train.max_steps": 50}, seeds=(0, 1),
                                                            tasks="emobank", lr_trial=(3e-5, 1e-4), lr_trial_steps=7,
                                                            max_train=4000, max_eval=2000))
    return fake


def test_trials_come_first_and_each_variant_trains_with_its_dev_best_rate(fakes, tmp_path):
    rp.reproduce("trial-test", tmp_path, variants=["carl", "simcse"], plots=False, command="carl reproduce test")
    trials, grid = fakes.trained[:4], fakes.trained[4:]
    assert sorted(trials) == sorted([("carl", 3e-5, 7, 0), ("simcse", 3e-5, 7, 0), ("carl", 1e-4, 7, 0),
                                     ("simcse", 1e-4, 7, 0)])
    assert grid == [("carl", 3e-5, 50, 0), ("simcse", 1e-4, 50, 0), ("carl", 3e-5, 50, 1), ("simcse", 1e-4, 50, 1)]
    # Trials are scored on dev only; the grid's models (and the frozen encoder) on the tasks' test splits.
    trial_evals = [(dev, probes) for ref, dev, probes in fakes.evaluated if "lr-trial" in ref]
    assert trial_evals == [(True, (1000, 1000))] * 4  # the trial's probe sizes, not the grid's
    assert not any(dev for ref, dev, _ in fakes.evaluated if "lr-trial" not in ref)
    report = (tmp_path / "REPORT.md").read_text()
    assert "### Learning-rate trial (seed 0, 7 steps; dev splits only)" in report
    # Dev mean over the two tasks (emobank, tec = emobank - 0.1), bold = chosen.
    assert "| CARL | **0.4000 (0.300)** | 0.3500 (0.300) | 3e-05 |" in report
    assert "| SimCSE | 0.4500 (0.300) | **0.4700 (0.300)** | 0.0001 |" in report
    assert ("At the trial's edge: SimCSE chose the largest rate tried (0.0001): a rate above it was not tried, so "
            "the optimum may lie beyond it; CARL chose the smallest rate tried (3e-05): a rate below it") in report
    # A second sitting recomputes nothing.
    before = (list(fakes.trained), list(fakes.evaluated))
    rp.reproduce("trial-test", tmp_path, variants=["carl", "simcse"], plots=False, command="carl reproduce test")
    assert (fakes.trained, fakes.evaluated) == before


def test_the_grid_waits_until_every_trial_is_scored(fakes, tmp_path):
    calls = iter([False, False, True])  # the sitting's time runs out before the third trial
    preset = rp.PRESETS["trial-test"]
    trials = lr_trial.trial_jobs(preset, tmp_path, ["carl", "simcse"], model=None, data_dir=None, extra=None)
    assert lr_trial.run_trials(trials, preset, None, "abc", lambda: next(calls)) is False
    assert len(fakes.trained) == 2 and lr_trial.choose(trials, preset) == {}
    # reproduce() itself trains no grid run while a trial is missing.
    rp.reproduce("trial-test", tmp_path, variants=["carl", "simcse"], plots=False, command="c",
                 stop_after_minutes=0)
    assert all(steps == 7 for _, _, steps, _ in fakes.trained)


def test_a_tie_keeps_the_smaller_rate(fakes, tmp_path, monkeypatch):
    monkeypatch.setitem(DEV, ("carl", 1e-4), 0.45)
    preset = rp.PRESETS["trial-test"]
    trials = lr_trial.trial_jobs(preset, tmp_path, ["carl"], model=None, data_dir=None, extra=None)
    assert lr_trial.run_trials(trials, preset, None, "abc", lambda: False)
    assert lr_trial.choose(trials, preset) == {"carl": 3e-5}


def test_the_edge_note_names_choices_at_the_ends_of_the_trial():
    labels = {"carl": "CARL", "simcse": "SimCSE", "supcon": "SupCon"}
    rates = (3e-5, 1e-4, 3e-4)
    tried = {"carl": rates, "simcse": rates, "supcon": rates}
    assert lr_trial.edge_note({"carl": 1e-4, "simcse": 1e-4}, tried, labels) == ""  # bracketed: no note
    note = lr_trial.edge_note({"carl": 3e-4, "simcse": 1e-4, "supcon": 3e-5}, tried, labels)
    assert "CARL chose the largest rate tried (0.0003): a rate above it" in note
    assert "SupCon chose the smallest rate tried (3e-05): a rate below it" in note
    assert "SimCSE" not in note
    two = {"carl": (3e-5, 1e-4), "simcse": (3e-5, 1e-4)}
    assert lr_trial.edge_note({"carl": 1e-4, "simcse": 1e-4}, two, labels).startswith(
        "At the trial's edge: every variant chose the largest rate tried (0.0001)")
    assert lr_trial.edge_note({"carl": 1e-4}, {"carl": (1e-4,)}, labels) == ""  # one rate: nothing was chosen
    # Each variant's own rates: 3e-4 is inside the rates of one that also tried 1e-3.
    assert lr_trial.edge_note({"carl": 3e-4}, {"carl": (*rates, 1e-3)}, labels) == ""


def test_bracketing_rate_steps_past_the_end_the_best_rate_sits_at():
    rates, beyond = (3e-5, 1e-4, 3e-4), (1e-5, 1e-3, 3e-3)
    assert lr_trial.bracketing_rate({3e-5: 0.59, 1e-4: 0.60}, rates, beyond) is None  # 3e-4 not scored yet
    assert lr_trial.bracketing_rate({3e-5: 0.59, 1e-4: 0.61, 3e-4: 0.60}, rates, beyond) is None  # inside
    assert lr_trial.bracketing_rate({3e-5: 0.59, 1e-4: 0.60, 3e-4: 0.61}, rates, beyond) == 1e-3
    assert lr_trial.bracketing_rate({3e-5: 0.61, 1e-4: 0.60, 3e-4: 0.59}, rates, beyond) == 1e-5
    assert lr_trial.bracketing_rate({3e-5: 0.5, 1e-4: 0.6, 3e-4: 0.7, 1e-3: 0.8}, rates, beyond) == 3e-3
    assert lr_trial.bracketing_rate({3e-5: 0.5, 1e-4: 0.6, 3e-4: 0.7, 1e-3: 0.6}, rates, beyond) is None
    assert lr_trial.bracketing_rate({3e-5: 0.5, 1e-4: 0.6, 3e-4: 0.7}, rates, ()) is None  # nothing past the end
    assert lr_trial.bracketing_rate({3e-5: 0.6, 1e-4: 0.6, 3e-4: 0.5}, rates, beyond) == 1e-5  # a tie: the smaller


def test_a_choice_at_an_end_tries_the_next_rate_past_it_then_trains(fakes, tmp_path, monkeypatch):
    """CARL's best of (3e-5, 1e-4) is 3e-5: it tries 1e-5 (worse), so 3e-5 is bracketed; SimCSE's best is 1e-4:
    it tries 3e-4 (better) and has nothing past it, so it trains at 3e-4 and the report says it is at the edge."""
    monkeypatch.setitem(rp.PRESETS, "bracket-test", rp.Preset("cpu.yaml", {"train.max_steps": 50}, seeds=(0,),
                                                               tasks="emobank", lr_trial=(3e-5, 1e-4),
                                                               lr_trial_beyond=(1e-5, 3e-4), lr_trial_steps=7))
    monkeypatch.setitem(DEV, ("carl", 1e-5), 0.44)
    monkeypatch.setitem(DEV, ("simcse", 3e-4), 0.55)
    rp.reproduce("bracket-test", tmp_path, variants=["carl", "simcse"], plots=False, command="carl reproduce test")
    trials = [(name, lr) for name, lr, steps, _ in fakes.trained if steps == 7]
    assert trials == [("carl", 3e-5), ("simcse", 3e-5), ("carl", 1e-4), ("simcse", 1e-4),
                      ("carl", 1e-5), ("simcse", 3e-4)]
    assert [(name, lr) for name, lr, steps, _ in fakes.trained if steps == 50] == [("carl", 3e-5), ("simcse", 3e-4)]
    report = (tmp_path / "REPORT.md").read_text()
    table = report.split("### Learning-rate trial")[1]
    assert "| variant | lr 1e-05: dev mean (dev V-A r) | lr 3e-05: dev mean (dev V-A r) | lr 0.0001" in table
    assert "| CARL | 0.3900 (0.300) | **0.4000 (0.300)** | 0.3500 (0.300) | – | 3e-05 |" in table
    assert "| SimCSE | – | 0.4500 (0.300) | 0.4700 (0.300) | **0.5000 (0.300)** | 0.0003 |" in table
    assert "SimCSE chose the largest rate tried (0.0003)" in table and "CARL chose" not in table


def test_a_cut_schedule_trial_runs_the_grid_schedule_and_stops_early(fakes, tmp_path, monkeypatch):
    monkeypatch.setitem(rp.PRESETS, "cut-test", rp.Preset("cpu.yaml", {"train.max_steps": 50}, seeds=(0,),
                                                           tasks="emobank", lr_trial=(3e-5, 1e-4), lr_trial_steps=7,
                                                           lr_trial_cut_schedule=True))
    trials = lr_trial.trial_jobs(rp.PRESETS["cut-test"], tmp_path, ["carl"], model=None, data_dir=None, extra=None)
    assert [(t.job.config.train.max_steps, t.job.config.train.stop_after) for t in trials] == [(50, 7), (50, 7)]
    short = lr_trial.trial_jobs(rp.PRESETS["trial-test"], tmp_path, ["carl"], model=None, data_dir=None, extra=None)
    assert {(t.job.config.train.max_steps, t.job.config.train.stop_after) for t in short} == {(7, None)}


def test_finish_cut_trial_writes_the_summary_by_the_trainers_best_step_rule(tmp_path):
    CarlConfig().override({"train.log_every": 5}).save(tmp_path / "config.yaml")
    rows = [{"step": 0, "dev/va_pearson": 0.9}, {"step": 5, "loss": 1.0, "seconds_per_step": 2.0},
            {"step": 5, "dev/va_pearson": 0.4}, {"step": 10, "loss": 0.9, "seconds_per_step": 3.0},
            {"step": 10, "dev/va_pearson": 0.6}, {"step": 15, "dev/va_pearson": 0.6}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "checkpoints" / "step-15").mkdir(parents=True)
    lr_trial.finish_cut_trial(tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    # Step 0 (the pretrained encoder) is no candidate; a tie keeps the earlier step.
    assert summary["best_dev_va_pearson"] == 0.6 and summary["best_step"] == 10 and summary["steps"] == 15
    assert summary["seconds"] == 5 * 2.0 + 5 * 3.0 and summary["cut_from_schedule"] is True
    assert not (tmp_path / "checkpoints").exists()


def test_trials_only_stops_before_the_grid(fakes, tmp_path):
    rp.reproduce("trial-test", tmp_path, variants=["carl"], plots=False, command="carl reproduce test", trials_only=True)
    assert [(name, steps) for name, _, steps, _ in fakes.trained] == [("carl", 7), ("carl", 7)]
    assert "| CARL |" in (tmp_path / "REPORT.md").read_text()
    rp.reproduce("trial-test", tmp_path, variants=["carl"], plots=False, command="carl reproduce test")
    assert [(lr, steps, seed) for _, lr, steps, seed in fakes.trained[2:]] == [(3e-5, 50, 0), (3e-5, 50, 1)]


def test_trial_rates_run_only_those_trials_then_stop(fakes, tmp_path):
    rp.reproduce("trial-test", tmp_path, variants=["carl", "simcse"], plots=False, command="carl reproduce test",
                 trial_rates=[1e-4])
    assert [(name, lr) for name, lr, _, _ in fakes.trained] == [("carl", 1e-4), ("simcse", 1e-4)]  # no grid run
    rp.reproduce("trial-test", tmp_path, variants=["carl"], plots=False, command="carl reproduce test",
                 trial_rates=[1e-4])  # a sitting on one variant: nothing to run, the other's trial stays in the table
    assert len(fakes.trained) == 2
    table = (tmp_path / "REPORT.md").read_text().split("### Learning-rate trial")[1]
    assert "| CARL | – | 0.3500 (0.300) | – |" in table and "| SimCSE | – | 0.4700 (0.300) | – |" in table
    rp.reproduce("trial-test", tmp_path, variants=["carl", "simcse"], plots=False, command="carl reproduce test")
    # The full command runs only the missing rate, then the grid at each variant's dev-best rate.
    assert [(name, lr) for name, lr, _, _ in fakes.trained[2:4]] == [("carl", 3e-5), ("simcse", 3e-5)]
    assert {(name, lr) for name, lr, steps, _ in fakes.trained[4:]} == {("carl", 3e-5), ("simcse", 1e-4)}


def test_trial_rates_outside_the_preset_are_refused(fakes, tmp_path):
    with pytest.raises(rp.ConfigError, match=r"--trial-rates 0\.001: not among preset trial-test's trial rates "
                                             r"\(3e-05, 0\.0001\)"):
        rp.reproduce("trial-test", tmp_path, variants=["carl"], plots=False, trial_rates=[1e-3])
    assert fakes.trained == []


@pytest.mark.parametrize("option, value, phrase", [
    ("--seeds", "0,a", "--seeds '0,a': expected integers, e.g. 0,1,2"),
    ("--trial-rates", "1e-4,z", "--trial-rates '1e-4,z': expected numbers, e.g. 1e-4,3e-4"),
])
def test_bad_number_lists_are_one_line_errors(carl_in_process, tmp_path, option, value, phrase):
    run = carl_in_process("reproduce", "--output-dir", tmp_path / "grid", option, value)
    assert run.returncode == 2 and phrase in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "grid").exists()
