"""Data parallelism: 2 CPU processes (gloo) equal 1 process on the same global batch."""

import os
import pathlib
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from carl.config import CarlConfig
from carl.training.trainer import train

# Summation order differs between one process and an all-reduce of two: equality holds up to
# float32 rounding, amplified a little by AdamW's normalised updates over a few steps.
ATOL = 2e-5


@pytest.fixture(scope="module")
def dropout_free_encoder(tmp_path_factory):
    """Dropout draws differ between processes by design; without it the runs must agree."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from carl.inference.encoders import resolve_model_path

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-bert-nodropout")
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path("minilm"))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def write_config(path: pathlib.Path, encoder: pathlib.Path, data_dir: pathlib.Path, output: pathlib.Path,
                 **settings) -> None:
    cfg = CarlConfig().override({
        "data.train": ["emobank"], "data.data_dir": str(data_dir), "data.max_length": 24,
        "model.name_or_path": str(encoder), "model.projection_hidden": 32, "model.projection_dim": 16,
        "train.batch_size": 8, "train.max_steps": 3, "train.eval_every": 1000, "train.save_every": 1000,
        "train.log_every": 1, "train.output_dir": str(output), "ptd.epsilon": 1e-2, "ptd.relative_epsilon": True,
        **settings,
    })
    cfg.save(path)


def torchrun(config: pathlib.Path, port: int, *extra: str) -> None:
    # torchrun sets RANK / WORLD_SIZE; with ACCELERATE_USE_CPU Accelerate runs them as MULTI_CPU (gloo).
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "ACCELERATE_USE_CPU": "true"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
               "-m", "carl.cli", "train", "--config", str(config), *extra]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def test_two_processes_equal_one_process_on_the_global_batch(dropout_free_encoder, data_dir, tmp_path):
    single_cfg, multi_cfg = tmp_path / "single.yaml", tmp_path / "multi.yaml"
    write_config(single_cfg, dropout_free_encoder, data_dir, tmp_path / "single")
    write_config(multi_cfg, dropout_free_encoder, data_dir, tmp_path / "multi")
    train(CarlConfig.load(single_cfg), progress=False)

    torchrun(multi_cfg, 29533)

    single = load_file(tmp_path / "single" / "checkpoints" / "step-0000003" / "model.safetensors")
    multi = load_file(tmp_path / "multi" / "checkpoints" / "step-0000003" / "model.safetensors")
    assert single.keys() == multi.keys()
    initial = load_file(dropout_free_encoder / "model.safetensors")
    moved = 0
    for name in single:
        torch.testing.assert_close(multi[name], single[name], atol=ATOL, rtol=0, msg=name)
        base = name.removeprefix("encoder.")
        if name.startswith("encoder.") and base in initial and not torch.equal(single[name], initial[base]):
            moved += 1
    assert moved > 10  # the comparison is between trained weights, not two untouched copies
    rows = (tmp_path / "multi" / "metrics.jsonl").read_text()
    assert '"processes": 2' in rows


def test_two_process_resume_restores_every_processes_random_state(tiny_encoder, data_dir, tmp_path):
    """Each process draws its own random token selections (generator seeded with seed + rank):
    a resumed 2-process run equals the uninterrupted one only if every rank's random state was
    saved and restored. (Dropout draws from torch's RNG, seeded alike on every rank.)"""
    settings = {"train.max_steps": 4, "train.save_every": 2, "ptd.token_selection": "random"}
    whole, parts = tmp_path / "whole.yaml", tmp_path / "parts.yaml"
    write_config(whole, tiny_encoder, data_dir, tmp_path / "whole", **settings)
    write_config(parts, tiny_encoder, data_dir, tmp_path / "parts", **settings)
    torchrun(whole, 29541)
    torchrun(parts, 29542, "--set", "train.stop_after=2")
    assert (tmp_path / "parts/checkpoints/step-0000002/rng-rank1.pt").is_file()
    assert not (tmp_path / "parts/checkpoints/step-0000004").exists()
    torchrun(parts, 29543, "--resume")

    uninterrupted = load_file(tmp_path / "whole" / "checkpoints" / "step-0000004" / "model.safetensors")
    resumed = load_file(tmp_path / "parts" / "checkpoints" / "step-0000004" / "model.safetensors")
    for name in uninterrupted:
        torch.testing.assert_close(resumed[name], uninterrupted[name], atol=1e-6, rtol=0, msg=name)


def test_resuming_with_more_processes_than_wrote_the_checkpoint_is_refused(tmp_path):
    from carl.errors import CheckpointError
    from carl.training import checkpoint as ckpt

    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    generator = torch.Generator().manual_seed(0)
    path = ckpt.save_checkpoint(tmp_path, 2, model, optimizer, scheduler, {}, ckpt.all_rng_states(generator))
    assert ckpt.load_checkpoint(path, model, optimizer, scheduler, generator, rank=0) == {"step": 2}
    with pytest.raises(CheckpointError, match="no random state for process 1.*same number of processes"):
        ckpt.load_checkpoint(path, model, optimizer, scheduler, generator, rank=1)


@pytest.mark.parametrize("engine", ["DEEPSPEED", "FSDP", "MEGATRON_LM"])
def test_sharding_engines_are_refused_before_any_work(engine, tiny_encoder, data_dir, tmp_path, monkeypatch):
    from accelerate import Accelerator
    from accelerate.utils import DistributedType

    from carl.errors import ConfigError
    from test_training import tiny_config

    monkeypatch.setattr(Accelerator, "distributed_type", property(lambda self: DistributedType[engine]))
    with pytest.raises(ConfigError, match=f"configured for {engine}.*--multi_gpu"):
        train(tiny_config(tiny_encoder, data_dir, tmp_path / "out"), progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("engine", ["NO", "MULTI_CPU", "MULTI_GPU"])
def test_replicated_data_parallel_set_ups_are_accepted(engine):
    from accelerate.utils import DistributedType

    from carl.training.trainer import require_replicated_weights

    require_replicated_weights(DistributedType[engine])  # no error
