"""Emotion classes across corpora: one class vocabulary for a union of emotion and V-A corpora.

The discrete-label contenders of a training union (``data.discrete_labels=emotion``) need one
class per text, on the same texts as CARL's continuous V-A labels. Emotion corpora name their
classes differently for the same emotion, so names are unified where they coincide
(:data:`SYNONYMS`; every other name is already shared: GoEmotions' 28 labels contain TEC's and
CARER's six and DailyDialog's after the two renamings). Texts of dimensional corpora (EmoBank,
Facebook-VA) have ratings and no emotion: they get their cell of the 3x3 V-A grid fitted on the
rated training texts (:mod:`carl.data.va_grid`), the same discretisation the grid-class baselines
use, rather than an emotion the raters never gave.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from carl.data.records import Record
from carl.data.va_grid import VAGrid
from carl.errors import DataError

#: corpus label -> unified class name, where two corpora name one emotion differently.
SYNONYMS: dict[str, str] = {"no emotion": "neutral", "happiness": "joy"}


def unified(label: str) -> str:
    return SYNONYMS.get(label, label)


def emotion_classes(train: Sequence[Record], dev: Sequence[Record]) -> tuple[list[Record], list[Record]]:
    """The records with one class each: the unified emotion of an emotion-labelled text, the V-A grid
    cell (grid fitted on the rated training texts) of a rated text without labels."""
    for record in (*train, *dev):
        if len(record.labels) > 1:
            raise DataError(f"text {record.id!r} of corpus {record.corpus!r} has {len(record.labels)} emotion labels; "
                            "data.discrete_labels=emotion needs one per text",
                            fix="train on single-label corpora (goemotions-single instead of goemotions)")
    rated = [r for r in train if not r.labels]
    grid = VAGrid.fit(rated) if rated else None

    def relabel(records: Sequence[Record]) -> list[Record]:
        out = []
        for record in records:
            if record.labels:
                out.append(dataclasses.replace(record, labels=(unified(record.labels[0]),)))
            elif grid is None:
                raise DataError(f"text {record.id!r} of corpus {record.corpus!r} has neither an emotion label nor "
                                "rated training texts to fit a V-A grid on")
            else:
                out.append(grid.relabel([record])[0])
        return out

    return relabel(train), relabel(dev)
