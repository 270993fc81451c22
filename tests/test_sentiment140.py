"""The Sentiment140-100k reader on the real files: sizes, labels, the seeded split, and the
named-only ``sentiment140`` evaluation task."""

from __future__ import annotations

import collections
import os
from pathlib import Path

import pytest

from carl.data import CORPORA, load_corpus
from carl.evaluation.task_specs import TASKS, known_tasks, resolve_task_names

DATA_DIR = Path(os.environ.get("CARL_DATA_DIR") or Path(__file__).resolve().parents[1].parent / "shared" / "data")


@pytest.fixture(scope="module")
def records():
    if not (DATA_DIR / "sentiment140-100k" / "negative.txt").is_file():
        pytest.fail(f"Sentiment140-100k not found under {DATA_DIR}: set CARL_DATA_DIR to the shared corpora")
    return load_corpus("sentiment140", DATA_DIR)


def test_every_tweet_is_read_with_its_file_label(records):
    assert len(records) == 100_000
    assert collections.Counter(r.labels for r in records) == {("negative",): 50_000, ("positive",): 50_000}
    first = records[0]  # negative.txt line 1, trailing spaces stripped
    assert first.id == "neg-L1" and first.text.startswith("@switchfoot http://twitpic.com/2y1zl - Awww")
    assert records[50_000].id == "pos-L1" and records[50_000].labels == ("positive",)
    assert len({r.text for r in records}) == 99_347  # the data README's count of distinct texts


def test_split_is_seeded_documented_and_stable(records):
    sizes = collections.Counter(r.split for r in records)
    assert sizes == {"train": 79_999, "dev": 9_990, "test": 10_011}  # the counts the reader's docstring gives
    negatives = collections.Counter(r.split for r in records if r.labels == ("negative",))
    assert negatives == {"train": 40_129, "dev": 4_939, "test": 4_932}
    again = load_corpus("sentiment140", DATA_DIR, seed=0)
    assert [r.split for r in again] == [r.split for r in records]
    other = load_corpus("sentiment140", DATA_DIR, seed=1)
    assert [r.split for r in other] != [r.split for r in records]


def test_a_text_never_straddles_two_splits(records):
    split_of: dict[str, set] = collections.defaultdict(set)
    for r in records:
        split_of[r.text].add(r.split)
    assert all(len(splits) == 1 for splits in split_of.values())
    both = {t for t, labels in _labels_by_text(records).items() if len(labels) == 2}
    assert len(both) == 17  # the data README: 17 texts occur under both labels


def _labels_by_text(records):
    out: dict[str, set] = collections.defaultdict(set)
    for r in records:
        out[r.text].add(r.labels[0])
    return out


def test_registered_with_checksums_and_as_a_named_only_task():
    info = CORPORA["sentiment140"]
    assert set(info.sha256) == set(info.files) and not info.fetchable
    assert TASKS["sentiment140"].kind == "classification" and TASKS["sentiment140"].corpus == "sentiment140"
    assert "sentiment140" not in known_tasks() and "sentiment140" not in resolve_task_names("all")
    assert resolve_task_names("sentiment140,emobank") == ["emobank", "sentiment140"]
    assert "sentiment140" in resolve_task_names("all,sentiment140")
