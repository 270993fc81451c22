"""Writing scores: one Parquet part file per chunk, then the output the user asked for.

The output table (docs/scoring.md, "Output schema"): ``text`` (the input text, unless ``--no-text``),
the ``--keep-columns`` in their input types, then ``valence`` and ``arousal`` (float64, the V-A
head's [0, 1] scale; ``predict-va``) and ``embedding`` (fixed-size list of float32; ``embed``, or
``predict-va --with-embedding``).

Output kinds, by the ``--output`` path:

* a path without a suffix (or an existing folder): a **Parquet dataset folder**, ``part-000000.parquet``,
  ... one file per chunk plus ``_carl_manifest.json`` (pyarrow, pandas, DuckDB, Spark and Ray read the
  folder as one table and skip names starting with ``_``); nothing is copied at the end;
* ``.parquet``: one Parquet file; ``.jsonl``; ``.csv`` / ``.tsv`` (no embedding column);
  ``.npy`` (``embed`` only: the (N, H) float32 matrix, written through a memory map): assembled at the
  end, part by part, from the part files in ``OUTPUT.parts/``, then renamed into place (atomic).
"""

from __future__ import annotations

import csv
import json
import os
import pathlib
import shutil
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from carl.errors import DataError, OutputError
from carl.io import atomic_write

FILE_SUFFIXES = {"embed": (".parquet", ".jsonl", ".npy"), "predict-va": (".parquet", ".jsonl", ".csv", ".tsv")}
FOLDER = "folder"
PART = "part-{:06d}.parquet"


def output_kind(path: pathlib.Path, task: str) -> str:
    """The output's suffix (``.parquet``, ...) or ``folder``; an unsupported type is an OutputError."""
    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if path.is_dir() or not suffix:
        return FOLDER
    if suffix not in FILE_SUFFIXES[task]:
        kinds = " or ".join(FILE_SUFFIXES[task])
        raise OutputError(f"unsupported output type {suffix!r}", path=path,
                          fix=f"use {kinds}, or a folder name (no suffix) for a Parquet dataset folder")
    return suffix


def work_dir(output: pathlib.Path, kind: str) -> pathlib.Path:
    """Where committed chunks live: the output folder itself, or ``OUTPUT.parts/`` beside a file."""
    return output if kind == FOLDER else output.with_name(output.name + ".parts")


def is_emotion_score(column: str) -> bool:
    """``emotion_<i>_score``: a probability written with 6 decimals in text outputs, like valence and arousal."""
    return column.startswith("emotion_") and column.endswith("_score")


def emotion_columns(top_k: int) -> tuple[str, ...]:
    return tuple(c for i in range(1, top_k + 1) for c in (f"emotion_{i}", f"emotion_{i}_score"))


def output_table(texts: list[str] | None, kept: pa.Table, results: dict[str, np.ndarray]) -> pa.Table:
    """One chunk's rows as the output schema orders them."""
    columns: dict[str, pa.Array] = {}
    if texts is not None:
        columns["text"] = pa.array(texts, type=pa.string())
    for name in kept.column_names:
        columns[name] = kept.column(name)
    if "va" in results:
        va = np.asarray(results["va"], dtype=np.float64).reshape(-1, 2)
        columns["valence"] = pa.array(va[:, 0], type=pa.float64())
        columns["arousal"] = pa.array(va[:, 1], type=pa.float64())
    if "emotion_labels" in results:
        labels, scores = results["emotion_labels"], np.asarray(results["emotion_scores"], dtype=np.float64)
        for j in range(labels.shape[1]):
            columns[f"emotion_{j + 1}"] = pa.array([str(v) for v in labels[:, j]], type=pa.string())
            columns[f"emotion_{j + 1}_score"] = pa.array(scores[:, j], type=pa.float64())
    if "embedding" in results:
        vectors = np.ascontiguousarray(results["embedding"], dtype=np.float32)
        dim = vectors.shape[1] if vectors.ndim == 2 else 0
        columns["embedding"] = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1), type=pa.float32()),
                                                                 dim)
    return pa.table(columns)


def write_part(folder: pathlib.Path, index: int, table: pa.Table) -> pathlib.Path:
    """Write one chunk's part file under a temporary name, flush it to disk and rename it into place (never
    half a file, and never a journal line naming a part that a power cut could still lose)."""
    target = folder / PART.format(index)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".part.", suffix=".parquet")
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        raise OutputError(f"cannot write the file ({exc.strerror or exc})", path=target,
                          fix="check that the folder is writable and that the disk has space") from None
    finally:
        pathlib.Path(tmp).unlink(missing_ok=True)
    return target


def part_files(folder: pathlib.Path, chunks: list[dict]) -> list[pathlib.Path]:
    """The part files of the committed chunks, in order (a chunk of bad rows only has none)."""
    files = [folder / PART.format(c["index"]) for c in chunks if c["rows"]]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise DataError(f"committed part file(s) {missing[:5]} are missing", path=folder,
                        fix="delete the folder and score again")
    return files


def _batches(files: list[pathlib.Path], rows: int = 4096):
    for file in files:
        yield from pq.ParquetFile(file).iter_batches(batch_size=rows)


def assemble(files: list[pathlib.Path], output: pathlib.Path, kind: str, total_rows: int) -> None:
    """Stream the part files into ``output`` (written under a temporary name, then renamed)."""
    if kind == ".parquet":
        def write(tmp):
            schema = pq.read_schema(files[0]) if files else pa.schema([])
            with pq.ParquetWriter(tmp, schema) as writer:
                for file in files:
                    writer.write_table(pq.read_table(file).cast(schema))
    elif kind == ".jsonl":
        def write(tmp):
            with open(tmp, "w", encoding="utf-8") as fh:
                for batch in _batches(files):
                    for row in batch.to_pylist():
                        for k in row:
                            if k in ("valence", "arousal") or is_emotion_score(k):
                                row[k] = round(row[k], 6)
                        if "embedding" in row:
                            row["embedding"] = [round(v, 7) for v in row["embedding"]]
                        fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    elif kind in (".csv", ".tsv"):
        def write(tmp):
            with open(tmp, "w", encoding="utf-8", newline="") as fh:
                writer = csv.writer(fh, delimiter="\t" if kind == ".tsv" else ",")
                header = pq.read_schema(files[0]).names if files else ["text", "valence", "arousal"]
                writer.writerow(header)
                for batch in _batches(files):
                    for row in batch.to_pylist():
                        writer.writerow([f"{row[k]:.6f}" if k in ("valence", "arousal") or is_emotion_score(k) else
                                         ("" if row[k] is None else row[k]) for k in header])
    elif kind == ".npy":
        def write(tmp):
            schema = pq.read_schema(files[0])
            dim = schema.field("embedding").type.list_size
            matrix = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(total_rows, dim))
            row = 0
            for batch in _batches(files):
                column = batch.column("embedding")
                block = column.values.to_numpy(zero_copy_only=False).reshape(-1, dim)
                matrix[row:row + len(block)] = block
                row += len(block)
            matrix.flush()
            del matrix
    else:
        raise ValueError(kind)
    atomic_write(output, write)


def remove_work_dir(folder: pathlib.Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
