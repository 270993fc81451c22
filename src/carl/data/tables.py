"""read_table: a user's own labelled texts (.csv, .tsv or .jsonl) as Records."""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Collection
from pathlib import Path
from typing import Literal

from carl.data.records import SPLITS, Record
from carl.data.scaling import Scale
from carl.data.textio import (closest, column_positions, delimited_rows, field_count_problem, missing_columns_message,
                              parse_rating, read_text, require_text, short_repr)
from carl.errors import ConfigError, DataError

log = logging.getLogger(__name__)

_DELIMITERS = {".csv": ",", ".tsv": "\t"}

#: What read_table does with a bad row: raise (default) or leave it out and warn.
OnBadRow = Literal["error", "skip"]
ON_BAD_ROW: tuple[str, ...] = ("error", "skip")

#: How many line numbers the skip warning lists.
SHOWN_LINES = 10

Row = tuple[int, dict[str, object]]


def _jsonl_rows(path: Path, wanted: list[str], bad: list[DataError]) -> list[Row]:
    """(line, object) per line of a JSON-lines file; a line that is not such an object goes to ``bad``."""
    lines = read_text(path).split("\n")
    if not "".join(lines).strip():
        raise DataError("the file is empty", path=path, fix="give one JSON object per line, e.g. "
                        '{"text": "I won", "valence": 7}')
    if lines[-1] == "":
        lines.pop()
    rows = []
    for line, content in enumerate(lines, start=1):
        try:
            rows.append((line, _json_object(content.rstrip("\r"), wanted, path, line)))
        except DataError as err:
            bad.append(err)
    return rows


def _json_object(content: str, wanted: list[str], path: Path, line: int) -> dict[str, object]:
    if not content.strip():
        raise DataError("empty line", path=path, line=line, fix="remove the empty line")
    try:
        row = json.loads(content)
    except RecursionError:
        raise DataError("JSON nested too deeply", path=path, line=line,
                        fix="each line must be one flat JSON object") from None
    except ValueError as err:  # JSONDecodeError, and e.g. integers longer than Python's digit limit
        raise DataError(f"malformed JSON ({getattr(err, 'msg', err)})", path=path, line=line,
                        fix="each line must be one JSON object") from None
    if not isinstance(row, dict):
        raise DataError(f"each line must be a JSON object, got {type(row).__name__}", path=path, line=line,
                        fix='write the row as {"text": ..., ...}')
    missing = [name for name in wanted if name not in row]
    if missing:
        err = DataError(missing_columns_message(missing, list(row), "this line has"), path=path, line=line,
                        fix="rename the columns or pass the names the file uses")
        err.columns = list(row)
        raise err
    return row


def _delimited_rows(path: Path, wanted: list[str], bad: list[DataError]) -> list[Row]:
    header, body = delimited_rows(path, _DELIMITERS[path.suffix.lower()])
    column = column_positions(header, wanted, path)
    rows = []
    for line, row in body:
        problem = field_count_problem(row, header)
        if problem:
            bad.append(DataError(problem, path=path, line=line, fix=f"every row needs exactly the columns {header}"))
        else:
            rows.append((line, {name: row[index] for name, index in column.items()}))
    return rows


def _labels(value: object, path: Path, line: int, vocabulary: Collection[str] | None) -> tuple[str, ...]:
    """A label cell: one name (empty means none); in JSONL also a list of names."""
    names = value if isinstance(value, list) else [value]
    if not all(isinstance(name, str) for name in names):
        raise DataError(f"labels must be strings, got {short_repr(value)}", path=path, line=line,
                        fix="write a label name, or leave the cell empty for none")
    labels = tuple(name.strip() for name in names if name.strip())
    for label in labels:
        if vocabulary is not None and label not in vocabulary:
            hint = closest(label, vocabulary)
            raise DataError(f"unknown label {label!r}" + (f" (did you mean {hint!r}?)" if hint else "")
                            + f"; the labels are {sorted(vocabulary)}", path=path, line=line,
                            fix="correct the label, or add it to the label vocabulary")
    return labels


def _record_id(value: object, path: Path, line: int, seen: dict[str, int]) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise DataError(f"the id must be a non-empty string or integer, got {short_repr(value)}", path=path,
                        line=line, fix="give every row an id")
    record_id = str(value).strip()
    if record_id in seen:
        raise DataError(f"duplicate id {record_id!r} (first used on line {seen[record_id]})", path=path, line=line,
                        fix="ids must be unique: remove the repeated row or give it a new id")
    seen[record_id] = line
    return record_id


