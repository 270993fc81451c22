"""End to end on real EmoBank rows with a tiny encoder: train, stop, resume, export, reload."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from carl.config import CarlConfig
from carl.training.trainer import train

TEXTS = ["I won the final!", "I lost everything today.", "The meeting is at noon.", "Terrified of what comes next."]


def tiny_config(tiny_encoder, data_dir, output_dir, **train_overrides) -> CarlConfig:
    overrides = {"data.train": ["emobank"], "data.data_dir": str(data_dir), "data.max_length": 24,
                 "model.name_or_path": str(tiny_encoder), "model.projection_hidden": 32, "model.projection_dim": 16,
                 "train.batch_size": 8, "train.max_steps": 6, "train.eval_every": 3, "train.save_every": 3,
                 "train.log_every": 1, "train.deterministic": True, "train.output_dir": str(output_dir),
                 "ptd.epsilon": 1e-2, "ptd.relative_epsilon": True}
    overrides.update({f"train.{k}": v for k, v in train_overrides.items()})
    return CarlConfig().override(overrides)


@pytest.fixture(scope="module")
def uninterrupted(tiny_encoder, data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("run-a")
    result = train(tiny_config(tiny_encoder, data_dir, out), progress=False)
    return out, result


def test_run_writes_config_metrics_checkpoints_and_model(uninterrupted):
    out, result = uninterrupted
    assert result.steps == 6
    saved = CarlConfig.load(out / "config.yaml")
    assert saved.train.max_steps == 6 and saved.data.train == ["emobank"]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if "loss" in r]
    assert [r["step"] for r in train_rows] == [1, 2, 3, 4, 5, 6]
    assert all(np.isfinite(r["loss_mccl"]) and r["loss_ptd"] > 0 for r in train_rows)
    assert all(0 < r["perturbed_fraction"] < 0.5 for r in train_rows)
    dev_rows = [r for r in rows if "dev/va_pearson" in r]
    assert [r["step"] for r in dev_rows] == [0, 3, 6]
    assert result.best_step in (3, 6)
    assert (out / "model" / "modules.json").is_file() and (out / "last-model" / "config.json").is_file()
    checkpoints = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert checkpoints == ["step-0000003", "step-0000006"]


def test_training_changes_online_encoder_and_target_follows_by_ema(uninterrupted, tiny_encoder):
    out, _ = uninterrupted
    state = load_file(out / "checkpoints" / "step-0000006" / "model.safetensors")
    initial = load_file(tiny_encoder / "model.safetensors")
    key = next(k for k in initial if k.endswith("encoder.layer.0.attention.self.query.weight"))
    online = state[f"encoder.{key}"]
    target = state[f"target_encoder.{key}"]
    start = initial[key]
    assert not torch.equal(online, start)
    # m >= 0.9996 for 6 steps: the target moves far less than the online encoder.
    assert (target - start).abs().max() < (online - start).abs().max() / 100
    assert not torch.equal(target, start)


def test_stop_and_resume_equals_uninterrupted_run(uninterrupted, tiny_encoder, data_dir, tmp_path):
    out_a, _ = uninterrupted
    first = train(tiny_config(tiny_encoder, data_dir, tmp_path, stop_after=3), progress=False)
    assert first.steps == 3
    assert not (tmp_path / "last-model").exists()
    resumed = train(tiny_config(tiny_encoder, data_dir, tmp_path, resume=True), progress=False)
    assert resumed.steps == 6
    a = load_file(out_a / "checkpoints" / "step-0000006" / "model.safetensors")
    b = load_file(tmp_path / "checkpoints" / "step-0000006" / "model.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3, 4, 5, 6]


def test_exported_model_loads_everywhere_with_same_embeddings(uninterrupted):
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer

    import carl
    from carl.network.embedding import encode_texts

    out, _ = uninterrupted
    path = out / "model"
    ours = carl.load(path).encode(TEXTS)
    st = SentenceTransformer(str(path)).encode(TEXTS)
    hf = encode_texts(AutoModel.from_pretrained(path), AutoTokenizer.from_pretrained(path), TEXTS, pooling="mean")
    assert ours.shape == (4, 32)
    np.testing.assert_allclose(ours, st, atol=1e-6)
    np.testing.assert_allclose(ours, hf, atol=1e-5)
    assert np.linalg.norm(ours[0] - ours[1]) > 0
    meta = json.loads((path / "carl.json").read_text())
    assert meta["pooling"] == "mean" and meta["config"]["train"]["max_steps"] == 6
    # The exported encoder is the online encoder at the best dev step.
    best_step = json.loads((out / "summary.json").read_text())["best_step"]
    assert meta["step"] == best_step


def test_ablations_train(tiny_encoder, data_dir, tmp_path):
    for name, extra in {"no-ptd": {"ptd.enabled": False}, "no-mccl": {"mccl.enabled": False},
                        "online-only": {"mccl.momentum": False}, "random-tokens": {"ptd.token_selection": "random"},
                        "pgd3": {"ptd.pgd_steps": 3},
                        "no-heads-distance": {"mccl.projection_heads": False, "mccl.label_similarity": "neg_sq_distance",
                                              "mccl.momentum": False, "ptd.enabled": False},
                        "queue-with-ptd": {"mccl.queue_size": 12}}.items():
        cfg = tiny_config(tiny_encoder, data_dir, tmp_path / name, max_steps=2, eval_every=100, save_every=100)
        result = train(cfg.override(extra), progress=False)
        rows = [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        losses = [r for r in rows if "loss" in r]
        assert result.steps == 2 and len(losses) == 2, name
        if name == "no-ptd":
            assert all(r["loss_ptd"] == 0 for r in losses)
        if name == "no-mccl":
            assert all(r["loss"] == pytest.approx(0.2 * r["loss_ptd"]) for r in losses)


def test_without_projection_heads_mccl_contrasts_the_pooled_embeddings(tiny_encoder):
    from transformers import AutoModel

    from carl.config import MCCLConfig, ModelConfig
    from carl.network.carl import CarlModel

    encoder = AutoModel.from_pretrained(tiny_encoder)
    model = CarlModel.from_config(encoder, ModelConfig(), MCCLConfig(projection_heads=False)).eval()
    assert model.projection is None and model.prediction is None and model.target_projection is None
    ids = torch.tensor([[101, 1045, 2180, 102], [101, 1045, 2439, 102]])
    mask = torch.ones_like(ids)
    pooled = model.pool(model.online_hidden(model.word_embeddings(ids), mask), mask)
    assert torch.equal(model.predict(pooled), pooled)
    # The EMA target starts as a copy of the online encoder: same pooled embedding, no heads.
    assert torch.allclose(model.target_projection_of(ids, mask), pooled, atol=1e-6)
    encoder_params, head_params = model.trainable_groups()
    assert len(head_params) == len(list(model.discriminator.parameters()))
    with_heads = CarlModel.from_config(AutoModel.from_pretrained(tiny_encoder), ModelConfig(), MCCLConfig())
    assert with_heads.predict(pooled).shape[-1] == ModelConfig().projection_dim


def test_queue_holds_the_last_targets_with_their_labels_and_enters_the_next_loss(tiny_encoder):
    from transformers import AutoModel

    from carl.network.carl import CarlModel
    from carl.training.step import CarlStep

    cfg = CarlConfig().override({"mccl.queue_size": 3, "mccl.projection_heads": False, "mccl.momentum": False,
                                 "ptd.enabled": False, "mccl.label_similarity": "neg_sq_distance"})
    torch.manual_seed(0)
    model = CarlModel.from_config(AutoModel.from_pretrained(tiny_encoder), cfg.model, cfg.mccl).eval()
    batch = {"input_ids": torch.tensor([[101, 1045, 2180, 102], [101, 1045, 2439, 102]]),
             "attention_mask": torch.ones(2, 4, dtype=torch.long),
             "labels": torch.tensor([[0.9, 0.8], [0.1, 0.3]])}
    step = CarlStep(cfg, backward=lambda loss: loss.backward(), generator=torch.Generator().manual_seed(0))
    first = step(model, batch, 0).mccl
    assert len(step.queue) == 2 and torch.equal(step.queue.labels, batch["labels"])
    with torch.no_grad():
        target = model.target_projection_of(batch["input_ids"], batch["attention_mask"])
    assert torch.allclose(step.queue.embeddings, target, atol=1e-6)  # eval mode: no dropout, same rows
    second = step(model, batch, 1).mccl  # the same batch, now with 2 queued rows as extra candidates
    assert len(step.queue) == 3 and second != pytest.approx(float(first))
    without = CarlStep(cfg.override({"mccl.queue_size": 0}), backward=lambda loss: loss.backward(),
                       generator=torch.Generator().manual_seed(0))
    assert without.queue is None and without(model, batch, 0).mccl == pytest.approx(float(first))


def test_class_term_adds_supcon_on_grid_cells_and_pulls_same_cell_rows_together(tiny_encoder):
    from transformers import AutoModel

    from carl.losses import SupConLoss
    from carl.network.carl import CarlModel
    from carl.training.step import CarlStep

    cfg = CarlConfig().override({"mccl.projection_heads": False, "mccl.momentum": False, "ptd.enabled": False,
                                 "mccl.label_similarity": "neg_sq_distance"})
    torch.manual_seed(0)
    model = CarlModel.from_config(AutoModel.from_pretrained(tiny_encoder), cfg.model, cfg.mccl).eval()
    batch = {"input_ids": torch.tensor([[101, 1045, 2180, 102], [101, 1045, 2439, 102], [101, 2057, 2180, 102]]),
             "attention_mask": torch.ones(3, 4, dtype=torch.long),
             "labels": torch.tensor([[0.9, 0.8], [0.1, 0.3], [0.8, 0.7]]),
             "classes": torch.tensor([8, 0, 8])}
    plain = CarlStep(cfg, backward=lambda loss: None, generator=torch.Generator())(model, batch, 0).mccl
    with_class = CarlStep(cfg.override({"mccl.class_weight": 0.5}), backward=lambda loss: None,
                          generator=torch.Generator())
    with torch.no_grad():
        pooled = model.pool(model.online_hidden(model.word_embeddings(batch["input_ids"]), batch["attention_mask"]),
                            batch["attention_mask"])
        target = model.target_projection_of(batch["input_ids"], batch["attention_mask"])
        supcon = SupConLoss(0.1)(model.predict(pooled), target, batch["classes"])
    assert with_class(model, batch, 0).mccl == pytest.approx(float(plain) + 0.5 * float(supcon), rel=1e-5)
    # Its gradient moves row 0 towards row 2 (same cell) more than the soft targets alone do.
    emb = {}
    for name, weight in (("plain", 0.0), ("class", 2.0)):
        step = CarlStep(cfg.override({"mccl.class_weight": weight}), backward=lambda loss: None,
                        generator=torch.Generator())
        leaf = pooled.clone().requires_grad_(True)
        step.global_mccl(model, leaf, target, batch["labels"], batch["classes"]).backward()
        stepped = torch.nn.functional.normalize(leaf - 0.5 * leaf.grad, dim=-1)
        emb[name] = float((stepped[0] @ stepped[2]).detach())
    assert emb["class"] > emb["plain"]


def test_class_weight_needs_continuous_labels_and_is_non_negative():
    from carl.errors import ConfigError

    with pytest.raises(ConfigError, match="mccl.class_weight must be >= 0"):
        CarlConfig().override({"mccl.class_weight": -0.1}).validate()
    with pytest.raises(ConfigError, match="label_mode=continuous"):
        CarlConfig().override({"mccl.class_weight": 0.5, "mccl.label_mode": "one_hot"}).validate()
    with pytest.raises(ConfigError, match="mccl.class_temperature must be > 0"):
        CarlConfig().override({"mccl.class_temperature": 0}).validate()


def test_training_with_the_class_term_runs_on_grid_cells(tiny_encoder, data_dir, tmp_path):
    config = tiny_config(tiny_encoder, data_dir, tmp_path / "run").override(
        {"mccl.class_weight": 0.5, "ptd.enabled": False, "train.max_steps": 2, "train.eval_every": 2})
    result = train(config, progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert result.steps == 2 and all(np.isfinite(r["loss_mccl"]) for r in rows if "loss_mccl" in r)
    assert CarlConfig.load(tmp_path / "run" / "config.yaml").mccl.class_weight == 0.5


def test_carl_step_passes_the_instance_weight_to_mccl():
    from carl.training.step import CarlStep

    step = CarlStep(CarlConfig().override({"mccl.instance_weight": 0.3}), backward=lambda loss: None,
                    generator=torch.Generator())
    assert step.mccl_loss.instance_weight == 0.3


def test_anchor_weight_is_a_fraction_with_a_positive_temperature():
    from carl.errors import ConfigError

    with pytest.raises(ConfigError, match=r"mccl.anchor_weight must be in \[0, 1\]"):
        CarlConfig().override({"mccl.anchor_weight": 1.2}).validate()
    with pytest.raises(ConfigError, match="mccl.anchor_temperature must be > 0"):
        CarlConfig().override({"mccl.anchor_temperature": 0}).validate()


def test_training_with_anchor_targets_embeds_the_texts_with_the_pretrained_weights(tiny_encoder, data_dir, tmp_path,
                                                                                   monkeypatch):
    import carl.training.trainer as trainer_module

    seen = []
    original = trainer_module.encode_texts

    def spy(encoder, *args, **kwargs):
        seen.append({k: v.detach().clone() for k, v in encoder.state_dict().items()})
        return original(encoder, *args, **kwargs)

    monkeypatch.setattr(trainer_module, "encode_texts", spy)
    config = tiny_config(tiny_encoder, data_dir, tmp_path / "run").override(
        {"mccl.anchor_weight": 0.3, "ptd.enabled": False, "train.max_steps": 2, "train.eval_every": 2,
         "train.save_every": 1})
    result = train(config, progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert result.steps == 2 and all(np.isfinite(r["loss_mccl"]) for r in rows if "loss_mccl" in r)
    assert CarlConfig.load(tmp_path / "run" / "config.yaml").mccl.anchor_weight == 0.3
    # A resumed run embeds with the pretrained weights again, not the checkpoint's.
    train(config.override({"train.max_steps": 3, "train.resume": True}), progress=False)
    assert len(seen) == 2 and all(torch.equal(seen[0][k], seen[1][k]) for k in seen[0])


def test_resume_restores_the_label_queue_exactly(tiny_encoder, data_dir, tmp_path):
    """The queue recipe (carl-plus-queue's queue with the paper's heads and PTD): a run stopped at
    step 3 and resumed equals an uninterrupted one, weights and losses, because the queue's rows,
    labels, pointer and fill travel in the checkpoint (an empty queue after resume would change
    every later step's loss)."""
    queue = {"mccl.queue_size": 12}
    whole = train(tiny_config(tiny_encoder, data_dir, tmp_path / "whole").override(queue), progress=False)
    first = train(tiny_config(tiny_encoder, data_dir, tmp_path / "parts", stop_after=3).override(queue), progress=False)
    assert whole.steps == 6 and first.steps == 3
    saved = torch.load(tmp_path / "parts" / "checkpoints" / "step-0000003" / "queue.pt", weights_only=True)
    assert saved["embeddings"].shape == (12, 16) and saved["labels"].shape == (12, 2)
    assert int(saved["filled"]) == 12 and int(saved["next"]) == (3 * 8) % 12
    train(tiny_config(tiny_encoder, data_dir, tmp_path / "parts", resume=True).override(queue), progress=False)
    a = load_file(tmp_path / "whole" / "checkpoints" / "step-0000006" / "model.safetensors")
    b = load_file(tmp_path / "parts" / "checkpoints" / "step-0000006" / "model.safetensors")
    for name in a:
        assert torch.equal(a[name], b[name]), name

    def losses(run):
        rows = [json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
        return [(r["step"], r["loss"]) for r in rows if "loss" in r]

    assert losses("whole") == losses("parts")
