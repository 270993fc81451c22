"""Readers for discrete-emotion corpora: GoEmotions (4 variants), DailyDialog, TEC, CARER.

V-A comes from each label's NRC-VAD word (lexicon.EMOTION_VA_WORDS).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

from carl.data.lexicon import EMOTION_VA_WORDS, check_label, label_coordinates, labelled_record
from carl.data.records import SPLITS, Record
from carl.data.registry import CORPORA, CorpusInfo, require_files
from carl.data.splits import with_seeded_splits
from carl.data.textio import numbered_lines, require_text
from carl.errors import DataError

log = logging.getLogger(__name__)


# --- GoEmotions -------------------------------------------------------------------

def _goemotions_label_names(path: Path, vocabulary: str) -> list[str]:
    """Label names from a labels.txt (line n = label id n-1), each known to carl."""
    return [check_label(name.strip(), vocabulary, path, line) for line, name in numbered_lines(path)]


def _goemotions_label_ids(field: str, names: list[str], path: Path, line: int) -> tuple[str, ...]:
    try:
        ids = [int(item) for item in field.split(",")]
    except ValueError:
        raise DataError(f"label ids {field!r} are not comma-separated integers", path=path, line=line) from None
    for label_id in ids:
        if not 0 <= label_id < len(names):
            raise DataError(f"unknown label id {label_id}; labels.txt defines ids 0-{len(names) - 1}",
                            path=path, line=line)
    return tuple(names[label_id] for label_id in ids)


def _goemotions_rows(info: CorpusInfo, vocabulary: str, data_dir: Path
                     ) -> Iterator[tuple[str, str, str, tuple[str, ...]]]:
    """(split, comment id, text, label names) for every row of a GoEmotions folder.

    The TSVs are unquoted (comments contain quotes), so they are split on tabs rather
    than read with a CSV parser.
    """
    paths = require_files(info, data_dir)
    folder = info.files[0].rsplit("/", 1)[0]
    names = _goemotions_label_names(paths[f"{folder}/labels.txt"], vocabulary)
    for split in SPLITS:
        path = paths[f"{folder}/{split}.tsv"]
        for line, content in numbered_lines(path):
            fields = content.split("\t")
            if len(fields) != 3:
                raise DataError(f"expected 3 tab-separated fields (text, label ids, id), found {len(fields)}",
                                path=path, line=line)
            text, label_field, comment_id = fields
            labels = _goemotions_label_ids(label_field, names, path, line)
            yield split, comment_id, require_text(text, path, line), labels


def read_goemotions_variant(name: str, data_dir: Path) -> list[Record]:
    """goemotions, goemotions-ekman or goemotions-group: all rows, multi-label."""
    rows = list(_goemotions_rows(CORPORA[name], name, data_dir))
    coordinates = label_coordinates(name, data_dir)
    return [labelled_record(text, labels, coordinates, name, split, comment_id)
            for split, comment_id, text, labels in rows]


def read_goemotions_10(data_dir: Path, seed: int) -> list[Record]:
    """Single-label GoEmotions rows whose label is one of the GoEmotions-10 emotions.

    Multi-label rows and rows of other emotions (neutral included) are outside the
    definition, in every split alike; see lexicon.GOEMOTIONS_10_LABELS.
    """
    rows = list(_goemotions_rows(CORPORA["goemotions-10"], "goemotions", data_dir))
    coordinates = label_coordinates("goemotions-10", data_dir)
    return [labelled_record(text, labels, coordinates, "goemotions-10", split, comment_id)
            for split, comment_id, text, labels in rows if len(labels) == 1 and labels[0] in coordinates]


def read_goemotions_single(data_dir: Path, seed: int) -> list[Record]:
    """Single-label GoEmotions rows of any of the 28 labels (neutral included): the GoEmotions part
    of a training union in which every text has exactly one emotion class. Multi-label rows
    (about 17 % of each split) are left out, in every split alike."""
    rows = list(_goemotions_rows(CORPORA["goemotions-single"], "goemotions", data_dir))
    coordinates = label_coordinates("goemotions", data_dir)
    return [labelled_record(text, labels, coordinates, "goemotions-single", split, comment_id)
            for split, comment_id, text, labels in rows if len(labels) == 1]


# --- DailyDialog ------------------------------------------------------------------

_DAILYDIALOG_FOLDERS = {"train": "train", "validation": "dev", "test": "test"}
DAILYDIALOG_LABELS: tuple[str, ...] = tuple(EMOTION_VA_WORDS["dailydialog"])  # index = label id

#: The release's one misaligned dialogue: train line 7852 (1-based; "7851" counting from
#: 0) has 12 utterances but 11 emotion and 11 act labels. Its 5th and 6th utterances are
#: one turn split by a stray __eou__ (the act labels line up exactly once they are
#: joined), so the reader joins them.
DAILYDIALOG_SPLIT_TURN = ("train", 7852, 4)  # folder, line, index of the utterance that absorbs the next


def _utterances(dialogue: str, path: Path, line: int) -> list[str]:
    *utterances, tail = dialogue.split("__eou__")
    if tail.strip():
        raise DataError("text after the last __eou__", path=path, line=line,
                        fix="every utterance must end with __eou__")
    for utterance in utterances:
        require_text(utterance, path, line)
    return [utterance.strip() for utterance in utterances]


def _dailydialog_labels(content: str, path: Path, line: int) -> list[str]:
    by_id = {str(label_id): name for label_id, name in enumerate(DAILYDIALOG_LABELS)}
    unknown = [token for token in content.split() if token not in by_id]
    if unknown:
        raise DataError(f"unknown emotion label {unknown[0]!r}; expected 0-{len(by_id) - 1}", path=path, line=line)
    return [by_id[token] for token in content.split()]


def _align(folder: str, line: int, utterances: list[str], labels: list[str], path: Path) -> list[str]:
    """Return utterances matching the labels one to one, repairing only the known defect."""
    if len(utterances) == len(labels):
        return utterances
    known_folder, known_line, index = DAILYDIALOG_SPLIT_TURN
    if (folder, line, len(utterances), len(labels)) == (known_folder, known_line, 12, 11):
        log.warning("%s, line %d: 12 utterances but 11 labels (known defect); joined utterances %d and %d",
                    path, line, index + 1, index + 2)
        joined = f"{utterances[index]} {utterances[index + 1]}"
        return [*utterances[:index], joined, *utterances[index + 2:]]
    raise DataError(f"{len(utterances)} utterances but {len(labels)} emotion labels", path=path, line=line,
                    fix="restore the dialogue and emotion files from the same DailyDialog release")


def read_dailydialog(data_dir: Path, seed: int) -> list[Record]:
    """One record per utterance; official train/validation/test (validation -> dev)."""
    paths = require_files(CORPORA["dailydialog"], data_dir)
    coordinates = label_coordinates("dailydialog", data_dir)
    records = []
    for folder, split in _DAILYDIALOG_FOLDERS.items():
        text_path = paths[f"dailydialog/{folder}/dialogues_{folder}.txt"]
        label_path = paths[f"dailydialog/{folder}/dialogues_emotion_{folder}.txt"]
        dialogues, label_lines = numbered_lines(text_path), numbered_lines(label_path)
        if len(dialogues) != len(label_lines):
            raise DataError(f"{len(label_lines)} label lines for {len(dialogues)} dialogues in {text_path.name}",
                            path=label_path, fix="restore both files from the same DailyDialog release")
        for (line, dialogue), (_, label_content) in zip(dialogues, label_lines):
            labels = _dailydialog_labels(label_content, label_path, line)
            utterances = _align(folder, line, _utterances(dialogue, text_path, line), labels, text_path)
            records.extend(labelled_record(utterance, (label,), coordinates, "dailydialog", split,
                                           f"{split}-{line}-{index}")
                           for index, (utterance, label) in enumerate(zip(utterances, labels)))
    return records


# --- TEC --------------------------------------------------------------------------

_TEC_LINE = re.compile(r"(\d+):\t(.*)\t:: (\w+)")


def read_tec(data_dir: Path, seed: int) -> list[Record]:
    """Tweets labelled by hashtag; seeded 80/10/10 split grouped by tweet id.

    41 tweet ids occur on more than one line (variants of one tweet with hashtags
    removed, sometimes with different labels). All lines are kept, and grouping by
    tweet id keeps the variants of one tweet in one split.
    """
    path = require_files(CORPORA["tec"], data_dir)["tec/Jan9-2012-tweets-clean.txt"]
    coordinates = label_coordinates("tec", data_dir)
    records, tweet_ids = [], []
    for line, content in numbered_lines(path):
        match = _TEC_LINE.fullmatch(content)
        if match is None:
            raise DataError("expected '<tweet id>:<TAB><text><TAB>:: <emotion>'", path=path, line=line)
        tweet_id, text, label = match.groups()
        check_label(label, "tec", path, line)
        records.append(labelled_record(require_text(text, path, line), (label,), coordinates, "tec", "",
                                       f"{tweet_id}/L{line}"))
        tweet_ids.append(tweet_id)
    return with_seeded_splits(records, tweet_ids, seed)


# --- CARER ------------------------------------------------------------------------

_CARER_FILES = {"carer-emotion/train.txt": "train", "carer-emotion/val.txt": "dev", "carer-emotion/test.txt": "test"}


def read_carer(data_dir: Path, seed: int) -> list[Record]:
    """CARER 'emotion' tweets: `text;label` lines after a header; official splits (val -> dev)."""
    paths = require_files(CORPORA["carer"], data_dir)
    coordinates = label_coordinates("carer", data_dir)
    records = []
    for relative, split in _CARER_FILES.items():
        path = paths[relative]
        lines = numbered_lines(path)
        if lines[0][1] != "text;label_name":
            raise DataError("expected the header line 'text;label_name'", path=path, line=1)
        for line, content in lines[1:]:
            text, separator, label = content.rpartition(";")
            if not separator:
                raise DataError("expected '<text>;<label>'", path=path, line=line)
            check_label(label, "carer", path, line)
            records.append(labelled_record(require_text(text, path, line), (label,), coordinates, "carer", split,
                                           f"{split}-L{line}"))
    return records
