"""Reader for a user's licensed IEMOCAP copy (text transcripts + evaluations).

Layout: <data dir>/iemocap/IEMOCAP_full_release/Session{1..5}/dialog/
  transcriptions/<dialog>.txt   lines `Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.`
  EmoEvaluation/<dialog>.txt    lines `[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]`
The bracketed triple is valence, activation (arousal), dominance on 1-5. Other lines of
an evaluation file (the header, the per-annotator `C-E1:` / `A-E1:` lines, blank lines)
describe the same turns and are not records.
"""

from __future__ import annotations

import re
from pathlib import Path

from carl.data.dimensional import RawRow, normalised, rating_in
from carl.data.records import Record
from carl.data.registry import CORPORA, require_files
from carl.data.scaling import Scale
from carl.data.textio import read_text
from carl.errors import DataError

#: Sessions 1-3 train, 4 dev, 5 test: speaker-independent, since each session has its own two actors.
SESSION_SPLITS = {1: "train", 2: "train", 3: "train", 4: "dev", 5: "test"}

CATEGORY_NAMES = {
    "neu": "neutral", "hap": "happiness", "sad": "sadness", "ang": "anger", "exc": "excitement",
    "fru": "frustration", "fea": "fear", "sur": "surprise", "dis": "disgust", "oth": "other",
    "xxx": "no agreement",
}

_NUMBER = r"(\d+(?:\.\d+)?)"
_EVALUATION = re.compile(rf"\[{_NUMBER} - {_NUMBER}\]\t(\S+)\t(\w+)\t\[{_NUMBER}, {_NUMBER}, {_NUMBER}\]")
_TRANSCRIPT = re.compile(r"(\S+) \[[\d.]+-[\d.]+\]: ?(.*)")
_SCALE = Scale(1, 5)


def _lines(path: Path) -> list[tuple[int, str]]:
    return [(number, line.rstrip("\r")) for number, line in enumerate(read_text(path).split("\n"), start=1)]


def _transcripts(path: Path) -> dict[str, str]:
    """turn id -> text; lines that are not utterances (e.g. blank) are not turns."""
    turns = {}
    for _, line in _lines(path):
        match = _TRANSCRIPT.fullmatch(line)
        if match:
            turns[match[1]] = match[2].strip()
    return turns


def _evaluated_turns(path: Path, transcripts: dict[str, str], split: str) -> list[RawRow]:
    """(turn id, split, text, valence, arousal, (category name,)) per evaluated turn."""
    rows = []
    for number, line in _lines(path):
        if not line.startswith("["):
            continue
        match = _EVALUATION.fullmatch(line)
        if match is None:
            raise DataError("expected '[start - end]<TAB>turn<TAB>emotion<TAB>[V, A, D]'", path=path, line=number)
        turn, code = match[3], match[4]
        if code not in CATEGORY_NAMES:
            raise DataError(f"unknown emotion code {code!r}; expected one of {list(CATEGORY_NAMES)}",
                            path=path, line=number)
        if not transcripts.get(turn):
            raise DataError(f"turn {turn} has no transcript line (or an empty one)", path=path, line=number,
                            fix="restore the matching file under dialog/transcriptions/")
        rows.append((turn, split, transcripts[turn], rating_in(match[5], _SCALE, "valence", path, number),
                     rating_in(match[6], _SCALE, "activation", path, number), (CATEGORY_NAMES[code],)))
    return rows


def read_iemocap(data_dir: Path, seed: int) -> list[Record]:
    """Every evaluated turn with its text, categorical label and normalised V-A.

    V and A are min-max normalised over all five sessions, like every dimensional
    corpus. Files whose names start with "." (macOS "._" copies) are ignored.
    """
    root = require_files(CORPORA["iemocap"], data_dir)["iemocap/IEMOCAP_full_release"]
    rows = []
    for session, split in SESSION_SPLITS.items():
        dialog = root / f"Session{session}" / "dialog"
        evaluations = sorted(p for p in (dialog / "EmoEvaluation").glob("*.txt") if not p.name.startswith("."))
        if not evaluations:
            raise DataError(f"no evaluation files in {dialog / 'EmoEvaluation'}", path=dialog,
                            fix="unpack the complete IEMOCAP_full_release (Session1 to Session5)")
        for evaluation in evaluations:
            transcript = dialog / "transcriptions" / evaluation.name
            if not transcript.exists():
                raise DataError("transcript for this evaluation file is missing", path=transcript)
            rows.extend(_evaluated_turns(evaluation, _transcripts(transcript), split))
    return normalised("iemocap", rows, root)
