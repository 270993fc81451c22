"""Each baseline (and the one-hot ablation) trained for a few steps on real EmoBank rows with a tiny
encoder."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from carl.config import CarlConfig
from carl.errors import DataError
from carl.training.trainer import train, training_label_mode


def baseline_config(tiny_encoder, data_dir, output_dir, overrides: dict) -> CarlConfig:
    base = {"data.train": ["emobank"], "data.data_dir": str(data_dir), "data.max_length": 24,
            "model.name_or_path": str(tiny_encoder), "model.projection_hidden": 32, "model.projection_dim": 16,
            "train.batch_size": 8, "train.max_steps": 3, "train.eval_every": 100, "train.save_every": 100,
            "train.log_every": 1, "train.output_dir": str(output_dir),
            "ptd.epsilon": 1e-2, "ptd.relative_epsilon": True}
    return CarlConfig().override({**base, **overrides})


def _query_weight(state: dict) -> torch.Tensor:
    key = next(k for k in state if k.endswith("encoder.layer.0.attention.self.query.weight"))
    return state[key]


@pytest.mark.parametrize("name, overrides", [
    ("supervised", {"objective.name": "supervised", "data.discrete_labels": "va_grid"}),
    ("regression", {"objective.name": "regression"}),
    ("simcse", {"objective.name": "simcse"}),
    ("supcon", {"objective.name": "supcon", "data.discrete_labels": "va_grid"}),
    ("one-hot", {"mccl.label_mode": "one_hot", "data.discrete_labels": "va_grid"}),
])
def test_baselines_and_one_hot_ablation_train(name, overrides, tiny_encoder, data_dir, tmp_path):
    out = tmp_path / name
    result = train(baseline_config(tiny_encoder, data_dir, out, overrides), progress=False)
    assert result.finished and result.steps == 3
    assert (out / "summary.json").is_file()
    assert json.loads((out / "summary.json").read_text())["steps"] == 3
    assert CarlConfig.load(out / "config.yaml").to_dict() == \
        baseline_config(tiny_encoder, data_dir, out, overrides).to_dict()
    # The exported model: a sentence-transformers folder with changed encoder weights.
    model = out / "model"
    assert (model / "modules.json").is_file() and (model / "config.json").is_file()
    meta = json.loads((model / "carl.json").read_text())
    assert meta["step"] == 3 and meta["config"]["objective"]["name"] == overrides.get("objective.name", "carl")
    initial = _query_weight(load_file(tiny_encoder / "model.safetensors"))
    trained = _query_weight(load_file(model / "model.safetensors"))
    assert trained.shape == initial.shape
    assert not torch.equal(trained, initial)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    losses = [r for r in rows if "loss" in r]
    assert [r["step"] for r in losses] == [1, 2, 3]
    assert all(math.isfinite(r["loss"]) and r["loss"] > 0 for r in losses)
    if name != "one-hot":  # baselines report no CARL components
        assert all(r["loss_mccl"] == 0 and r["loss_ptd"] == 0 for r in losses)
    assert any("dev/va_pearson" in r for r in rows)


@pytest.mark.parametrize("objective", ["supervised", "supcon"])
def test_class_baselines_on_va_corpus_need_va_grid(objective, tiny_encoder, data_dir, tmp_path):
    cfg = baseline_config(tiny_encoder, data_dir, tmp_path / objective, {"objective.name": objective})
    with pytest.raises(DataError, match="va_grid"):
        train(cfg, progress=False)
    assert not (tmp_path / objective / "model").exists()


def test_training_label_mode():
    assert training_label_mode(CarlConfig()) == "continuous"
    assert training_label_mode(CarlConfig().override({"mccl.label_mode": "one_hot"})) == "one_hot"
    for name, mode in {"simcse": "none", "supervised": "one_hot", "supcon": "one_hot",
                       "regression": "continuous"}.items():
        for label_mode in ("continuous", "one_hot"):
            cfg = CarlConfig().override({"objective.name": name, "mccl.label_mode": label_mode})
            assert training_label_mode(cfg) == mode, (name, label_mode)


@pytest.mark.parametrize("objective", ["simcse", "supcon"])
def test_contrastive_baselines_contrast_two_different_dropout_views(objective, tiny_encoder):
    """SimCSE's and SupCon's positives are the same text encoded twice with dropout on: in train mode
    the two views differ (else the loss would contrast a vector with itself), in eval mode they match."""
    from carl.inference.encoders import load_encoder
    from carl.training.baselines import BaselineModel, BaselineStep

    encoder, tokenizer = load_encoder(str(tiny_encoder))
    model = BaselineModel(encoder, "mean")
    cfg = CarlConfig().override({"objective.name": objective, "data.discrete_labels": "va_grid"})
    step = BaselineStep(cfg, backward=lambda loss: None)
    seen = []
    library_loss = step.simcse or step.supcon

    def recording_loss(view_a, view_b, *labels):
        seen.append((view_a.detach(), view_b.detach()))
        return library_loss(view_a, view_b, *labels)

    step.simcse = step.supcon = recording_loss
    batch = dict(tokenizer(["I won the match", "I lost my keys", "the bus was late", "what a lovely day"],
                           padding=True, return_tensors="pt"))
    batch["labels"] = torch.nn.functional.one_hot(torch.tensor([0, 1, 1, 0]), 9).float()
    for mode, views_differ in (("train", True), ("eval", False)):
        getattr(model, mode)()
        torch.manual_seed(0)
        out = step(model, batch, step=1)
        view_a, view_b = seen.pop()
        assert math.isfinite(out.loss.item())
        assert (not torch.allclose(view_a, view_b)) is views_differ, mode
