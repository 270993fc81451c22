"""`carl reproduce` planning: variants, presets, seed-major jobs, unknown names refused."""

from __future__ import annotations

import pathlib

import pytest

from carl import reproduce as rp
from carl.config import CarlConfig
from carl.errors import ConfigError
from carl.training.trainer import training_label_mode

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_variants_unique_and_their_overrides_valid():
    names = [v.name for v in rp.VARIANTS]
    labels = [v.label for v in rp.VARIANTS]
    assert len(set(names)) == len(names) and len(set(labels)) == len(labels)
    assert set(rp.VARIANT_BY_NAME) == set(names)
    assert {"carl", "supervised-ce", "simcse", "supcon"} <= set(names)
    default = CarlConfig().to_dict()
    for variant in rp.VARIANTS:
        cfg = CarlConfig().override(dict(variant.overrides)).validate()
        raw = cfg.to_dict()
        for key, value in variant.overrides.items():
            section, name = key.split(".")
            assert raw[section][name] == value, (variant.name, key)
        # Every variant but CARL itself changes something.
        assert (raw != default) == (variant.name != "carl"), variant.name
    for variant in rp.VARIANTS:  # classes are needed exactly when an objective needs them
        cfg = CarlConfig().override(dict(variant.overrides))
        if training_label_mode(cfg) == "one_hot":
            # never "native": EmoBank and Facebook-VA have no classes of their own
            assert cfg.data.discrete_labels in ("va_grid", "emotion"), variant.name


def test_plan_is_seed_major_and_applies_overrides(tmp_path):
    base, jobs = rp.plan(rp.PRESETS["cpu"], tmp_path, variants=["simcse", "carl", "supcon"], seeds=[3, 1],
                         model="some-model", data_dir="/data", extra={"train.batch_size": 8})
    assert [(j.variant.name, j.seed) for j in jobs] == [
        ("simcse", 3), ("carl", 3), ("supcon", 3), ("simcse", 1), ("carl", 1), ("supcon", 1)]
    assert base.train.max_steps == 200 and base.train.eval_every == 100  # the preset's overrides
    assert base.model.name_or_path == "some-model" and base.data.data_dir == "/data"
    assert base.train.batch_size == 8
    for job in jobs:
        assert job.run_dir == tmp_path / "runs" / job.variant.name / f"seed{job.seed}"
        assert job.eval_path == tmp_path / "evals" / job.variant.name / f"seed{job.seed}.json"
        assert job.config.train.seed == job.seed
        assert job.config.train.output_dir == str(job.run_dir)
        assert job.config.train.max_steps == 200 and job.config.train.batch_size == 8
        assert job.config.model.name_or_path == "some-model"
    by = {(j.variant.name, j.seed): j.config for j in jobs}
    assert by["carl", 3].objective.name == "carl" and by["carl", 3].data.discrete_labels == "native"
    assert by["simcse", 1].objective.name == "simcse"
    assert by["supcon", 1].objective.name == "supcon" and by["supcon", 1].data.discrete_labels == "va_grid"
    assert not (tmp_path / "runs").exists()  # planning creates nothing


def test_plan_the_cpu_grid_default_seeds(tmp_path):
    _, jobs = rp.plan(rp.PRESETS["cpu"], tmp_path)
    n = len(rp.CPU_VARIANTS)
    assert len(jobs) == n * len(rp.PRESETS["cpu"].seeds)
    assert [j.seed for j in jobs[:n]] == [0] * n
    assert [j.variant.name for j in jobs[:n]] == list(rp.CPU_VARIANTS)
    # The committed command reproduces the committed grid: variants added for later studies stay out of it.
    committed = {d.name for d in (ROOT / "results" / "reproduce-cpu" / "evals").iterdir()} - {rp.FROZEN}
    assert set(rp.CPU_VARIANTS) == committed
    for job in jobs:
        raw = job.config.to_dict()
        for key, value in job.variant.overrides.items():
            section, name = key.split(".")
            assert raw[section][name] == value, (job.variant.name, key)


