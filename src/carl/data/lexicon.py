"""Discrete labels -> V-A coordinates through the NRC-VAD lexicon.

Every label of every supported corpus maps to one explicitly chosen lexicon word, so
the coordinates a label gets are visible in one table (EMOTION_VA_WORDS, also printed
in docs/data.md) rather than hidden in string matching. A row with several labels gets
the mean of its labels' coordinates.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from carl.data.records import Record
from carl.data.registry import NRC_VAD, require_files, resolve_data_dir
from carl.data.textio import numbered_lines, parse_rating
from carl.errors import DataError

_SAME = {name: name for name in ("anger", "disgust", "fear", "joy", "sadness", "surprise")}
_POLARITY = {"negative": "negative", "positive": "positive"}

#: The 28 GoEmotions labels in labels.txt order (ids 0-27); every name is a lexicon word.
GOEMOTIONS_LABELS: tuple[str, ...] = (
    "admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion", "curiosity",
    "desire", "disappointment", "disapproval", "disgust", "embarrassment", "excitement", "fear",
    "gratitude", "grief", "joy", "love", "nervousness", "optimism", "pride", "realization", "relief",
    "remorse", "sadness", "surprise", "neutral",
)

#: GoEmotions-10 (carl's definition, not a published split): the 10 most frequent emotions
#: in the train split, neutral excluded. Counting single-label rows or all label
#: occurrences gives the same 10, so the choice is robust. Listed in GoEmotions order.
GOEMOTIONS_10_LABELS: tuple[str, ...] = (
    "admiration", "amusement", "anger", "annoyance", "approval", "curiosity", "disapproval",
    "gratitude", "love", "optimism",
)

#: corpus -> {label name: NRC-VAD word}. Key order is each corpus's class order.
EMOTION_VA_WORDS: dict[str, dict[str, str]] = {
    "goemotions": {name: name for name in GOEMOTIONS_LABELS},
    "goemotions-10": {name: name for name in GOEMOTIONS_10_LABELS},
    "goemotions-ekman": {"anger": "anger", "disgust": "disgust", "fear": "fear", "joy": "joy",
                         "neutral": "neutral", "sadness": "sadness", "surprise": "surprise"},
    "goemotions-group": {"ambiguous": "ambiguous", "negative": "negative", "neutral": "neutral",
                         "positive": "positive"},
    "dailydialog": {"no emotion": "neutral", "anger": "anger", "disgust": "disgust", "fear": "fear",
                    "happiness": "happiness", "sadness": "sadness", "surprise": "surprise"},
    "tec": dict(_SAME),
    "carer": {"sadness": "sadness", "joy": "joy", "love": "love", "anger": "anger", "fear": "fear",
              "surprise": "surprise"},
    "sst2": dict(_POLARITY),
    "sst5": {"very negative": "terrible", "negative": "negative", "neutral": "neutral",
             "positive": "positive", "very positive": "excellent"},
    "mr": dict(_POLARITY),
    "cr": dict(_POLARITY),
    "mpqa": dict(_POLARITY),
    "sentiment140": dict(_POLARITY),
    # IEMOCAP rows carry their own V-A ratings, which load_corpus uses; this mapping is
    # for label-derived coordinates (e.g. a "discrete labels" ablation) via label_coordinates.
    "iemocap": {"neutral": "neutral", "happiness": "happiness", "sadness": "sadness", "anger": "anger",
                "excitement": "excitement", "frustration": "frustration", "fear": "fear",
                "surprise": "surprise", "disgust": "disgust", "other": "other", "no agreement": "undecided"},
}

_HEADER = "Word\tValence\tArousal\tDominance"


def load_nrc_vad(data_dir: str | os.PathLike | None) -> dict[str, tuple[float, float]]:
    """word -> (valence, arousal), both already in [0, 1] in NRC-VAD v1."""
    path = require_files(NRC_VAD, resolve_data_dir(data_dir))[NRC_VAD.files[0]]
    lines = numbered_lines(path)
    if lines[0][1] != _HEADER:
        raise DataError(f"expected the NRC-VAD v1 header {_HEADER!r}", path=path, line=1,
                        fix="use NRC-VAD-Lexicon.txt from NRC-VAD-Lexicon-Aug2018Release.zip")
    lexicon = {}
    for number, line in lines[1:]:
        fields = line.split("\t")
        if len(fields) != 4:
            raise DataError(f"expected 4 tab-separated fields, found {len(fields)}", path=path, line=number)
        valence, arousal = (parse_rating(value, what, path, number) for value, what in
                            ((fields[1], "valence"), (fields[2], "arousal")))
        if not (0 <= valence <= 1 and 0 <= arousal <= 1):
            raise DataError("NRC-VAD values must lie in [0, 1]", path=path, line=number)
        lexicon[fields[0]] = (valence, arousal)
    return lexicon


def label_coordinates(corpus: str, data_dir: str | os.PathLike | None) -> dict[str, tuple[float, float]]:
    """label name -> (valence, arousal) for one corpus, via EMOTION_VA_WORDS and NRC-VAD."""
    root = resolve_data_dir(data_dir)
    lexicon = load_nrc_vad(root)
    coordinates = {}
    for label, word in EMOTION_VA_WORDS[corpus].items():
        if word not in lexicon:
            raise DataError(f"label {label!r} of {corpus} maps to {word!r}, which the lexicon lacks",
                            path=root / NRC_VAD.files[0], fix="use the NRC-VAD v1 lexicon (Aug 2018 release)")
        coordinates[label] = lexicon[word]
    return coordinates


def mean_coordinates(labels: Sequence[str], coordinates: dict[str, tuple[float, float]]) -> tuple[float, float]:
    """Mean V and A of a row's labels: a multi-label row sits between its emotions."""
    points = [coordinates[label] for label in labels]
    return (sum(v for v, _ in points) / len(points), sum(a for _, a in points) / len(points))


def labelled_record(text: str, labels: Sequence[str], coordinates: dict[str, tuple[float, float]],
                    corpus: str, split: str, record_id: str) -> Record:
    """A Record whose V-A comes from its discrete labels."""
    valence, arousal = mean_coordinates(labels, coordinates)
    return Record(text, valence, arousal, tuple(labels), corpus, split, record_id)


def check_label(label: str, corpus: str, path: Path, line: int) -> str:
    """Return ``label`` if the corpus knows it; otherwise say which labels it knows."""
    if label not in EMOTION_VA_WORDS[corpus]:
        raise DataError(f"unknown label {label!r}; {corpus} labels are {list(EMOTION_VA_WORDS[corpus])}",
                        path=path, line=line)
    return label
