"""Layer-wise learning-rate decay: depths from parameter names, the optimizer's groups."""

import pytest
import torch

from carl.config import CarlConfig
from carl.errors import ConfigError
from carl.network.carl import CarlModel
from carl.training.layer_decay import layer_decay_groups, layer_depth, layer_scale
from carl.training.trainer import build_optimizer


@pytest.mark.parametrize("name, depth", [
    ("embeddings.word_embeddings.weight", 0),
    ("encoder.layer.0.attention.self.query.weight", 1),
    ("encoder.layer.11.output.dense.bias", 12),
    ("layers.3.mlp.Wi.weight", 4),          # ModernBERT
    ("embeddings.tok_embeddings.weight", 0),
    ("pooler.dense.weight", None),
    ("final_norm.weight", None),
])
def test_layer_depth_reads_bert_and_modernbert_names(name, depth):
    assert layer_depth(name) == depth


def test_layer_scale_is_one_on_top_and_decays_downwards():
    assert layer_scale(6, 6, 0.8) == 1.0
    assert layer_scale(5, 6, 0.8) == pytest.approx(0.8)
    assert layer_scale(0, 6, 0.8) == pytest.approx(0.8 ** 6)


def test_groups_cover_every_trainable_parameter_once_with_decayed_rates(tiny_encoder):
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(tiny_encoder)  # 2 layers
    encoder.embeddings.position_embeddings.weight.requires_grad_(False)
    groups = layer_decay_groups(encoder.named_parameters(), 1e-4, 0.5, 0.01)
    grouped = [id(p) for g in groups for p in g["params"]]
    trainable = [id(p) for p in encoder.parameters() if p.requires_grad]
    assert sorted(grouped) == sorted(trainable) and len(grouped) == len(set(grouped))
    assert [g["lr"] for g in groups] == pytest.approx([1e-4, 5e-5, 2.5e-5])  # layer 2 + pooler, layer 1, embeddings
    assert id(encoder.pooler.dense.weight) in {id(p) for p in groups[0]["params"]}
    assert id(encoder.embeddings.word_embeddings.weight) in {id(p) for p in groups[-1]["params"]}
    assert id(encoder.encoder.layer[0].output.dense.weight) in {id(p) for p in groups[1]["params"]}


def test_an_encoder_without_layer_names_is_refused():
    linear = torch.nn.Linear(3, 3)
    with pytest.raises(ConfigError, match="layer_lr_decay"):
        layer_decay_groups(linear.named_parameters(), 1e-4, 0.8, 0.0)


def test_build_optimizer_applies_the_decay_and_keeps_the_heads_rate(tiny_encoder):
    from transformers import AutoModel

    config = CarlConfig()
    config.train.layer_lr_decay = 0.5
    config.model.projection_hidden, config.model.projection_dim = 16, 8
    model = CarlModel.from_config(AutoModel.from_pretrained(tiny_encoder), config.model, config.mccl)
    optimizer, scheduler = build_optimizer(model, config, total_steps=10, fused=False)
    rates = [g["initial_lr"] for g in optimizer.param_groups]
    assert rates == pytest.approx([3e-5, 1.5e-5, 7.5e-6, 1e-3])
    n_optimised = sum(len(g["params"]) for g in optimizer.param_groups)
    encoder, heads = model.trainable_groups()
    assert n_optimised == len(encoder) + len(heads)


def test_layer_lr_decay_and_arousal_weight_are_validated():
    with pytest.raises(ConfigError, match="train.layer_lr_decay must be in"):
        CarlConfig().override({"train.layer_lr_decay": 0}).validate()
    with pytest.raises(ConfigError, match="mccl.arousal_weight must be > 0"):
        CarlConfig().override({"mccl.arousal_weight": 0}).validate()
    with pytest.raises(ConfigError, match="label_mode=continuous"):
        CarlConfig().override({"mccl.arousal_weight": 0.5, "mccl.label_mode": "one_hot"}).validate()
    assert CarlConfig().override({"train.layer_lr_decay": 0.8}).validate().train.layer_lr_decay == 0.8
