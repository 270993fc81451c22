"""From records to padded tensor batches: tokenise once, group by length, pad per batch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from carl.errors import DataError


@dataclass
class Encoded:
    """A corpus tokenised once: token ids per text and a label vector per text."""

    input_ids: list[list[int]]
    labels: np.ndarray  # (N, d) float32
    texts: list[str]

    def __len__(self) -> int:
        return len(self.input_ids)


def label_vocabulary(records: Sequence) -> list[str]:
    """Sorted discrete label names of the records (for the one-hot ablation)."""
    return sorted({label for r in records for label in r.labels})


def label_matrix(records: Sequence, mode: str, vocabulary: Sequence[str] | None = None) -> np.ndarray:
    """V-A rows (continuous), one-hot / multi-hot rows over ``vocabulary`` (discrete labels),
    or an empty (N, 0) matrix (``none``: objectives without labels, e.g. SimCSE)."""
    if mode == "none":
        return np.zeros((len(records), 0), dtype=np.float32)
    if mode == "continuous":
        missing = [r for r in records if r.valence is None or r.arousal is None]
        if missing:
            example = missing[0]
            raise DataError(
                f"{len(missing)} training texts have no valence-arousal label (first: corpus {example.corpus!r}, "
                f"id {example.id!r})",
                fix="train MCCL only on corpora with V-A ratings or lexicon-mapped emotions, or use mccl.label_mode=one_hot",
            )
        return np.array([[r.valence, r.arousal] for r in records], dtype=np.float32)
    vocabulary = list(vocabulary or label_vocabulary(records))
    index = {name: i for i, name in enumerate(vocabulary)}
    out = np.zeros((len(records), len(vocabulary)), dtype=np.float32)
    for row, record in enumerate(records):
        if not record.labels:
            raise DataError(f"text {record.id!r} of corpus {record.corpus!r} has no discrete label",
                            fix="use corpora with emotion/sentiment labels, or data.discrete_labels=va_grid on V-A corpora")
        for label in record.labels:
            out[row, index[label]] = 1.0
    return out


def tokenise(texts: Sequence[str], tokenizer, max_length: int, chunk: int = 4096) -> list[list[int]]:
    """Token ids with special tokens, truncated to ``max_length``; no padding (done per batch)."""
    ids: list[list[int]] = []
    for start in range(0, len(texts), chunk):
        out = tokenizer(list(texts[start : start + chunk]), truncation=True, max_length=max_length)
        ids.extend(out["input_ids"])
    return ids


def encode_records(records: Sequence, tokenizer, max_length: int, label_mode: str = "continuous",
                   vocabulary: Sequence[str] | None = None) -> Encoded:
    texts = [r.text for r in records]
    return Encoded(tokenise(texts, tokenizer, max_length), label_matrix(records, label_mode, vocabulary), texts)


def epoch_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int, group_factor: int = 50) -> list[np.ndarray]:
    """Index batches for one epoch: shuffled, then grouped by length to cut padding.

    Shuffle with a generator seeded by (seed, epoch), cut into mega-batches of
    ``group_factor`` batches, sort each by length, split, and shuffle the batch order.
    Incomplete last batches are dropped (a contrastive loss needs full batches). The same
    (seed, epoch) always gives the same batches, which is what makes resuming exact.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    lengths = np.asarray(lengths)
    mega = batch_size * group_factor
    batches = []
    for start in range(0, len(order), mega):
        chunk = order[start : start + mega]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk) - batch_size + 1, batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def collate(input_ids: Sequence[Sequence[int]], pad_id: int, special_ids: Sequence[int]) -> dict[str, torch.Tensor]:
    """Pad to the longest text in the batch. ``candidates`` marks real, non-special tokens."""
    width = max(len(ids) for ids in input_ids)
    padded = torch.full((len(input_ids), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(input_ids), width), dtype=torch.long)
    for row, ids in enumerate(input_ids):
        padded[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention[row, : len(ids)] = 1
    special = torch.isin(padded, torch.tensor(sorted(set(special_ids)), dtype=torch.long))
    return {"input_ids": padded, "attention_mask": attention, "candidates": attention.bool() & ~special}

