"""Reading texts to embed and writing embeddings: the files users hand to `carl embed` / `predict-va`."""

from __future__ import annotations

import csv
import json
import os
import pathlib
import tempfile
from typing import Sequence

import numpy as np

from carl.errors import DataError


def read_texts(path: pathlib.Path, text_column: str = "text") -> list[str]:
    """Texts from .txt (one per line), .csv / .tsv (a header with ``text_column``) or .jsonl."""
    path = pathlib.Path(path)
    if path.is_dir():
        raise DataError("is a directory, expected a file of texts", path=path, fix="give a .txt, .csv, .tsv or .jsonl file")
    if not path.is_file():
        raise DataError("file not found", path=path)
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise DataError(f"not valid UTF-8 ({exc.reason})", path=path, line=line, fix="re-encode the file as UTF-8") from None
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        texts = _read_delimited(path, raw, "\t" if suffix == ".tsv" else ",", text_column)
    elif suffix == ".jsonl":
        texts = _read_jsonl(path, raw, text_column)
    else:
        texts = [(i, line) for i, line in enumerate(raw.splitlines(), start=1)]
    if not texts:
        raise DataError("holds no texts", path=path)
    for line, text in texts:
        if not text.strip():
            raise DataError("empty text", path=path, line=line, fix="remove the line or give it text")
    return [text for _, text in texts]


def _read_delimited(path, raw: str, delimiter: str, column: str) -> list[tuple[int, str]]:
    reader = csv.DictReader(raw.splitlines(keepends=True), delimiter=delimiter)
    if reader.fieldnames is None or column not in reader.fieldnames:
        raise DataError(f"no column {column!r}; columns are {reader.fieldnames}", path=path, line=1,
                        fix="name the text column with --text-column")
    rows = []
    for row in reader:
        if None in row or row.get(column) is None:
            raise DataError("wrong number of fields", path=path, line=reader.line_num)
        rows.append((reader.line_num, row[column]))
    return rows


def _read_jsonl(path, raw: str, column: str) -> list[tuple[int, str]]:
    rows = []
    for i, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"not valid JSON ({exc.msg})", path=path, line=i) from None
        if not isinstance(obj, dict) or not isinstance(obj.get(column), str):
            raise DataError(f"no string field {column!r}", path=path, line=i, fix="name the text field with --text-column")
        rows.append((i, obj[column]))
    return rows


def atomic_write(path: pathlib.Path, write) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``: no partial file is ever left behind."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(pathlib.Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def write_embeddings(path: pathlib.Path, texts: Sequence[str], vectors: np.ndarray) -> None:
    """.npy: the (N, H) float32 matrix in input order; .jsonl: one {"text", "embedding"} per line."""
    suffix = pathlib.Path(path).suffix.lower()
    if suffix == ".npy":
        atomic_write(path, lambda tmp: np.save(tmp, vectors.astype(np.float32)))
    elif suffix == ".jsonl":
        def write(tmp):
            with open(tmp, "w", encoding="utf-8") as fh:
                for text, vector in zip(texts, vectors):
                    fh.write(json.dumps({"text": text, "embedding": [round(float(v), 7) for v in vector]}) + "\n")
        atomic_write(path, write)
    else:
        raise DataError(f"unsupported output type {suffix!r}", path=path, fix="use .npy or .jsonl")