def test_budget_study_preset_trains_its_own_variants_longer(tmp_path):
    base, jobs = rp.plan(rp.PRESETS["cpu-long"], tmp_path, seeds=[0])
    assert [j.variant.name for j in jobs] == list(rp.BUDGET_STUDY_VARIANTS)
    assert base.train.max_steps == 1000 and base.train.eval_every == 100
    assert rp.PRESETS["cpu-long"].max_train > rp.PRESETS["cpu"].max_train
    plus = next(j for j in jobs if j.variant.name == "carl-plus").config
    assert plus.mccl.label_similarity == "neg_sq_distance" and not plus.mccl.projection_heads
    assert not plus.ptd.enabled and not plus.mccl.momentum
    assert rp.VARIANT_BY_NAME["carl-plus"].label.startswith("CARL")
    queue = next(j for j in jobs if j.variant.name == "carl-plus-queue").config
    assert queue.mccl.queue_size == 256 and rp.VARIANT_BY_NAME["carl-plus-queue"].label.startswith("CARL")


def test_plan_rejects_unknown_variant_and_preset(tmp_path):
    with pytest.raises(ConfigError, match="no-such-variant"):
        rp.plan(rp.PRESETS["cpu"], tmp_path, variants=["carl", "no-such-variant"])
    with pytest.raises(ConfigError, match="preset"):
        rp.reproduce("tpu", tmp_path)
    assert not any(tmp_path.iterdir())


def test_union_preset_trains_every_contender_on_the_same_texts_with_its_trial_rate(tmp_path):
    preset = rp.PRESETS["cpu-union"]
    rates = {name: 1e-4 if name.startswith("supcon") else 3e-5 for name in preset.variants}
    base, jobs = rp.plan(preset, tmp_path, learning_rates=rates)
    assert base.data.train == rp.UNION_TRAIN and base.data.max_train_per_corpus == 8000
    assert [j.variant.name for j in jobs[:9]] == list(rp.UNION_VARIANTS) and len(jobs) == 27
    for job in jobs:
        cfg = job.config
        assert (cfg.data.train, cfg.data.max_train_per_corpus, cfg.data.split_seed) == (rp.UNION_TRAIN, 8000, 0)
        assert (cfg.train.max_steps, cfg.train.batch_size) == (1000, 32)
        # the trial's choice wins over a recipe's own rate (carl-plus sets 1e-4)
        assert cfg.train.learning_rate == rates[job.variant.name], job.variant.name
    labels = {j.variant.name: j.config.data.discrete_labels for j in jobs}
    assert labels["supervised-ce-emotion"] == labels["supcon-emotion"] == "emotion"
    assert labels["supervised-ce"] == labels["supcon"] == "va_grid"


def test_variant_notes_name_variants_their_preset_trains():
    """A note replaces a variant's generic description in that preset's REPORT.md; one on a variant the preset
    never trains, or misspelt, would silently never show."""
    from carl.reproduce.presets import PRESETS, VARIANT_BY_NAME

    for name, preset in PRESETS.items():
        trained = set(preset.variants or VARIANT_BY_NAME)
        assert set(preset.variant_notes) <= trained, name
    headlines = PRESETS["cpu-headlines"]
    assert "dominant SemEval-2007 emotion" in headlines.describe(VARIANT_BY_NAME["supervised-ce-emotion"])
    assert "V-A grid cell" in PRESETS["cpu-union"].describe(VARIANT_BY_NAME["supervised-ce-emotion"])  # the generic one


def test_two_epoch_union_preset_changes_only_the_steps_of_the_labels_grid(tmp_path):
    """Issue 38, part 3: the longer budget must be the one change. Every other setting, the learning rate included,
    is the one the committed cpu-union-labels run of the same variant trained with (its dev trial's choice)."""
    import pathlib

    from carl.config import CarlConfig

    preset = rp.PRESETS["cpu-union-2ep"]
    assert set(preset.learning_rates) == set(preset.variants)
    _, long_jobs = rp.plan(preset, tmp_path / "2ep", seeds=[0])
    grid = pathlib.Path(__file__).resolve().parents[1] / "results" / "union-labels-cpu" / "runs"
    for job in long_jobs:
        committed = CarlConfig.load(grid / job.variant.name / "seed0" / "config.yaml").to_dict()
        ours = job.config.to_dict()
        differ = {(section, key) for section in ours if isinstance(ours[section], dict)
                  for key in ours[section] if ours[section][key] != committed[section].get(key)}
        # resume: whether that run continued from a checkpoint (grid._comparable ignores it too)
        assert differ - {("train", "resume")} == {("train", "epochs"), ("train", "max_steps"),
                                                  ("train", "output_dir")}, job.variant.name
        assert (job.config.train.epochs, job.config.train.max_steps) == (2, None)
        assert committed["train"]["max_steps"] == 1000
    assert (preset.max_train, preset.max_eval) == (rp.PRESETS["cpu-union-labels"].max_train,
                                                   rp.PRESETS["cpu-union-labels"].max_eval)
