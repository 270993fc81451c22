"""KEY=VALUE overrides are typed by YAML, except where YAML would change a text setting's meaning."""

import pytest

from carl.config import CarlConfig
from carl.errors import ConfigError


@pytest.mark.parametrize("text", ["no", "bf16"])
def test_text_setting_keeps_words_yaml_reads_as_booleans(text):
    config = CarlConfig().override({"train.mixed_precision": text})
    assert config.train.mixed_precision == text


def test_overrides_are_typed():
    config = CarlConfig().override({"train.max_steps": "7", "ptd.enabled": "false", "ptd.epsilon": "1e-3",
                                    "data.dev": "[]"})
    assert config.train.max_steps == 7
    assert config.ptd.enabled is False
    assert config.ptd.epsilon == pytest.approx(1e-3)
    assert config.data.dev == []


def test_a_boolean_word_for_a_boolean_setting_stays_boolean():
    assert CarlConfig().override({"ptd.enabled": "no"}).ptd.enabled is False


def test_invalid_value_still_names_the_setting():
    with pytest.raises(ConfigError, match="mixed_precision"):
        CarlConfig().override({"train.mixed_precision": "fp8"})


def test_yaml_file_values_yaml_would_misread(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("train:\n  mixed_precision: no\nptd:\n  epsilon: 1e-3\n")
    config = CarlConfig.load(path)
    assert config.train.mixed_precision == "no"
    assert config.ptd.epsilon == pytest.approx(1e-3)


def test_text_that_is_not_a_number_is_refused_for_a_number_setting():
    with pytest.raises(ConfigError, match="epsilon must be a number"):
        CarlConfig().override({"ptd.epsilon": "small"})


def test_a_recipe_is_a_configuration_of_named_parts_that_later_settings_override():
    from carl.cli import _load_config
    from carl.config import RECIPES

    assert RECIPES["paper"] == {}
    cfg = _load_config(None, {"train.seed": 3}, ["ptd.enabled=true"], "carl-plus")
    assert cfg.mccl.label_similarity == "neg_sq_distance" and cfg.mccl.projection_heads is False
    assert cfg.mccl.momentum is False and cfg.train.seed == 3
    assert cfg.ptd.enabled is True  # --set wins over the recipe
    paper = _load_config(None, {}, [], "paper")
    assert paper.to_dict() == CarlConfig().to_dict()
    queue = _load_config(None, {}, [], "carl-plus-queue")
    assert queue.mccl.queue_size == 256 and CarlConfig().mccl.queue_size == 0
    # the queue recipe is carl-plus plus the queue, nothing else
    assert {k: v for k, v in RECIPES["carl-plus-queue"].items() if k != "mccl.queue_size"} == RECIPES["carl-plus"]


def test_fp16_is_refused_with_the_setting_and_the_fix():
    """fp16 would train without loss-scale handling (clipping scaled gradients, no skipped
    overflow steps, PTD reading scaled embedding gradients): refused before anything runs."""
    config = CarlConfig().override({"train.mixed_precision": "fp16"})
    with pytest.raises(ConfigError, match="train.mixed_precision=fp16") as err:
        config.validate()
    assert "bf16" in str(err.value) and "train.mixed_precision=no" in str(err.value)
    for ok in ("no", "bf16"):
        CarlConfig().override({"train.mixed_precision": ok}).validate()


def test_training_refuses_fp16_before_touching_data_or_model(tmp_path):
    from carl.training.trainer import train

    config = CarlConfig().override({"train.mixed_precision": "fp16", "train.output_dir": str(tmp_path / "run"),
                                    "data.data_dir": str(tmp_path / "no-data"), "model.name_or_path": "/nonexistent"})
    with pytest.raises(ConfigError, match="fp16"):
        train(config, progress=False)
    assert not (tmp_path / "run").exists()


def test_negative_queue_size_is_refused_naming_the_setting():
    with pytest.raises(ConfigError, match="mccl.queue_size must be >= 0"):
        CarlConfig().override({"mccl.queue_size": -1}).validate()
    assert CarlConfig().override({"mccl.queue_size": 256}).validate().mccl.queue_size == 256


def test_instance_weight_must_be_a_fraction():
    with pytest.raises(ConfigError, match=r"mccl.instance_weight must be in \[0, 1\]"):
        CarlConfig().override({"mccl.instance_weight": 1.5}).validate()
    assert CarlConfig().override({"mccl.instance_weight": 0.3}).validate().mccl.instance_weight == 0.3


def test_the_emotion_term_is_refused_where_it_cannot_train():
    from carl.errors import ConfigError

    assert CarlConfig().override({"objective.emotion_weight": 0.5}).validate().objective.emotion_weight == 0.5
    for bad, message in [({"objective.emotion_weight": -1}, "must be >= 0"),
                         ({"objective.emotion_weight": 1, "objective.name": "supervised"}, "objective.name=carl"),
                         ({"objective.emotion_weight": 1, "mccl.enabled": False}, "mccl.enabled=true")]:
        with pytest.raises(ConfigError, match=message):
            CarlConfig().override(bad).validate()
