"""Low-level reading of corpus files with line numbers, so every error can say where."""

from __future__ import annotations

import csv
import difflib
import io
import math
from collections.abc import Iterable
from pathlib import Path

from carl.errors import DataError

_RESTORE = "restore the file from the corpus's original release (see docs/data.md)"

#: Delimiters a table may really use, and how a message names them.
_DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
_DELIMITER_FIX = {",": "rename it to .csv", "\t": "rename it to .tsv"}


def read_text(path: Path) -> str:
    """Return a whole UTF-8 file (a leading byte-order mark is dropped).

    A decoding error is turned into a DataError naming the line, because a stray
    Latin-1 byte deep in a corpus is otherwise very hard to find. A directory or an
    unreadable file is a DataError too, never an OSError traceback.
    """
    if path.is_dir():
        raise DataError("is a directory, but a file was expected", path=path, fix="give the path of the file itself")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError("file not found", path=path) from None
    except OSError as err:
        raise DataError(f"cannot read the file ({err.strerror or err})", path=path,
                        fix="check that the file exists and is readable") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise DataError(f"not valid UTF-8 ({err.reason} at byte {err.start})", path=path, line=line,
                        fix="re-save the file as UTF-8") from None


def numbered_lines(path: Path) -> list[tuple[int, str]]:
    """Return ``(line number, line)`` for every line of a one-record-per-line file.

    Splits on "\\n" only: ``str.splitlines`` would also split on U+0085 and U+2028,
    which occur inside tweets (TEC) and would shift every later line. A final newline
    does not make an extra record; an empty line anywhere else is an error rather than
    a silently skipped row, and so is an empty file (no corpus file is empty).
    """
    lines = read_text(path).split("\n")
    if lines[-1] == "":
        lines.pop()
    if not lines:
        raise DataError("the file is empty", path=path, fix=_RESTORE)
    numbered = []
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r")
        if not line.strip():
            raise DataError("empty line where a record was expected", path=path, line=number, fix=_RESTORE)
        numbered.append((number, line))
    return numbered


def _wrong_delimiter(header: list[str], delimiter: str, path: Path) -> None:
    """A header read as one column that holds another delimiter: the file uses that delimiter."""
    if len(header) != 1:
        return
    for other, name in _DELIMITER_NAMES.items():
        if other != delimiter and other in header[0]:
            fix = _DELIMITER_FIX.get(other, f"re-save it with {_DELIMITER_NAMES[delimiter]}s between the fields")
            raise DataError(
                f"the header {header[0]!r} looks {name}-separated, but a {path.suffix or 'this'} file is read as "
                f"{_DELIMITER_NAMES[delimiter]}-separated", path=path, line=1, fix=fix)


