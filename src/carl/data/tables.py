"""read_table: a user's own labelled texts (.csv, .tsv or .jsonl) as Records."""

from __future__ import annotations

import json
import os
from pathlib import Path

from carl.data.records import SPLITS, Record
from carl.data.scaling import Scale
from carl.data.textio import column_positions, numbered_lines, parse_rating, require_text, table_rows
from carl.errors import DataError

_DELIMITERS = {".csv": ",", ".tsv": "\t"}


def _jsonl_rows(path: Path, wanted: list[str]) -> list[tuple[int, dict[str, object]]]:
    """(line, object) per line of a JSON-lines file; every object must have the wanted keys."""
    rows = []
    for line, content in numbered_lines(path):
        try:
            row = json.loads(content)
        except json.JSONDecodeError as err:
            raise DataError(f"malformed JSON ({err.msg})", path=path, line=line,
                            fix="each line must be one JSON object") from None
        if not isinstance(row, dict):
            raise DataError("each line must be a JSON object", path=path, line=line)
        missing = [name for name in wanted if name not in row]
        if missing:
            raise DataError(f"missing column(s) {missing}; this line has columns {list(row)}", path=path, line=line,
                            fix="rename the columns or pass the names the file uses")
        rows.append((line, row))
    return rows


def _delimited_rows(path: Path, wanted: list[str]) -> list[tuple[int, dict[str, object]]]:
    header, body = table_rows(path, _DELIMITERS[path.suffix.lower()])
    column = column_positions(header, wanted, path)
    return [(line, {name: row[index] for name, index in column.items()}) for line, row in body]


def _labels(value: object, path: Path, line: int) -> tuple[str, ...]:
    """A label cell: one name (empty means none); in JSONL also a list of names."""
    names = value if isinstance(value, list) else [value]
    if not all(isinstance(name, str) for name in names):
        raise DataError(f"labels must be strings, got {value!r}", path=path, line=line)
    return tuple(name.strip() for name in names if name.strip())


def _scaled(rows: list[tuple[int, dict[str, object]]], column: str | None, given: tuple[float, float] | None,
            what: str, path: Path) -> list[float | None]:
    """One normalised rating per row (None for every row when ``column`` is None)."""
    if column is None:
        return [None] * len(rows)
    values = [parse_rating(row[column], what, path, line) for line, row in rows]
    scale = Scale(*given) if given is not None else Scale.observed(values, what, path)
    for (line, _), value in zip(rows, values):
        if not scale.contains(value):
            raise DataError(f"{what} {value} is outside the given range {given}", path=path, line=line)
    return [scale(value) for value in values]


def read_table(path: str | os.PathLike, *, text_column: str = "text", valence_column: str | None = None,
               arousal_column: str | None = None, label_column: str | None = None, corpus: str | None = None,
               split: str = "train", valence_range: tuple[float, float] | None = None,
               arousal_range: tuple[float, float] | None = None) -> list[Record]:
    """Read user data; V and A are min-max normalised to [0, 1].

    The scale is the observed min/max of the file unless ``valence_range`` /
    ``arousal_range`` give the rating scale (e.g. (1, 9)), which is better when the file
    is small or does not reach the ends of its scale. The format follows the extension:
    .csv and .tsv need a header line (fields may be quoted), .jsonl holds one object per
    line. Every problem is a DataError naming the file and line.
    """
    path = Path(path)
    if path.suffix.lower() not in (*_DELIMITERS, ".jsonl"):
        raise DataError(f"unsupported file type {path.suffix!r}", path=path, fix="use a .csv, .tsv or .jsonl file")
    if not path.is_file():
        raise DataError("file not found", path=path)
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; splits are {list(SPLITS)}")
    wanted = [name for name in (text_column, valence_column, arousal_column, label_column) if name]
    reader = _jsonl_rows if path.suffix.lower() == ".jsonl" else _delimited_rows
    rows = reader(path, wanted)
    valences = _scaled(rows, valence_column, valence_range, "valence", path)
    arousals = _scaled(rows, arousal_column, arousal_range, "arousal", path)
    name = corpus if corpus is not None else path.stem
    return [Record(require_text(row[text_column], path, line), valence, arousal,
                   _labels(row[label_column], path, line) if label_column else (), name, split, f"L{line}")
            for (line, row), valence, arousal in zip(rows, valences, arousals)]