def _range(given: tuple[float, float] | None, what: str) -> Scale | None:
    if given is None:
        return None
    try:
        low, high = (float(value) for value in given)
    except (TypeError, ValueError):
        raise ConfigError(f"{what}_range must be two numbers (low, high), got {given!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ConfigError(f"{what}_range must be two finite numbers with low < high, got {given!r}")
    return Scale(low, high)


def _rating(row: dict[str, object], column: str | None, scale: Scale | None, what: str, path: Path,
            line: int) -> float | None:
    if column is None:
        return None
    value = parse_rating(row[column], what, path, line)
    if scale is not None and not scale.contains(value):
        raise DataError(f"{what} {value} is outside the given range ({scale.low:g}, {scale.high:g})", path=path,
                        line=line, fix=f"correct the rating, or pass the scale the file uses as {what}_range")
    return value


def _normaliser(values: list[float | None], given: Scale | None, what: str, path: Path) -> Scale | None:
    """The scale that maps this file's ratings onto [0, 1] (None for a file without the column)."""
    if not values or values[0] is None:
        return None
    scale = given or Scale.observed(values, what, path)  # type: ignore[arg-type]
    if not math.isfinite(scale.high - scale.low):
        raise DataError(f"{what} ratings range from {scale.low:g} to {scale.high:g}, too wide to normalise",
                        path=path, fix="ratings must be ordinary numbers on one scale, e.g. 1-9")
    return scale


def _report_skipped(path: Path, bad: list[DataError], total: int) -> None:
    lines = sorted(err.line for err in bad if err.line is not None)
    shown = ", ".join(map(str, lines[:SHOWN_LINES])) + (", ..." if len(lines) > SHOWN_LINES else "")
    first = min(bad, key=lambda err: err.line or 0)
    log.warning("%s: skipped %d bad row(s) of %d (on_bad_row='skip'), at line(s) %s; first problem: line %s: %s",
                path, len(bad), total, shown, first.line, first.message)


def read_table(path: str | os.PathLike, *, text_column: str = "text", valence_column: str | None = None,
               arousal_column: str | None = None, label_column: str | None = None, corpus: str | None = None,
               split: str = "train", valence_range: tuple[float, float] | None = None,
               arousal_range: tuple[float, float] | None = None, id_column: str | None = None,
               label_vocabulary: Collection[str] | None = None, on_bad_row: OnBadRow = "error") -> list[Record]:
    """Read user data; V and A are min-max normalised to [0, 1].

    The scale is the observed min/max of the file unless ``valence_range`` /
    ``arousal_range`` give the rating scale (e.g. (1, 9)), which is better when the file
    is small or does not reach the ends of its scale; a rating outside a given range is
    a bad row. The format follows the extension: .csv and .tsv need a header line
    (fields may be quoted), .jsonl holds one object per line.

    Labels are free names unless ``label_vocabulary`` lists the allowed ones. With
    ``id_column`` each record's id is that column and a repeated id is a bad row;
    otherwise the id is ``L<line>``.

    A bad row (empty text; missing, non-numeric, NaN, infinite or out-of-range rating;
    wrong field count; malformed JSON line; unknown label; duplicate id) is a DataError
    naming the file and line. With ``on_bad_row="skip"`` such rows are left out instead
    and one warning gives their count, first line numbers and first problem. Problems
    with the file as a whole (not found, a directory, not UTF-8, empty, bad CSV quoting,
    wrong delimiter, missing columns, no usable row) are always errors.
    """
    path = Path(path)
    if on_bad_row not in ON_BAD_ROW:
        raise ConfigError(f"on_bad_row must be one of {list(ON_BAD_ROW)}, got {on_bad_row!r}")
    if path.suffix.lower() not in (*_DELIMITERS, ".jsonl"):
        raise DataError(f"unsupported file type {path.suffix!r}", path=path, fix="use a .csv, .tsv or .jsonl file")
    if path.is_dir():
        raise DataError("is a directory, but a table file was expected", path=path,
                        fix="give the path of a .csv, .tsv or .jsonl file")
    if not path.is_file():
        raise DataError("file not found", path=path)
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; splits are {list(SPLITS)}")
    given_v, given_a = _range(valence_range, "valence"), _range(arousal_range, "arousal")
    vocabulary = frozenset(label_vocabulary) if label_vocabulary is not None else None
    wanted = list(dict.fromkeys(name for name in (text_column, valence_column, arousal_column, label_column,
                                                  id_column) if name))
    bad: list[DataError] = []
    reader = _jsonl_rows if path.suffix.lower() == ".jsonl" else _delimited_rows
    rows = reader(path, wanted, bad)
    total = len(rows) + len(bad)
    parsed, seen = [], {}
    for line, row in rows:
        try:
            parsed.append((require_text(row[text_column], path, line),
                           _rating(row, valence_column, given_v, "valence", path, line),
                           _rating(row, arousal_column, given_a, "arousal", path, line),
                           _labels(row[label_column], path, line, vocabulary) if label_column else (),
                           _record_id(row[id_column], path, line, seen) if id_column else f"L{line}"))
        except DataError as err:
            bad.append(err)
    if bad and on_bad_row == "error":
        raise min(bad, key=lambda err: err.line or 0)
    if bad:
        _report_skipped(path, bad, total)
    if not parsed:
        first = min(bad, key=lambda err: err.line or 0) if bad else None
        problem = f"all {total} rows are bad (first: line {first.line}: {first.message})" if first else "no data rows"
        raise DataError(f"no usable rows: {problem}", path=path, fix="the file needs at least one valid row")
    v_scale = _normaliser([row[1] for row in parsed], given_v, "valence", path)
    a_scale = _normaliser([row[2] for row in parsed], given_a, "arousal", path)
    name = corpus if corpus is not None else path.stem
    return [Record(text, v_scale(v) if v_scale else None, a_scale(a) if a_scale else None, labels, name, split,
                   record_id)
            for text, v, a, labels, record_id in parsed]
