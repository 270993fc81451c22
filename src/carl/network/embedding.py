"""Sentence embeddings from an encoder: the path shared by training-time dev checks and export."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from carl.losses.functional import cls_pool, mean_pool

POOLERS = {"mean": mean_pool, "cls": cls_pool}


@torch.no_grad()
def encode_texts(encoder, tokenizer, texts: Sequence[str], *, pooling: str = "mean", batch_size: int = 64,
                 max_length: int = 128, device: torch.device | str | None = None) -> np.ndarray:
    """Pooled last-layer states (N, H) as float32, in input order.

    Texts are processed longest-first so that each batch pads little; dropout is off.
    """
    if len(texts) == 0:
        return np.zeros((0, encoder.config.hidden_size), dtype=np.float32)
    device = device or next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    order = np.argsort([-len(t) for t in texts], kind="stable")
    out = np.empty((len(texts), encoder.config.hidden_size), dtype=np.float32)
    for start in range(0, len(texts), batch_size):
        idx = order[start : start + batch_size]
        batch = tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        batch = {k: v.to(device) for k, v in batch.items()}
        hidden = encoder(**batch).last_hidden_state
        out[idx] = POOLERS[pooling](hidden, batch["attention_mask"]).float().cpu().numpy()
    encoder.train(was_training)
    return out
