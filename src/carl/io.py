"""Reading texts to embed and writing embeddings: the files users hand to `carl embed` / `predict-va`."""

from __future__ import annotations

import json
import os
import pathlib
import tempfile
from typing import Sequence

import numpy as np

from carl.data.textio import missing_columns_message, read_text, table_rows
from carl.errors import DataError, ModelError, OutputError

#: Output types write_embeddings knows.
EMBEDDING_SUFFIXES = (".npy", ".jsonl")


def read_texts(path: pathlib.Path, text_column: str = "text") -> list[str]:
    """Texts from .txt (one per line), .csv / .tsv (a header with ``text_column``) or .jsonl.

    Any other extension is read as one text per line. Every input line (row, object) must
    give one non-empty text: an empty or whitespace-only text, a blank line, a malformed
    row, bad quoting, a wrong delimiter, a missing column, non-UTF-8 bytes and an empty
    file are DataErrors naming the file and line. Nothing is skipped, so the i-th
    embedding always belongs to the i-th input text. Texts are returned as written (a
    long text is truncated later, by the tokenizer, to the model's maximum length).
    """
    path = pathlib.Path(path)
    if path.is_dir():
        raise DataError("is a directory, expected a file of texts", path=path,
                        fix="give a .txt, .csv, .tsv or .jsonl file")
    if not path.is_file():
        raise DataError("file not found", path=path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        texts = _read_delimited(path, "\t" if suffix == ".tsv" else ",", text_column)
    else:
        texts = _lines(path)
        if suffix == ".jsonl":
            texts = [(line, _json_text(path, line, content, text_column)) for line, content in texts]
    if not texts:
        raise DataError("holds no texts (the file is empty)", path=path, fix="give one text per line")
    for line, text in texts:
        if not text.strip():
            raise DataError("empty text", path=path, line=line, fix="remove the line or give it text")
    return [text for _, text in texts]


def _lines(path: pathlib.Path) -> list[tuple[int, str]]:
    """(line number, line) split on newlines only, so U+2028 and friends stay inside their text."""
    lines = read_text(path).split("\n")
    if lines[-1] == "":
        lines.pop()
    return [(number, line.rstrip("\r")) for number, line in enumerate(lines, start=1)]


def _read_delimited(path: pathlib.Path, delimiter: str, column: str) -> list[tuple[int, str]]:
    header, body = table_rows(path, delimiter)
    if column not in header:
        raise DataError(missing_columns_message([column], header), path=path, line=1,
                        fix="name the text column with --text-column")
    index = header.index(column)
    return [(line, row[index]) for line, row in body]


def json_line_object(path: pathlib.Path, line: int, content: str, column: str) -> dict:
    """One JSON-lines row as an object holding ``column``; a DataError naming file and line otherwise."""
    if not content.strip():
        raise DataError("empty line", path=path, line=line, fix="remove the line or give it a JSON object")
    try:
        obj = json.loads(content)
    except RecursionError:
        raise DataError("JSON nested too deeply", path=path, line=line) from None
    except ValueError as exc:  # JSONDecodeError, and integers beyond Python's digit limit
        raise DataError(f"not valid JSON ({getattr(exc, 'msg', exc)})", path=path, line=line,
                        fix="each line must be one JSON object") from None
    if not isinstance(obj, dict):
        raise DataError(f"each line must be a JSON object, got {type(obj).__name__}", path=path, line=line,
                        fix='write the line as {"text": ...}')
    if column not in obj:
        raise DataError(missing_columns_message([column], list(obj), "this line has"), path=path, line=line,
                        fix="name the text field with --text-column")
    return obj


def _json_text(path: pathlib.Path, line: int, content: str, column: str) -> str:
    obj = json_line_object(path, line, content, column)
    if not isinstance(obj[column], str):
        raise DataError(f"field {column!r} is not a string", path=path, line=line,
                        fix="the text must be a JSON string")
    return obj[column]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: pathlib.Path, write) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``: no partial file is ever left behind.

    An OSError (a directory in the way, no permission, a full disk) becomes an OutputError.
    """
    path = pathlib.Path(path)
    if path.is_dir():
        raise OutputError("is a directory, but an output file was expected", path=path,
                          fix="give a file name, e.g. embeddings.npy")
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
        os.close(fd)
        write(pathlib.Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; outputs get the usual permissions
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"cannot write the file ({exc.strerror or exc})", path=path,
                          fix="check that the folder exists and is writable and that the disk has space") from None
    finally:
        if tmp is not None and pathlib.Path(tmp).exists():
            pathlib.Path(tmp).unlink(missing_ok=True)


def check_output(path: pathlib.Path, suffixes: Sequence[str] = EMBEDDING_SUFFIXES) -> None:
    """Fail early (before any embedding is computed) on an output path that cannot work."""
    path = pathlib.Path(path)
    if path.suffix.lower() not in suffixes:
        raise OutputError(f"unsupported output type {path.suffix!r}", path=path, fix=f"use {' or '.join(suffixes)}")
    if path.is_dir():
        raise OutputError("is a directory, but an output file was expected", path=path,
                          fix=f"give a file name, e.g. embeddings{suffixes[0]}")


def check_finite(vectors: np.ndarray, where: str) -> None:
    """Refuse embeddings with a NaN or inf: ``where`` (with ``{}`` for the 1-based row numbers) says
    which texts and what was not written."""
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        rows = (np.flatnonzero(~finite) + 1).tolist()
        shown = where.replace("{}", str(rows[:10]))
        raise ModelError(f"the model gave non-finite (NaN/inf) embeddings for {len(rows)} text(s), {shown}. "
                         "The model weights are probably corrupted or diverged in training: re-export or retrain it")


def write_embeddings(path: pathlib.Path, texts: Sequence[str], vectors: np.ndarray) -> None:
    """.npy: the (N, H) float32 matrix in input order; .jsonl: one {"text", "embedding"} per line.

    Written atomically, and only when there is exactly one finite vector per text.
    """
    check_output(path)
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or len(vectors) != len(texts):
        raise ModelError(f"got embeddings of shape {vectors.shape} for {len(texts)} texts; nothing was written")
    check_finite(vectors, "input number(s) {}; nothing was written to " + str(path))
    if pathlib.Path(path).suffix.lower() == ".npy":
        atomic_write(path, lambda tmp: np.save(tmp, vectors.astype(np.float32)))
    else:
        def write(tmp):
            with open(tmp, "w", encoding="utf-8") as fh:
                for text, vector in zip(texts, vectors):
                    fh.write(json.dumps({"text": text, "embedding": [round(float(v), 7) for v in vector]}) + "\n")
        atomic_write(path, write)
