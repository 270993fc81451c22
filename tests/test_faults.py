"""Faults: a killed run resumes exactly; corrupted checkpoints, NaN losses and collapse are reported."""

import os
import signal
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from carl.config import CarlConfig
from carl.errors import CheckpointError
from carl.training.trainer import CollapseError, train
from test_training import tiny_config

# Runs training in a child process that SIGKILLs itself at a chosen point.
KILLER = """
import os, signal, sys
from carl.config import CarlConfig
from carl.training import checkpoint, step, trainer

where, count = sys.argv[2], int(sys.argv[3])
calls = {"n": 0}

def die_after(original):
    def wrapped(*args, **kwargs):
        result = original(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == count:
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    return wrapped

if where == "checkpoint-write":   # after the weights of the count-th checkpoint, before its manifest
    checkpoint.save_model = die_after(checkpoint.save_model)
else:                             # after the count-th training step's backward passes
    step.CarlStep.__call__ = die_after(step.CarlStep.__call__)
trainer.train(CarlConfig.load(sys.argv[1]), progress=False)
"""


@pytest.fixture(scope="module")
def reference(tiny_encoder, data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    train(tiny_config(tiny_encoder, data_dir, out), progress=False)
    return load_file(out / "checkpoints" / "step-0000006" / "model.safetensors")


@pytest.mark.parametrize("where, count", [("checkpoint-write", 2), ("training-step", 5)])
def test_sigkill_then_resume_equals_uninterrupted_run(where, count, reference, tiny_encoder, data_dir, tmp_path):
    config = tiny_config(tiny_encoder, data_dir, tmp_path / "run")
    config.save(tmp_path / "config.yaml")
    done = subprocess.run([sys.executable, "-c", KILLER, str(tmp_path / "config.yaml"), where, str(count)],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    checkpoints = tmp_path / "run" / "checkpoints"
    names = sorted(p.name for p in checkpoints.iterdir())
    assert "step-0000003" in names and "step-0000006" not in names
    if where == "checkpoint-write":
        assert any(".tmp-" in n for n in names)  # the interrupted write left only a temporary folder

    train(config.override({"train.resume": True}), progress=False)
    assert not any(".tmp-" in p.name for p in checkpoints.iterdir())
    resumed = load_file(checkpoints / "step-0000006" / "model.safetensors")
    for name, tensor in reference.items():
        assert torch.equal(resumed[name], tensor), name


def test_corrupted_checkpoint_is_detected_with_a_clear_error(tiny_encoder, data_dir, tmp_path):
    config = tiny_config(tiny_encoder, data_dir, tmp_path, stop_after=3)
    train(config, progress=False)
    weights = tmp_path / "checkpoints" / "step-0000003" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="checksum mismatch.*delete"):
        train(config.override({"train.resume": True}), progress=False)


def test_resume_without_checkpoint_says_so(tiny_encoder, data_dir, tmp_path):
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        train(tiny_config(tiny_encoder, data_dir, tmp_path, resume=True), progress=False)


def test_non_finite_loss_stops_before_any_update_naming_step_and_component(tiny_encoder):
    from carl.inference.encoders import load_encoder
    from carl.network import CarlModel
    from carl.training.batching import collate
    from carl.training.step import CarlStep, NonFiniteLossError

    config = CarlConfig().override({"model.projection_hidden": 16, "model.projection_dim": 8})
    encoder, tokenizer = load_encoder(str(tiny_encoder))
    model = CarlModel.from_config(encoder, config.model, config.mccl)
    batch = collate(tokenizer(["good day", "bad day", "a day"])["input_ids"], 0, tokenizer.all_special_ids)
    batch["labels"] = torch.tensor([[0.9, 0.5], [float("nan"), 0.5], [0.5, 0.5]])
    step = CarlStep(config, lambda loss: loss.backward(), torch.Generator())
    with pytest.raises(NonFiniteLossError, match="MCCL loss is nan at step 7"):
        step(model, batch, 7)
    assert all(p.grad is None for p in model.parameters())


def test_collapse_guard_warns_or_stops(tiny_encoder, data_dir, tmp_path, caplog):
    # A threshold above any real spread makes the guard fire on the first logged step.
    warn = tiny_config(tiny_encoder, data_dir, tmp_path / "warn", max_steps=2).override(
        {"train.collapse_threshold": 100.0})
    train(warn, progress=False)
    assert "collapsing" in caplog.text
    stop = warn.override({"train.on_collapse": "stop", "train.output_dir": str(tmp_path / "stop")})
    with pytest.raises(CollapseError, match="step 1"):
        train(stop, progress=False)


def test_gpu_out_of_memory_becomes_advice(tiny_encoder, data_dir, tmp_path, monkeypatch):
    from carl.errors import CarlError
    from carl.training import step

    def out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(step.CarlStep, "__call__", out_of_memory)
    with pytest.raises(CarlError, match="out of memory at step 0.*lower --batch-size"):
        train(tiny_config(tiny_encoder, data_dir, tmp_path), progress=False)


def test_corpus_smaller_than_one_batch_is_a_clear_error(tiny_encoder, data_dir, tmp_path):
    from carl.errors import ConfigError

    table = tmp_path / "small.csv"
    table.write_text("text,valence,arousal\nI won,5,4\nI lost,1,3\nfine,3,2\n")
    config = tiny_config(tiny_encoder, data_dir, tmp_path / "out").override({"data.train": [str(table)]})
    with pytest.raises(ConfigError, match="only 3 training texts, fewer than one batch of 8"):
        train(config, progress=False)


def test_batch_with_identical_labels_gives_finite_losses(tiny_encoder):
    from carl.inference.encoders import load_encoder
    from carl.network import CarlModel
    from carl.training.batching import collate
    from carl.training.step import CarlStep

    config = CarlConfig().override({"model.projection_hidden": 16, "model.projection_dim": 8,
                                    "ptd.relative_epsilon": True, "ptd.epsilon": 0.01})
    encoder, tokenizer = load_encoder(str(tiny_encoder))
    model = CarlModel.from_config(encoder, config.model, config.mccl)
    for labels in ([0.7, 0.3], [0.5, 0.5]):  # identical everywhere; the second is the neutral origin
        batch = collate(tokenizer(["good day", "bad day", "a day", "the night"])["input_ids"], 0,
                        tokenizer.all_special_ids)
        batch["labels"] = torch.tensor([labels] * 4)
        out = CarlStep(config, lambda loss: loss.backward(), torch.Generator())(model, batch, 0)
        assert torch.isfinite(out.loss) and torch.isfinite(out.mccl) and torch.isfinite(out.ptd)
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        model.zero_grad(set_to_none=True)
