"""bf16 autocast and torch.compile give the fp32 eager numbers within stated tolerances.

Stated tolerances (also in docs/method.md, "Precision"): under bf16 autocast one CARL step's
MCCL and PTD losses are within 1 % (relative) of fp32 and the encoder's gradient keeps a
cosine similarity of at least 0.995 with fp32's; a ``torch.compile``d encoder matches eager
fp32 to 1e-4. Checked on the CPU (autocast works there too), with dropout off so that both
sides compute the same function.
"""

from __future__ import annotations

import copy

import pytest
import torch

from carl.config import CarlConfig

BF16_LOSS_RTOL = 1e-2
BF16_GRAD_COSINE = 0.995
COMPILE_ATOL = 1e-4

TEXTS = ["I won the final today", "I lost my keys again", "what a calm and quiet evening",
         "this is the worst news", "the package arrived on time", "we are so proud of you"]
LABELS = [[0.9, 0.8], [0.2, 0.6], [0.7, 0.1], [0.1, 0.9], [0.6, 0.4], [0.95, 0.7]]


def one_step(model, tokenizer, config, autocast_dtype=None):
    from carl.training.batching import collate
    from carl.training.step import CarlStep

    batch = collate(tokenizer(TEXTS)["input_ids"], tokenizer.pad_token_id, tokenizer.all_special_ids)
    batch["labels"] = torch.tensor(LABELS)
    step = CarlStep(config, lambda loss: loss.backward(), torch.Generator().manual_seed(0))
    model.eval()  # no dropout: both sides compute the same function
    model.zero_grad(set_to_none=True)
    if autocast_dtype is None:
        out = step(model, batch, 0)
    else:
        with torch.autocast("cpu", dtype=autocast_dtype):
            out = step(model, batch, 0)
    # A parameter outside the graph (BERT's unused pooler) has no gradient in eager mode and a
    # zero one when compiled: compare it as zero in both.
    grad = torch.cat([(p.grad.float() if p.grad is not None else torch.zeros_like(p, dtype=torch.float32)).reshape(-1)
                      for p in model.encoder.parameters()])
    return out, grad


@pytest.fixture(scope="module")
def carl_model(tiny_encoder):
    from carl.inference.encoders import load_encoder
    from carl.network import CarlModel

    config = CarlConfig().override({"model.projection_hidden": 32, "model.projection_dim": 16,
                                    "ptd.relative_epsilon": True, "ptd.epsilon": 0.05})
    encoder, tokenizer = load_encoder(str(tiny_encoder))
    torch.manual_seed(0)
    return CarlModel.from_config(encoder, config.model, config.mccl), tokenizer, config


def test_bf16_autocast_matches_fp32_within_tolerance(carl_model):
    model, tokenizer, config = carl_model
    fp32, grad32 = one_step(copy.deepcopy(model), tokenizer, config)
    bf16, grad16 = one_step(copy.deepcopy(model), tokenizer, config, torch.bfloat16)
    assert fp32.mccl > 0 and fp32.ptd > 0
    for name in ("mccl", "ptd"):
        ours, ref = float(getattr(bf16, name)), float(getattr(fp32, name))
        assert abs(ours - ref) <= BF16_LOSS_RTOL * abs(ref), (name, ours, ref)
    cosine = torch.nn.functional.cosine_similarity(grad16, grad32, dim=0)
    assert cosine >= BF16_GRAD_COSINE, float(cosine)
    assert grad16.norm() > 0


def test_bf16_autocast_really_runs_in_bf16(carl_model):
    model, tokenizer, _ = carl_model
    batch = tokenizer(TEXTS[:2], padding=True, return_tensors="pt")
    linear = next(m for m in model.encoder.modules() if isinstance(m, torch.nn.Linear))
    seen = []
    handle = linear.register_forward_hook(lambda module, args, output: seen.append(output.dtype))
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            model.encoder(**batch)
    finally:
        handle.remove()
    assert seen == [torch.bfloat16]  # otherwise the tolerance test above would compare fp32 with itself


def test_compiled_encoder_matches_eager(carl_model):
    pytest.importorskip("torch._inductor")
    model, tokenizer, config = carl_model
    eager, grad_eager = one_step(copy.deepcopy(model), tokenizer, config)
    compiled_model = copy.deepcopy(model)
    compiled_model.encoder.compile(dynamic=True)  # exactly as train.compile=true does
    compiled, grad_compiled = one_step(compiled_model, tokenizer, config)
    torch.testing.assert_close(compiled.mccl, eager.mccl, atol=COMPILE_ATOL, rtol=0)
    torch.testing.assert_close(compiled.ptd, eager.ptd, atol=COMPILE_ATOL, rtol=0)
    torch.testing.assert_close(grad_compiled, grad_eager, atol=COMPILE_ATOL, rtol=1e-3)
