"""load_corpus: one entry point from a corpus name to a list of Records."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from carl.data.dimensional import read_emobank, read_facebook_va
from carl.data.emotions import (read_carer, read_dailydialog, read_goemotions_10, read_goemotions_single,
                                read_goemotions_variant, read_tec)
from carl.data.iemocap import read_iemocap
from carl.data.semeval import read_semeval_headlines
from carl.data.records import SPLITS, Record
from carl.data.registry import corpus_info, resolve_data_dir
from carl.data.sentiment import read_cr, read_mpqa, read_mr, read_sst2, read_sst5
from carl.data.sentiment140 import read_sentiment140
from carl.errors import DataError


def _goemotions(name: str) -> Callable[[Path, int], list[Record]]:
    return lambda data_dir, seed: read_goemotions_variant(name, data_dir)


#: name -> reader(data_dir, seed) returning every split of the corpus.
_READERS: dict[str, Callable[[Path, int], list[Record]]] = {
    "emobank": read_emobank,
    "facebook-va": read_facebook_va,
    "semeval-headlines": read_semeval_headlines,
    "goemotions": _goemotions("goemotions"),
    "goemotions-ekman": _goemotions("goemotions-ekman"),
    "goemotions-group": _goemotions("goemotions-group"),
    "goemotions-10": read_goemotions_10,
    "goemotions-single": read_goemotions_single,
    "dailydialog": read_dailydialog,
    "tec": read_tec,
    "carer": read_carer,
    "sst2": read_sst2,
    "sst5": read_sst5,
    "mr": read_mr,
    "cr": read_cr,
    "mpqa": read_mpqa,
    "sentiment140": read_sentiment140,
    "iemocap": read_iemocap,
}


def _wanted_splits(splits: Sequence[str] | str | None) -> tuple[str, ...]:
    if splits is None:
        return SPLITS
    wanted = (splits,) if isinstance(splits, str) else tuple(splits)
    unknown = [split for split in wanted if split not in SPLITS]
    if unknown:
        raise DataError(f"unknown split(s) {unknown}; splits are {list(SPLITS)}")
    return wanted


def load_corpus(name: str, data_dir: str | os.PathLike | None, splits: Sequence[str] | None = None, *,
                seed: int = 0) -> list[Record]:
    """Records of corpus ``name`` from ``data_dir`` (resolved as in resolve_data_dir).

    ``splits=None`` returns all splits. ``seed`` only matters for corpora without a
    published split (facebook-va, tec, mr, cr, mpqa, sentiment140): the same seed always gives the
    same split. Records keep the order of the corpus files.
    """
    corpus_info(name)
    wanted = _wanted_splits(splits)
    records = _READERS[name](resolve_data_dir(data_dir), seed)
    return [record for record in records if record.split in wanted]
