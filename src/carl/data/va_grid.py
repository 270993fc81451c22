"""Discrete classes for V-A corpora: each text's cell in a 3x3 grid of valence and arousal tertiles.

Objectives that need classes (the one-hot MCCL ablation, the supervised cross-entropy and
supervised-contrastive baselines) can then train on the same EmoBank + Facebook-VA texts as
CARL, so the comparison changes the label type and nothing else. The cut points are the
1/3 and 2/3 quantiles of the *training* texts' V and A (so the classes are roughly
balanced per dimension) and are applied unchanged to the dev texts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from carl.data.records import Record
from carl.errors import DataError

LEVELS = ("low", "mid", "high")
CELLS = tuple(f"V-{v}/A-{a}" for v in LEVELS for a in LEVELS)


@dataclasses.dataclass(frozen=True)
class VAGrid:
    valence_cuts: tuple[float, float]
    arousal_cuts: tuple[float, float]

    @classmethod
    def fit(cls, records: Sequence[Record]) -> "VAGrid":
        rated = [r for r in records if r.valence is not None and r.arousal is not None]
        if len(rated) < len(records) or not rated:
            raise DataError(f"{len(records) - len(rated)} of {len(records)} training texts have no valence-arousal "
                            "rating, so they have no V-A grid cell",
                            fix="use data.discrete_labels=native for corpora with emotion or sentiment classes")
        v = np.array([r.valence for r in rated])
        a = np.array([r.arousal for r in rated])
        return cls(tuple(np.quantile(v, [1 / 3, 2 / 3]).tolist()), tuple(np.quantile(a, [1 / 3, 2 / 3]).tolist()))

    def cell(self, valence: float, arousal: float) -> str:
        """``"V-high/A-low"`` etc.: the level of each dimension (a value on a cut goes up)."""
        v = LEVELS[int(np.searchsorted(self.valence_cuts, valence, side="right"))]
        a = LEVELS[int(np.searchsorted(self.arousal_cuts, arousal, side="right"))]
        return f"V-{v}/A-{a}"

    def class_ids(self, records: Sequence[Record]) -> np.ndarray:
        """(N,) int64 index of each record's cell among the nine cells (:data:`CELLS` order)."""
        index = {cell: i for i, cell in enumerate(CELLS)}
        return np.array([index[r.labels[0]] for r in self.relabel(records)], dtype=np.int64)

    def relabel(self, records: Sequence[Record]) -> list[Record]:
        """The records with their discrete labels replaced by their grid cell (V-A kept)."""
        unrated = [r for r in records if r.valence is None or r.arousal is None]
        if unrated:
            raise DataError(f"{len(unrated)} texts have no valence-arousal rating, so no V-A grid cell "
                            f"(first: corpus {unrated[0].corpus!r}, id {unrated[0].id!r})",
                            fix="use data.discrete_labels=native for corpora with emotion or sentiment classes")
        return [dataclasses.replace(r, labels=(self.cell(r.valence, r.arousal),)) for r in records]
