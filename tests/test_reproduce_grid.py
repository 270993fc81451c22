"""`carl reproduce` end to end with training and evaluation replaced by fakes: resumable, the
fine-tune stage, the time limit, machines named in the records."""

from __future__ import annotations

import json
import pathlib

import pytest

from carl import reproduce as rp

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class FakeGrid:
    """Stands in for training (writes summary.json + metrics.jsonl) and evaluation (a score
    that depends on which model is evaluated)."""

    SCORES = {"carl": {0: 0.6, 1: 0.7}, "simcse": {0: 0.4, 1: 0.5}}

    def __init__(self, fail_on_train_call: int | None = None):
        self.trained: list[tuple[str, int]] = []
        self.evaluated: list[str] = []
        self.finetuned: list[tuple[str, str, int]] = []
        self.fail_on_train_call = fail_on_train_call

    def train_job(self, job, *, keep_checkpoints=False):
        self.trained.append((job.variant.name, job.seed))
        if self.fail_on_train_call is not None and len(self.trained) == self.fail_on_train_call:
            raise RuntimeError("simulated interruption")
        (job.run_dir / "model").mkdir(parents=True, exist_ok=True)
        (job.run_dir / "metrics.jsonl").write_text(
            "\n".join(json.dumps(r) for r in [{"step": 0, "dev/va_pearson": 0.1}, {"step": 1, "loss": 2.0},
                                              {"step": 2, "dev/va_pearson": 0.3}]) + "\n")
        (job.run_dir / "summary.json").write_text(json.dumps({"steps": 2, "best_step": 2,
                                                              "best_dev_va_pearson": 0.3, "seconds": 12.0}))
        return 12.0

    def run_tasks(self, model_ref, tasks, data_dir=None, **kwargs):
        self.evaluated.append(str(model_ref))
        path = pathlib.Path(model_ref)
        if path.name == "model":  # runs/VARIANT/seedS/model
            score = self.SCORES[path.parent.parent.name][int(path.parent.name.removeprefix("seed"))]
        else:
            score = 0.3  # the frozen encoder
        detail = {"dev_scores": {"alpha=1": score}}
        if kwargs.get("keep_predictions"):
            detail["test_rows"] = {"ids": ["a", "b"], "gold": [[0.1, 0.2], [0.3, 0.4]],
                                   "pred": [[score, 0.2], [0.3, score]]}
        return {"emobank": {"pearson_mean": score, "n_test": 10},
                "_meta": {"model": str(model_ref), "details": {"emobank": detail}}}

    def finetune(self, model_ref, task, data_dir=None, *, seed=0, **kwargs):
        self.finetuned.append((str(model_ref), task, seed))
        base = 0.5 if model_ref == "minilm" else 0.6
        score = base + 0.1 * seed
        from carl.evaluation.finetune import PROTOCOL_VERSION

        meta = {"best_step": 100 + seed, "steps": kwargs["steps"], "protocol_version": PROTOCOL_VERSION}
        if task == "emobank":
            return {"pearson_mean": score, "pearson_v": score + 0.1, "pearson_a": score - 0.1, "_meta": meta}
        return {"macro_f1": score / 2, "accuracy": score, "_meta": meta}


@pytest.fixture
def fake_grid(monkeypatch):
    import carl.evaluation.tasks

    import carl.evaluation.finetune

    def install(fake: FakeGrid) -> FakeGrid:
        monkeypatch.setattr(rp, "train_job", fake.train_job)  # the grid's training jobs (carl.reproduce.reproduce)
        monkeypatch.setattr(rp.grid, "train_job", fake.train_job)  # re-training for the fine-tune stage
        monkeypatch.setattr(carl.evaluation.tasks, "run_tasks", fake.run_tasks)
        monkeypatch.setattr(carl.evaluation.finetune, "finetune", fake.finetune)
        return fake

    return install


#: A two-variant, two-seed grid without plots (the tests that need plots ask for them).
GRID = dict(variants=["carl", "simcse"], seeds=[0, 1], plots=False, command="carl reproduce test")


def interrupted_grid(fake_grid, out: pathlib.Path, on_train_call: int) -> FakeGrid:
    """Runs GRID into ``out`` until training call ``on_train_call`` raises; the fake that saw it."""
    fake = fake_grid(FakeGrid(fail_on_train_call=on_train_call))
    with pytest.raises(RuntimeError, match="simulated"):
        rp.reproduce("cpu", out, **GRID)
    return fake


