"""Readers for corpora with native valence-arousal ratings: EmoBank and Facebook-VA."""

from __future__ import annotations

import logging
from pathlib import Path

from carl.data.records import SPLITS, Record
from carl.data.registry import CORPORA, require_files
from carl.data.scaling import Scale
from carl.data.splits import with_seeded_splits
from carl.data.textio import column_positions, parse_rating, require_text, table_rows
from carl.errors import DataError

log = logging.getLogger(__name__)

#: One row of a dimensional corpus before normalisation: id, split, text, valence, arousal, labels.
RawRow = tuple[str, str, str, float, float, tuple[str, ...]]

#: The Facebook-VA release has one row whose message is empty (anonymisation removed
#: all of it). It is dropped with a warning; an empty message anywhere else is an error.
FACEBOOK_EMPTY_MESSAGE_LINE = 72


def rating_in(value: str, scale: Scale, what: str, path: Path, line: int) -> float:
    """Parse a rating and check it lies on the corpus's published scale."""
    number = parse_rating(value, what, path, line)
    if not scale.contains(number):
        raise DataError(f"{what} {number} is outside the scale {scale.low:g}-{scale.high:g}", path=path, line=line)
    return number


def normalised(corpus: str, rows: list[RawRow], path: Path) -> list[Record]:
    """Records with V and A min-max normalised over all rows of the corpus file."""
    v_scale = Scale.observed((row[3] for row in rows), "valence", path)
    a_scale = Scale.observed((row[4] for row in rows), "arousal", path)
    return [Record(text, v_scale(v), a_scale(a), labels, corpus, split, record_id)
            for record_id, split, text, v, a, labels in rows]


def read_emobank(data_dir: Path, seed: int) -> list[Record]:
    """EmoBank's combined reader+writer ratings (1-5) with its official split column."""
    path = require_files(CORPORA["emobank"], data_dir)["emobank/corpus_emobank.csv"]
    header, body = table_rows(path, ",")
    column = column_positions(header, ["id", "split", "V", "A", "text"], path)
    scale = Scale(1, 5)
    rows = []
    for line, row in body:
        split = row[column["split"]]
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r}; expected one of {list(SPLITS)}", path=path, line=line)
        rows.append((row[column["id"]], split, require_text(row[column["text"]], path, line),
                     rating_in(row[column["V"]], scale, "valence (V)", path, line),
                     rating_in(row[column["A"]], scale, "arousal (A)", path, line), ()))
    return normalised("emobank", rows, path)


def read_facebook_va(data_dir: Path, seed: int) -> list[Record]:
    """Facebook posts; gold V and A are the means of the two raters (1-9); seeded split."""
    path = require_files(CORPORA["facebook-va"], data_dir)["facebook-va/dataset-fb-valence-arousal-anon.csv"]
    header, body = table_rows(path, ",")
    names = ["Anonymized Message", "Valence1", "Valence2", "Arousal1", "Arousal2"]
    column = column_positions(header, names, path)
    scale = Scale(1, 9)
    rows = []
    for line, row in body:
        message = row[column["Anonymized Message"]]
        if line == FACEBOOK_EMPTY_MESSAGE_LINE and not message.strip():
            log.warning("%s, line %d: empty message in the release; row dropped (see docs/data.md)", path, line)
            continue
        v1, v2, a1, a2 = (rating_in(row[column[name]], scale, name, path, line) for name in names[1:])
        rows.append((f"L{line}", "", require_text(message, path, line), (v1 + v2) / 2, (a1 + a2) / 2, ()))
    records = normalised("facebook-va", rows, path)
    return with_seeded_splits(records, [record.text for record in records], seed)
