"""SemEval-2007 "Affective Text" headlines with both kinds of human label (corpus ``semeval-headlines``).

The 1,250 headlines of SemEval-2007 Task 14 (Strapparava & Mihalcea 2007) carry six emotion
intensities (anger, disgust, fear, joy, sadness, surprise; 0-100). EmoBank (Buechel & Hahn 2017)
re-annotated 1,192 of them with valence-arousal ratings: its row ``SemEval_<N>`` is headline
``<instance id="N">``. Joined on that id, each headline here is one :class:`Record` with

* ``valence`` / ``arousal``: EmoBank's ratings, normalised exactly as the ``emobank`` corpus
  normalises them (the same records, :func:`carl.data.dimensional.read_emobank`);
* ``labels``: ``(dominant emotion,)``, the one emotion with the highest intensity.

so that the same texts feed a continuous-label and a class-label objective. A headline leaves the
corpus when EmoBank has no row for it (58), when two or more emotions share the highest intensity
(29: no single dominant emotion, and a tie-break rule would invent one), or when every intensity
is 0 (4: no emotion to name; four texts are too few for a "none" class): 1,159 headlines remain.
The dominant emotion is the argmax whatever its intensity (the median headline's highest
intensity is 43, so the official coarse threshold of 50 would leave most headlines without one).

The split is carl's own, seeded 80/10/10 (:data:`SPLIT_RULE`), stratified by dominant emotion and
grouped by text; it follows neither SemEval's trial/test nor EmoBank's train/dev/test split.
EmoBank's split puts 118 of these headlines in its test set and 956 in its train set, so numbers on
this corpus do not compare with EmoBank-test numbers, and a model trained on EmoBank's train split
has seen most of these headlines with their V-A ratings (docs/data.md).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from carl.data.dimensional import read_emobank
from carl.data.records import Record
from carl.data.registry import CORPORA, require_files
from carl.data.splits import seeded_split
from carl.data.textio import numbered_lines
from carl.errors import DataError

log = logging.getLogger(__name__)

CORPUS = "semeval-headlines"
FOLDER = "semeval2007-affective"
#: The six emotions in the column order of ``*.emotions.gold``.
EMOTIONS: tuple[str, ...] = ("anger", "disgust", "fear", "joy", "sadness", "surprise")
SEMEVAL_SPLITS: tuple[str, ...] = ("trial", "test")
SPLIT_RULE = ("seeded 80/10/10 by SHA-256(\"<seed>:<text>\") within each dominant emotion "
              "(data.split_seed / --split-seed; identical texts share a split)")

_INSTANCE = re.compile(r'<instance id="([0-9]+)">(.*)</instance>')
_SCORE = re.compile(r"[0-9]+")
_OPEN, _CLOSE = '<corpus task="affective text">', "</corpus>"


def normalise_whitespace(text: str) -> str:
    """Strip, then collapse every run of whitespace (a tab included) to one space: the form in
    which EmoBank's text equals each SemEval headline."""
    return " ".join(text.split())


def read_headlines(path: Path) -> dict[int, str]:
    """id -> headline of an ``affectivetext_*.xml`` file, read line by line (the test file has a
    bare ``&``, which strict XML parsers reject)."""
    lines = numbered_lines(path)
    if lines[0][1].strip() != _OPEN or lines[-1][1].strip() != _CLOSE:
        raise DataError(f"expected the first line {_OPEN!r} and the last line {_CLOSE!r}", path=path,
                        fix="restore the file from the SemEval-2007 release (see docs/data.md)")
    headlines: dict[int, str] = {}
    for line, content in lines[1:-1]:
        match = _INSTANCE.fullmatch(content.strip())
        if match is None:
            raise DataError('expected \'<instance id="N">headline</instance>\'', path=path, line=line)
        number = int(match[1])
        if number in headlines:
            raise DataError(f"instance id {number} appears twice", path=path, line=line)
        if not match[2].strip():
            raise DataError(f"instance {number} has an empty headline", path=path, line=line)
        headlines[number] = match[2]
    return headlines


def read_intensities(path: Path) -> dict[int, tuple[int, ...]]:
    """id -> the six emotion intensities (0-100) of an ``affectivetext_*.emotions.gold`` file."""
    scores: dict[int, tuple[int, ...]] = {}
    for line, content in numbered_lines(path):
        fields = content.split()
        if len(fields) != 1 + len(EMOTIONS) or not all(_SCORE.fullmatch(field) for field in fields):
            raise DataError(f"expected 'id {' '.join(EMOTIONS)}' as {1 + len(EMOTIONS)} non-negative integers",
                            path=path, line=line)
        number, *values = (int(field) for field in fields)
        if any(value > 100 for value in values):
            raise DataError(f"an intensity above 100 ({max(values)}); the scale is 0-100", path=path, line=line)
        if number in scores:
            raise DataError(f"id {number} appears twice", path=path, line=line)
        scores[number] = tuple(values)
    return scores


