"""Reader for Sentiment140-100k: 100,000 tweets labelled positive or negative by their emoticons.

The shared data folder holds the first 50,000 tweets of each label of Sentiment140
(Go, Bhayani & Huang 2009) as ``sentiment140-100k/negative.txt`` and ``positive.txt``, one
tweet per line; the file is the label. No split is published, so carl makes one like MR's:
the seeded 80/10/10 split of :func:`carl.data.splits.seeded_split`, grouped by text (the
99,347 distinct texts are cut at 80 % and 90 %; the default seed 0 gives 79,999 / 9,990 /
10,011 tweets, negative 40,129 / 4,939 / 4,932). It depends only on the texts
and the seed, so re-reading the files gives the same split on any machine.

Texts are kept as released (HTML entities such as ``&quot;`` undecoded, @mentions and URLs
kept), stripped of surrounding whitespace. The 17 texts that occur under both labels stay in
the corpus with both labels (one record per line); grouping by text puts both records in one
split, so a test text is never also a training text. V-A comes from the NRC-VAD coordinates
of ``negative`` / ``positive`` like every polarity corpus.
"""

from __future__ import annotations

from pathlib import Path

from carl.data.lexicon import label_coordinates, labelled_record
from carl.data.records import Record
from carl.data.registry import CORPORA, require_files
from carl.data.splits import with_seeded_splits
from carl.data.textio import numbered_lines, require_text

__all__ = ["SENTIMENT140_FILES", "read_sentiment140"]

#: file (relative to the data folder) -> label, in the order records are returned.
SENTIMENT140_FILES: dict[str, str] = {
    "sentiment140-100k/negative.txt": "negative",
    "sentiment140-100k/positive.txt": "positive",
}


def read_sentiment140(data_dir: Path, seed: int) -> list[Record]:
    """Every tweet as a Record (ids ``neg-L<line>`` / ``pos-L<line>``), split 80/10/10 by text
    with ``seed`` (see the module docstring)."""
    paths = require_files(CORPORA["sentiment140"], data_dir)
    coordinates = label_coordinates("sentiment140", data_dir)
    records = []
    for relative, label in SENTIMENT140_FILES.items():
        path = paths[relative]
        records.extend(labelled_record(require_text(content, path, line), (label,), coordinates, "sentiment140", "",
                                       f"{label[:3]}-L{line}")
                       for line, content in numbered_lines(path))
    return with_seeded_splits(records, [record.text for record in records], seed)
