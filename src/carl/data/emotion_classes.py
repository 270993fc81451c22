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

import numpy as np

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


#: The class id of a text without an emotion label (a rated text) in :func:`emotion_class_ids`.
NO_EMOTION_CLASS = -1


def emotion_class_ids(records: Sequence[Record]) -> tuple[np.ndarray, list[str]]:
    """Each record's unified emotion as an index into the sorted class names, or
    :data:`NO_EMOTION_CLASS` for a record without an emotion label (the hybrid's emotion term
    leaves rated texts out rather than giving them a V-A grid cell)."""
    for record in records:
        if len(record.labels) > 1:
            raise DataError(f"text {record.id!r} of corpus {record.corpus!r} has {len(record.labels)} emotion labels; "
                            "the emotion term (objective.emotion_weight) needs at most one per text",
                            fix="train on single-label corpora (goemotions-single instead of goemotions)")
    names = sorted({unified(r.labels[0]) for r in records if r.labels})
    if not names:
        raise DataError("no training text has an emotion label, so objective.emotion_weight has nothing to learn from",
                        fix="add an emotion corpus (e.g. goemotions-single, carer) or set objective.emotion_weight=0")
    index = {name: i for i, name in enumerate(names)}
    ids = np.array([index[unified(r.labels[0])] if r.labels else NO_EMOTION_CLASS for r in records], dtype=np.int64)
    return ids, names