def dominant_emotion(intensities: Sequence[int]) -> str | None:
    """The emotion with the highest intensity; None when every intensity is 0 or the highest is shared."""
    top = max(intensities)
    winners = [name for name, value in zip(EMOTIONS, intensities) if value == top]
    return winners[0] if top > 0 and len(winners) == 1 else None


@dataclass(frozen=True)
class HeadlineJoin:
    """What the join kept and left out, by reason (ids are SemEval instance numbers)."""

    headlines: int
    """Headlines in the SemEval files (1,250)."""
    rated: int
    """Of those, with an EmoBank row (1,192)."""
    no_emobank: tuple[int, ...]
    tied: tuple[int, ...]
    """Rated headlines whose highest intensity is shared by two or more emotions."""
    all_zero: tuple[int, ...]
    """Rated headlines with every intensity 0."""
    kept: int
    by_semeval_split: dict[str, int]
    """Kept headlines per SemEval split (trial / test)."""


def join_headlines(data_dir: Path) -> tuple[list[Record], HeadlineJoin]:
    """The kept headlines (split not yet set, in id order) and the join's counts."""
    paths = require_files(CORPORA[CORPUS], data_dir)
    headlines: dict[int, tuple[str, str]] = {}   # id -> (SemEval split, text)
    intensities: dict[int, tuple[int, ...]] = {}
    for split in SEMEVAL_SPLITS:
        xml_path = paths[f"{FOLDER}/affectivetext_{split}.xml"]
        gold_path = paths[f"{FOLDER}/affectivetext_{split}.emotions.gold"]
        texts, scores = read_headlines(xml_path), read_intensities(gold_path)
        if set(texts) != set(scores):
            missing = sorted(set(texts) ^ set(scores))
            raise DataError(f"the headlines of {xml_path.name} and the scores of {gold_path.name} differ in ids "
                            f"(e.g. {missing[:5]})", path=gold_path,
                            fix="restore both files from the same SemEval-2007 release")
        overlap = set(texts) & set(headlines)
        if overlap:
            raise DataError(f"ids {sorted(overlap)[:5]} occur in both the trial and the test file", path=xml_path)
        headlines.update({number: (split, text) for number, text in texts.items()})
        intensities.update(scores)
    emobank = {record.id: record for record in read_emobank(data_dir, 0)}
    emobank_path = paths["emobank/corpus_emobank.csv"]
    records, no_emobank, tied, all_zero = [], [], [], []
    kept_by_split: Counter[str] = Counter()
    for number in sorted(headlines):
        split, raw = headlines[number]
        rated = emobank.get(f"SemEval_{number}")
        if rated is None:
            no_emobank.append(number)
            continue
        text = normalise_whitespace(raw)
        if normalise_whitespace(rated.text) != text:
            raise DataError(f"EmoBank row SemEval_{number} has the text {rated.text!r}, but SemEval headline "
                            f"{number} is {text!r}", path=emobank_path,
                            fix="use EmoBank's corpus file and SemEval-2007's files as released (see docs/data.md)")
        emotion = dominant_emotion(intensities[number])
        if emotion is None:
            (all_zero if max(intensities[number]) == 0 else tied).append(number)
            continue
        kept_by_split[split] += 1
        records.append(Record(text, rated.valence, rated.arousal, (emotion,), CORPUS, "", rated.id))
    if not records:
        raise DataError("no SemEval headline has an EmoBank rating and a dominant emotion", path=emobank_path,
                        fix="the join needs EmoBank's full corpus file (its SemEval_<N> rows)")
    join = HeadlineJoin(len(headlines), len(headlines) - len(no_emobank), tuple(no_emobank), tuple(tied),
                        tuple(all_zero), len(records), dict(kept_by_split))
    return records, join


def headline_splits(records: Sequence[Record], seed: int) -> list[str]:
    """``train`` / ``dev`` / ``test`` per record: :func:`carl.data.splits.seeded_split` (80/10/10 of
    the groups, ranked by SHA-256 of ``"<seed>:<key>"``) run separately within each dominant emotion,
    so every emotion keeps its share in dev and test (disgust has 39 headlines), with the text as the
    key, so that identical headlines (22 texts occur twice) share a split. A text whose copies have
    different dominant emotions is placed with the class of its first copy (lowest id)."""
    stratum: dict[str, str] = {}
    for record in records:
        stratum.setdefault(record.text, record.labels[0])
    split_of: dict[str, str] = {}
    for emotion in sorted(set(stratum.values())):
        keys = sorted(text for text, label in stratum.items() if label == emotion)
        split_of.update(zip(keys, seeded_split(keys, seed)))
    return [split_of[record.text] for record in records]


def read_semeval_headlines(data_dir: Path, seed: int) -> list[Record]:
    """The joined headlines (see the module docstring) with carl's seeded split (``seed``)."""
    import dataclasses

    records, join = join_headlines(data_dir)
    log.info("%s: %d of %d headlines kept (%d without an EmoBank row, %d with a tied highest emotion, %d with "
             "every emotion 0)", CORPUS, join.kept, join.headlines, len(join.no_emobank), len(join.tied),
             len(join.all_zero))
    return [dataclasses.replace(record, split=split) for record, split in zip(records, headline_splits(records, seed))]