def delimited_rows(path: Path, delimiter: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Return the header and the data rows of a CSV/TSV file, each row with its first line.

    Quoted fields may hold newlines, so line numbers come from the csv reader's own
    count rather than from counting rows. Bad quoting, an empty file and a header that
    is evidently split by another delimiter are errors; field counts are not checked
    here (see table_rows).
    """
    reader = csv.reader(io.StringIO(read_text(path), newline=""), delimiter=delimiter, strict=True)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for row in reader:
            rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as err:
        raise malformed_csv(err, path, start) from None
    if not rows:
        raise DataError("the file is empty; a header line was expected", path=path,
                        fix="the first line must name the columns, e.g. text,valence,arousal")
    if not rows[0][1]:
        raise DataError("the first line is empty; a header line was expected", path=path, line=1,
                        fix="the first line must name the columns, e.g. text,valence,arousal")
    _wrong_delimiter(rows[0][1], delimiter, path)
    return rows[0][1], rows[1:]


def malformed_csv(err: csv.Error, path: Path, line: int) -> DataError:
    """The error for a row the csv module cannot parse, with the usual cause as the fix."""
    if "field larger than field limit" in str(err):
        fix = ("a field runs on for over 128 KiB: usually an opening quote that is never closed; "
               "otherwise shorten that text")
    else:
        fix = "check the quoting of this row (a quote inside a quoted field is written twice)"
    return DataError(f"malformed CSV ({err})", path=path, line=line, fix=fix)


def field_count_problem(row: list[str], header: list[str]) -> str | None:
    """Why a row cannot be matched to the header, or None when it can."""
    if len(row) == len(header):
        return None
    return "empty line" if not row else f"{len(row)} fields but the header has {len(header)}"


def table_rows(path: Path, delimiter: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """delimited_rows, where every row must have as many fields as the header."""
    header, body = delimited_rows(path, delimiter)
    for line, row in body:
        problem = field_count_problem(row, header)
        if problem:
            raise DataError(problem, path=path, line=line, fix=f"every row needs exactly the columns {header}")
    return header, body


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The choice most like ``name`` (case-insensitive match first), or None."""
    choices = [str(choice) for choice in choices]
    for choice in choices:
        if choice.strip().lower() == name.lower():
            return choice
    matches = difflib.get_close_matches(name.lower(), [choice.lower() for choice in choices], n=1, cutoff=0.6)
    return next((choice for choice in choices if choice.lower() == matches[0]), None) if matches else None


def missing_columns_message(missing: list[str], present: list[str], where: str = "the file has") -> str:
    """'missing column(s) [...]; the file has columns [...] (did you mean ...?)'."""
    hints = [f"{closest(name, present)!r} for {name!r}" for name in missing if closest(name, present) is not None]
    text = f"missing column(s) {missing}; {where} columns {present}"
    return text + (f" (did you mean {', '.join(hints)}?)" if hints else "")


def column_positions(header: list[str], wanted: list[str], path: Path) -> dict[str, int]:
    """Map each wanted column to its index; name the columns present if one is missing."""
    missing = [name for name in wanted if name not in header]
    if missing:
        err = DataError(missing_columns_message(missing, header), path=path, line=1,
                        fix="rename the columns or pass the names the file uses")
        err.columns = list(header)  # lets a caller that knows the column options word a better fix
        raise err
    twice = [name for name in dict.fromkeys(wanted) if header.count(name) > 1]
    if twice:
        raise DataError(f"column(s) {twice} appear more than once in the header {header}", path=path, line=1,
                        fix="give every column a distinct name")
    return {name: header.index(name) for name in wanted}


def parse_rating(value: object, what: str, path: Path, line: int) -> float:
    """Parse one numeric rating; empty, non-numeric, NaN and infinite values are errors."""
    if isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
        raise DataError(f"{what} is missing", path=path, line=line, fix="every row needs a rating")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise DataError(f"{what} {short_repr(value)} is not a number", path=path, line=line,
                        fix="ratings must be plain numbers") from None
    if not math.isfinite(number):
        raise DataError(f"{what} is {short_repr(value)}", path=path, line=line,
                        fix="ratings must be finite numbers; fill in or remove this row")
    return number


def require_text(value: object, path: Path, line: int) -> str:
    """Return the stripped text of a record; an empty or non-string text is an error."""
    if not isinstance(value, str):
        raise DataError(f"the text must be a string, got {short_repr(value)}", path=path, line=line,
                        fix="every row needs a non-empty text")
    if not value.strip():
        raise DataError("the text is empty", path=path, line=line, fix="every row needs a non-empty text")
    return value.strip()


def short_repr(value: object, limit: int = 60) -> str:
    """repr of a cell, cut so that one huge bad cell cannot flood the message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + "...'"


FIX_SURROGATE = ("drop or replace that character (it cannot be written as UTF-8; a program that cut the text "
                 "between the two halves of an emoji wrote it)")


def unpaired_surrogate(text: str) -> int | None:
    """The index of the first unpaired UTF-16 surrogate in ``text``, or None. JSON carries one as an
    escape such as "\\ud83d"; UTF-8 cannot encode it, and neither the tokenizer nor Parquet takes it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        return err.start
    return None
