"""Low-level reading of corpus files with line numbers, so every error can say where."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from carl.errors import DataError

_RESTORE = "restore the file from the corpus's original release (see docs/data.md)"


def read_text(path: Path) -> str:
    """Return a whole UTF-8 file (a leading byte-order mark is dropped).

    A decoding error is turned into a DataError naming the line, because a stray
    Latin-1 byte deep in a corpus is otherwise very hard to find.
    """
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise DataError(f"not valid UTF-8 ({err.reason})", path=path, line=line,
                        fix="re-save the file as UTF-8") from None


def numbered_lines(path: Path) -> list[tuple[int, str]]:
    """Return ``(line number, line)`` for every line of a one-record-per-line file.

    Splits on "\\n" only: ``str.splitlines`` would also split on U+0085 and U+2028,
    which occur inside tweets (TEC) and would shift every later line. A final newline
    does not make an extra record; an empty line anywhere else is an error rather than
    a silently skipped row.
    """
    lines = read_text(path).split("\n")
    if lines[-1] == "":
        lines.pop()
    numbered = []
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r")
        if not line.strip():
            raise DataError("empty line where a record was expected", path=path, line=number, fix=_RESTORE)
        numbered.append((number, line))
    return numbered


def table_rows(path: Path, delimiter: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Return the header and the data rows of a CSV/TSV file, each row with its first line.

    Quoted fields may hold newlines, so line numbers come from the csv reader's own
    count rather than from counting rows. Every row must have as many fields as the
    header.
    """
    reader = csv.reader(io.StringIO(read_text(path), newline=""), delimiter=delimiter, strict=True)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for row in reader:
            rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as err:
        raise DataError(f"malformed CSV ({err})", path=path, line=start,
                        fix="check the quoting of this row (a quote inside a quoted field is written twice)") from None
    if not rows:
        raise DataError("the file is empty; a header line was expected", path=path)
    (_, header), body = rows[0], rows[1:]
    for line, row in body:
        if len(row) != len(header):
            problem = "empty line" if not row else f"{len(row)} fields but the header has {len(header)}"
            raise DataError(problem, path=path, line=line,
                            fix=f"every row needs exactly the columns {header}")
    return header, body


def column_positions(header: list[str], wanted: list[str], path: Path) -> dict[str, int]:
    """Map each wanted column to its index; name the columns present if one is missing."""
    missing = [name for name in wanted if name not in header]
    if missing:
        raise DataError(f"missing column(s) {missing}; the file has columns {header}", path=path,
                        fix="rename the columns or pass the names the file uses")
    return {name: header.index(name) for name in wanted}


def parse_rating(value: object, what: str, path: Path, line: int) -> float:
    """Parse one numeric rating; empty, non-numeric, NaN and infinite values are errors."""
    if isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
        raise DataError(f"{what} is missing", path=path, line=line, fix="every row needs a rating")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DataError(f"{what} {value!r} is not a number", path=path, line=line,
                        fix="ratings must be plain numbers") from None
    if not math.isfinite(number):
        raise DataError(f"{what} is {value!r}", path=path, line=line,
                        fix="ratings must be finite numbers; fill in or remove this row")
    return number


def require_text(value: object, path: Path, line: int) -> str:
    """Return the stripped text of a record; an empty or non-string text is an error."""
    if not isinstance(value, str) or not value.strip():
        raise DataError("the text is empty", path=path, line=line, fix="every row needs a non-empty text")
    return value.strip()