def test_reproduce_is_resumable_and_reports(fake_grid, tmp_path):
    out = tmp_path / "grid"

    # 1. Interrupted during the third job (seed-major: carl 0, simcse 0, carl 1 ...).
    first = interrupted_grid(fake_grid, out, 3)
    assert first.trained == [("carl", 0), ("simcse", 0), ("carl", 1)]
    assert first.evaluated == ["minilm", str(out / "runs/carl/seed0/model"), str(out / "runs/simcse/seed0/model")]
    report = (out / "REPORT.md").read_text()
    assert "2 of 4 training runs evaluated (incomplete" in report
    assert (out / "evals/frozen/seed0.json").is_file() and (out / "base-config.yaml").is_file()
    record = json.loads((out / "evals/carl/seed0.json").read_text())
    assert record["variant"] == "carl" and record["seed"] == 0 and record["train_seconds"] == 12.0
    assert record["best_step"] == 2 and record["result"]["emobank"]["pearson_mean"] == 0.6

    # 2. Re-run: only the missing jobs are trained and evaluated.
    second = fake_grid(FakeGrid())
    path = rp.reproduce("cpu", out, **GRID)
    assert path == out / "REPORT.md"
    assert second.trained == [("carl", 1), ("simcse", 1)]
    assert second.evaluated == [str(out / "runs/carl/seed1/model"), str(out / "runs/simcse/seed1/model")]
    report = path.read_text()
    assert "**Status:** 4 of 4 training runs evaluated." in report and "incomplete" not in report
    assert "| frozen encoder | reference | 1 | 0.300 |" in report
    assert "| CARL | CARL | 2 | 0.650 ± 0.071 |" in report
    assert "| SimCSE | baseline | 2 | 0.450 ± 0.071 |" in report
    assert "| SimCSE | baseline | unsupervised SimCSE" in report  # the variants section
    assert "supervised CE" not in report  # only the chosen variants are described
    assert "carl reproduce test" in report
    summary = json.loads((out / "report.json").read_text())
    assert summary["summary"]["CARL"]["emobank"]["pearson_mean"]["n"] == 2
    # Each probe's dev detail stays in the evaluation files, not repeated in report.json.
    assert all("details" not in run["results"]["_meta"] and run["results"]["_meta"]["model"] for run in summary["runs"])
    assert json.loads((out / "evals/carl/seed1.json").read_text())["result"]["_meta"]["details"]["emobank"]

    # 3. Everything is cached: nothing is trained or evaluated again.
    third = fake_grid(FakeGrid())
    rp.reproduce("cpu", out, **GRID)
    assert third.trained == [] and third.evaluated == []
    assert "4 of 4 training runs evaluated." in (out / "REPORT.md").read_text()

    # 4. A deleted evaluation re-runs exactly that job.
    (out / "evals/simcse/seed1.json").unlink()
    fourth = fake_grid(FakeGrid())
    rp.reproduce("cpu", out, **GRID)
    assert fourth.trained == [("simcse", 1)]
    assert fourth.evaluated == [str(out / "runs/simcse/seed1/model")]
    assert (out / "evals/simcse/seed1.json").is_file()
    assert "| SimCSE | baseline | 2 | 0.450 ± 0.071 |" in (out / "REPORT.md").read_text()

    # 5. With plots: the summary bars and dev curves are written and linked.
    fifth = fake_grid(FakeGrid())
    rp.reproduce("cpu", out, **{**GRID, "plots": True})
    assert fifth.trained == [] and fifth.evaluated == []
    report = (out / "REPORT.md").read_text()
    for name in ("summary-bars.png", "dev-curves.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
        assert f"]({name})" in report


def test_finetune_stage_runs_after_the_probes_is_cached_and_reported(fake_grid, tmp_path):
    out = tmp_path / "grid"

    # Interrupted before the grid's probes are complete: nothing is fine-tuned yet.
    first = interrupted_grid(fake_grid, out, 2)
    assert first.finetuned == []
    assert "Fine-tuning protocol" not in (out / "REPORT.md").read_text()

    second = fake_grid(FakeGrid())
    rp.reproduce("cpu", out, **GRID)
    carl0, carl1 = str(out / "runs/carl/seed0/model"), str(out / "runs/carl/seed1/model")
    tasks = rp.PRESETS["cpu"].finetune_tasks
    assert tasks == ("emobank", "carer")
    # Seed-major; only the frozen encoder and CARL (the preset's fine-tune variants), never SimCSE.
    assert second.finetuned == [(m, t, s) for m, s in [("minilm", 0), (carl0, 0), ("minilm", 1), (carl1, 1)]
                                for t in tasks]
    record = json.loads((out / "finetune/carl/seed1.json").read_text())
    assert record["variant"] == "carl" and record["seed"] == 1
    assert record["result"]["emobank"]["pearson_mean"] == pytest.approx(0.7)
    assert record["result"]["carer"]["_meta"]["steps"] == rp.PRESETS["cpu"].finetune_steps
    report = (out / "REPORT.md").read_text()
    assert "## Fine-tuning protocol" in report
    assert "| model | seeds | emobank pearson_mean | emobank pearson_v | emobank pearson_a | carer macro_f1 | carer accuracy | best step |" in report
    assert "| frozen encoder | 2 | 0.550 ± 0.071 | 0.650 ± 0.071 | 0.450 ± 0.071 | 0.275 ± 0.035 | 0.550 ± 0.071 | 100, 101 |" in report
    assert "| CARL | 2 | 0.650 ± 0.071 |" in report
    finetune_section = report.split("## Fine-tuning protocol")[1].split("## Variants")[0]
    assert "| CARL | 2 |" in finetune_section and "SimCSE" not in finetune_section
    assert json.loads((out / "report.json").read_text())["arguments"]["finetune"]["CARL"][0]["seed"] == 0

    # Cached: nothing is fine-tuned again.
    third = fake_grid(FakeGrid())
    rp.reproduce("cpu", out, **GRID)
    assert third.finetuned == [] and third.trained == []

    # A fine-tune result whose trained model folder is gone: the run is trained again first.
    import shutil

    shutil.rmtree(out / "runs/carl/seed0/model")
    (out / "finetune/carl/seed0.json").unlink()
    fourth = fake_grid(FakeGrid())
    rp.reproduce("cpu", out, **GRID)
    assert fourth.trained == [("carl", 0)]
    assert fourth.evaluated == []  # the probe result is kept
    assert fourth.finetuned == [(carl0, t, 0) for t in tasks]

    # A result from an older protocol or another step count is stale: left out of the report, redone.
    for name, change in [("frozen/seed1", {"protocol_version": 1}), ("carl/seed1", {"steps": 7})]:
        path = out / f"finetune/{name}.json"
        record = json.loads(path.read_text())
        record["result"]["emobank"]["_meta"].update(change)
        path.write_text(json.dumps(record))
    assert rp.stale_finetune(json.loads((out / "finetune/carl/seed1.json").read_text()), rp.PRESETS["cpu"]) == \
        f"emobank ran 7 steps, the preset asks for {rp.PRESETS['cpu'].finetune_steps}"
    preset = rp.PRESETS["cpu"]
    base, jobs = rp.plan(preset, out, variants=["carl", "simcse"], seeds=[0, 1])
    report = rp.write_grid_report(out, "cpu", preset, base, jobs, "carl reproduce test", plots=False).read_text()
    assert "| CARL | 1 |" in report and "| frozen encoder | 1 |" in report
    fifth = fake_grid(FakeGrid())
    rp.reproduce("cpu", out, **GRID)
    assert fifth.finetuned == [(m, t, 1) for m in ("minilm", carl1) for t in tasks]
    assert "| CARL | 2 |" in (out / "REPORT.md").read_text()


def test_reproduce_with_no_time_left_only_evaluates_the_frozen_encoder(fake_grid, tmp_path):
    fake = fake_grid(FakeGrid())
    rp.reproduce("cpu", tmp_path, variants=["carl", "simcse"], seeds=[0, 1], plots=False, stop_after_minutes=0)
    assert fake.trained == []
    assert fake.evaluated == ["minilm"]
    assert "0 of 4 training runs evaluated (incomplete" in (tmp_path / "REPORT.md").read_text()
    assert not (tmp_path / "runs").exists()


def test_a_sitting_on_one_variant_keeps_the_rows_of_earlier_sittings_in_the_report(fake_grid, tmp_path):
    """Grids grow over sittings (`--variants X`); the report written by the last one covers every run
    evaluated in the folder, not only the variants its command named."""
    fake_grid(FakeGrid())
    rp.reproduce("cpu", tmp_path, variants=["simcse"], seeds=[0, 1], plots=False, command="first sitting")
    second = fake_grid(FakeGrid())
    rp.reproduce("cpu", tmp_path, variants=["carl"], seeds=[0], plots=False, command="second sitting")
    assert second.trained == [("carl", 0)]  # the earlier rows are reported, not trained again
    report = (tmp_path / "REPORT.md").read_text()
    assert "| CARL | CARL | 1 | 0.600 |" in report
    assert "| SimCSE | baseline | 2 | 0.450 ± 0.071 |" in report  # the first sitting's row, both seeds
    assert "**Status:** 3 of 3 training runs evaluated." in report
    assert "`second sitting`; the report covers its runs and every run an earlier sitting evaluated" in report
    assert "| SimCSE | baseline | unsupervised SimCSE" in report  # described too
    assert "supervised CE" not in report  # never run here: not described


def test_records_name_their_machine_and_the_report_says_when_results_come_from_several(fake_grid, tmp_path):
    from carl.evaluation.report import machine_label
    from carl.reproduce.report import UNRECORDED_MACHINE

    fake_grid(FakeGrid())
    rp.reproduce("cpu", tmp_path, variants=["carl", "simcse"], seeds=[0], plots=False)
    here = machine_label()
    for name in ("frozen", "carl", "simcse"):
        assert json.loads((tmp_path / f"evals/{name}/seed0.json").read_text())["machine"] == here
    report = (tmp_path / "REPORT.md").read_text()
    assert f"- **Machine:** {here}; torch threads" in report
    assert "Results by machine" not in report  # one machine: nothing more to say

    # A sitting elsewhere, and a record from before records named their machine.
    for name, machine in (("carl", "Other CPU, 64 cores, no GPU"), ("simcse", None)):
        path = tmp_path / f"evals/{name}/seed0.json"
        record = json.loads(path.read_text())
        record.pop("machine")
        path.write_text(json.dumps({**record, **({"machine": machine} if machine else {})}))
    preset = rp.PRESETS["cpu"]
    base, jobs = rp.plan(preset, tmp_path, variants=["carl", "simcse"], seeds=[0])
    report = rp.write_grid_report(tmp_path, "cpu", preset, base, jobs, "carl reproduce test", plots=False).read_text()
    assert f"- **Machine of this sitting:** {here}; torch threads" in report
    line = next(l for l in report.splitlines() if l.startswith("- **Results by machine**"))
    assert f"{here}: frozen encoder;" in line
    assert "Other CPU, 64 cores, no GPU: CARL;" in line
    assert line.endswith(f"{UNRECORDED_MACHINE}: SimCSE")


def test_each_evaluation_keeps_its_test_predictions_beside_the_record(fake_grid, tmp_path):
    """Part 4 of issue 38: gaps with test sampling counted need each text's prediction, and the grid keeps
    only summaries of its models in git: the predictions go into a small sidecar, not into the record."""
    from carl.reproduce.grid import predictions_path, read_predictions

    out = tmp_path / "grid"
    fake_grid(FakeGrid())
    rp.reproduce("cpu", out, **GRID)
    record_path = out / "evals/simcse/seed1.json"
    record = json.loads(record_path.read_text())
    assert "test_rows" not in record["result"]["_meta"]["details"]["emobank"]  # the record stays small
    assert predictions_path(record_path) == out / "evals/simcse/seed1.test-rows.json.gz"
    rows = read_predictions(record_path)
    assert rows == {"emobank": {"ids": ["a", "b"], "gold": [[0.1, 0.2], [0.3, 0.4]], "pred": [[0.5, 0.2], [0.3, 0.5]]}}
    assert read_predictions(out / "evals/frozen/seed0.json")["emobank"]["pred"] == [[0.3, 0.2], [0.3, 0.3]]
    # same predictions, same bytes (gzip without a time stamp): a rerun is not a change in git
    first = predictions_path(record_path).read_bytes()
    record_path.unlink()
    rp.reproduce("cpu", out, **GRID)
    assert predictions_path(record_path).read_bytes() == first
    assert read_predictions(tmp_path / "nowhere.json") is None
