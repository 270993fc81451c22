"""Readers for the SentEval-style sentiment corpora: SST-2, SST-5, MR, CR, MPQA.

Labels are given as names ("negative", "positive"; SST-5 "very negative" ...
"very positive"); V-A comes from lexicon words like every discrete-label corpus.
"""

from __future__ import annotations

import logging
from pathlib import Path

from carl.data.lexicon import EMOTION_VA_WORDS, label_coordinates, labelled_record
from carl.data.records import Record
from carl.data.registry import CORPORA, require_files
from carl.data.splits import with_seeded_splits
from carl.data.textio import numbered_lines, require_text
from carl.errors import DataError

log = logging.getLogger(__name__)

POLARITY_LABELS: tuple[str, ...] = ("negative", "positive")  # index = 0/1 in the files
SST5_LABELS: tuple[str, ...] = tuple(EMOTION_VA_WORDS["sst5"])  # index = class 0-4

#: Lines of the SentEval releases that hold a label but no text. They are dropped with a
#: warning (an empty text cannot be classified); an empty text elsewhere is an error.
KNOWN_EMPTY_LINES: dict[str, frozenset[int]] = {
    "cr": frozenset({769, 1368, 3691, 3775}),
    "mpqa": frozenset({6415, 7294, 10606}),
}


def _coded_lines(path: Path, names: tuple[str, ...], known_empty: frozenset[int] = frozenset()
                 ) -> list[tuple[int, str, str]]:
    """(line, label name, text) for files of `<class id> <text>` lines."""
    by_code = {str(code): name for code, name in enumerate(names)}
    rows = []
    for line, content in numbered_lines(path):
        code, _, text = content.partition(" ")
        if code not in by_code:
            raise DataError(f"unknown label {code!r}; expected a class id 0-{len(names) - 1} then a space",
                            path=path, line=line)
        if line in known_empty and not text.strip():
            log.warning("%s, line %d: label without text in the release; row dropped (see docs/data.md)", path, line)
            continue
        rows.append((line, by_code[code], require_text(text, path, line)))
    return rows


def _read_official_splits(corpus: str, names: tuple[str, ...], data_dir: Path) -> list[Record]:
    """SST files are named `stsa.<kind>.<split>`, the split being train, dev or test."""
    paths = require_files(CORPORA[corpus], data_dir)
    coordinates = label_coordinates(corpus, data_dir)
    records = []
    for relative, path in paths.items():
        split = relative.rsplit(".", 1)[1]
        records.extend(labelled_record(text, (label,), coordinates, corpus, split, f"{split}-L{line}")
                       for line, label, text in _coded_lines(path, names))
    return records


def read_sst2(data_dir: Path, seed: int) -> list[Record]:
    return _read_official_splits("sst2", POLARITY_LABELS, data_dir)


def read_sst5(data_dir: Path, seed: int) -> list[Record]:
    return _read_official_splits("sst5", SST5_LABELS, data_dir)


def read_mr(data_dir: Path, seed: int) -> list[Record]:
    """rt-polarity.pos / .neg, one snippet per line; seeded split grouped by text."""
    paths = require_files(CORPORA["mr"], data_dir)
    coordinates = label_coordinates("mr", data_dir)
    records = []
    for relative, label in (("mr/rt-polarity.pos", "positive"), ("mr/rt-polarity.neg", "negative")):
        path = paths[relative]
        records.extend(labelled_record(require_text(content, path, line), (label,), coordinates, "mr", "",
                                       f"{label[:3]}-L{line}")
                       for line, content in numbered_lines(path))
    return with_seeded_splits(records, [record.text for record in records], seed)


def _read_unsplit(corpus: str, data_dir: Path, seed: int) -> list[Record]:
    """One `<0/1> <text>` file without a published split; seeded split grouped by text."""
    (path,) = require_files(CORPORA[corpus], data_dir).values()
    coordinates = label_coordinates(corpus, data_dir)
    records = [labelled_record(text, (label,), coordinates, corpus, "", f"L{line}")
               for line, label, text in _coded_lines(path, POLARITY_LABELS, KNOWN_EMPTY_LINES[corpus])]
    return with_seeded_splits(records, [record.text for record in records], seed)


def read_cr(data_dir: Path, seed: int) -> list[Record]:
    return _read_unsplit("cr", data_dir, seed)


def read_mpqa(data_dir: Path, seed: int) -> list[Record]:
    return _read_unsplit("mpqa", data_dir, seed)
