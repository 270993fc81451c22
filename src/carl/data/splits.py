"""Seeded train/dev/test splits for corpora that publish none."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence

from carl.data.records import Record

#: Fractions of groups that go to train and dev; the rest is test.
TRAIN_FRACTION = 0.8
DEV_FRACTION = 0.1


def seeded_split(keys: Sequence[str], seed: int) -> list[str]:
    """Assign "train" / "dev" / "test" to each item, 80/10/10 by group.

    Items with equal keys form one group and always land in the same split, so a
    duplicated text (MPQA repeats many short phrases) or a re-posted tweet id (TEC)
    cannot sit in train and test at once. Groups are ordered by SHA-256 of
    ``"<seed>:<key>"`` and cut at 80 % and 90 %: the result depends only on the keys and
    the seed, never on platform, Python hash randomisation or NumPy version.
    """
    def rank(key: str) -> bytes:
        return hashlib.sha256(f"{seed}:{key}".encode()).digest()

    groups = sorted(set(keys), key=rank)
    n_train = round(len(groups) * TRAIN_FRACTION)
    n_dev = round(len(groups) * DEV_FRACTION)
    split_of = {}
    for position, key in enumerate(groups):
        split_of[key] = "train" if position < n_train else "dev" if position < n_train + n_dev else "test"
    return [split_of[key] for key in keys]


def with_seeded_splits(records: list[Record], keys: Sequence[str], seed: int) -> list[Record]:
    """Copies of ``records`` with their split set by ``seeded_split(keys, seed)``."""
    return [dataclasses.replace(record, split=split) for record, split in zip(records, seeded_split(keys, seed))]
