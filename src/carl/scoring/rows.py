"""A corpus to score, one row at a time: the lines of a text file decoded one by one (a line that is not
UTF-8 is a bad row, not a failed file), and the check of each row's text (:func:`check_text`)."""

from __future__ import annotations

import pathlib
import re
from collections.abc import Iterator

from carl.data.textio import FIX_SURROGATE, unpaired_surrogate
from carl.errors import DataError

FIX_TEXT = "remove the line or give it text"


def check_text(value: object, column: str, path: pathlib.Path, line: int | None, row_label: str | None = None) -> str:
    """``value`` if it is a usable text; else the bad row's DataError (missing, not a string, blank, or holding an
    unpaired surrogate), labelled by ``line`` (text files) or ``row_label`` (Parquet, Ray blocks)."""
    def error(message, fix):
        err = DataError(f"{row_label}: {message}" if row_label else message, path=path, line=line, fix=fix)
        err.row_label = row_label
        return err

    if value is None:
        raise error(f"field {column!r} is missing (null)", "every row needs a text")
    if not isinstance(value, str):
        raise error(f"field {column!r} is not a string", "the text must be a string")
    if not value.strip():
        raise error("empty text", FIX_TEXT)
    at = unpaired_surrogate(value)
    if at is not None:
        raise error(f"the text holds an unpaired UTF-16 surrogate (U+{ord(value[at]):04X} at character {at + 1}): "
                    "half of a character, such as an emoji cut in two", FIX_SURROGATE)
    return value


_EOL = re.compile(rb"\r\n|\r|\n")


def raw_lines(fh, universal: bool) -> Iterator[bytes]:
    """A binary file's lines with their ends: split on "\\n" only, or (``universal``) on "\\r\\n", "\\r"
    and "\\n", as Python's text mode and the csv module split them. Never inside a UTF-8 character (its
    bytes are all >= 0x80); read in blocks, so a file without "\\n" is not read as one line."""
    if not universal:
        yield from fh
        return
    pieces: list[bytes] = []  # the current line so far
    held_cr = False  # the last block ended in "\r": a line end of one byte, or of two if a "\n" comes next
    while block := fh.read(1 << 20):
        if held_cr:
            held_cr = False
            ending = b"\r\n" if block.startswith(b"\n") else b"\r"
            block = block[len(ending) - 1:]
            yield b"".join(pieces) + ending
            pieces = []
        start = 0
        for match in _EOL.finditer(block):
            if match.group() == b"\r" and match.end() == len(block):
                pieces.append(block[start:match.start()])
                held_cr, start = True, len(block)
                break
            pieces.append(block[start:match.end()])
            yield b"".join(pieces)
            pieces, start = [], match.end()
        if start < len(block):
            pieces.append(block[start:])
    if held_cr:
        pieces.append(b"\r")
    if any(pieces):
        yield b"".join(pieces)


def decoded_lines(path: pathlib.Path, universal: bool = False) -> Iterator[tuple[int, str, DataError | None]]:
    """(line number, line with its end, None) per line (see :func:`raw_lines`; U+2028 and friends stay
    inside a line), decoded one line at a time; a leading byte-order mark is dropped. A line that is not
    UTF-8 comes as (number, the line decoded with U+FFFD for the bad bytes, its DataError): a bad row,
    which the reader reports or skips, never a text."""
    offset = 0
    with open(path, "rb") as fh:
        for number, raw in enumerate(raw_lines(fh, universal), start=1):
            encoding = "utf-8-sig" if number == 1 else "utf-8"
            try:
                text, problem = raw.decode(encoding), None
            except UnicodeDecodeError as err:
                text = raw.decode(encoding, errors="replace")
                problem = DataError(f"not valid UTF-8 ({err.reason} at byte {offset + err.start})", path=path,
                                    line=number, fix="re-save the file as UTF-8, or pass --on-bad-row skip to "
                                                     "skip such lines")
            offset += len(raw)
            yield number, text, problem
