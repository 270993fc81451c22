"""Reading a scored table (what ``carl predict-va`` writes) batch by batch: only the needed columns,
valence and arousal as float64, clear errors for a wrong file, a missing column or a non-numeric score."""

from __future__ import annotations

import math
import os
import pathlib
from collections.abc import Iterator, Sequence

import numpy as np

from carl.errors import DataError

BATCH_ROWS = 65_536
DEFAULT_MAX_GROUPS = 9
MAX_TRACKED_GROUPS = 1_000
"""Distinct values beyond which a column is no grouping column (an id, free text): refused."""
MISSING_GROUP = "(missing)"
EMOTION_COLUMN = "emotion_1"
"""The dominant emotion's column in a table `carl predict-va --emotions` wrote (its top label)."""



def _kind(path: pathlib.Path) -> str:
    if path.is_dir():
        return "parquet"
    suffix = path.suffix.lower()
    kinds = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv",
             ".tsv": "tsv"}
    if suffix not in kinds:
        raise DataError(f"cannot read a scored table from a {suffix or 'suffix-less'} file", path=path,
                        fix="give the .parquet, .jsonl, .csv or .tsv that `carl predict-va` wrote (or a folder of .parquet)")
    return kinds[suffix]


def _require_columns(path: pathlib.Path, available: Sequence[str], columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in available]
    if not missing:
        return
    if {"valence", "arousal"} & set(missing):
        hint = "score the texts first: `carl predict-va MODEL --input ... --output SCORES.parquet`"
    elif EMOTION_COLUMN in missing:
        raise DataError(f"no column {EMOTION_COLUMN!r} (the dominant emotion, which `carl predict-va --emotions` "
                        f"writes); the table has {', '.join(available) or 'none'}", path=path,
                        fix="score the texts with emotions: `carl predict-va MODEL --input ... --output "
                            f"SCORES.parquet --emotions` writes {EMOTION_COLUMN} (the model folder needs "
                            "emotion_head.json: `carl fit-heads MODEL`)")
    else:
        hint = "carry the column through scoring with `carl predict-va ... --keep-columns COLUMN`"
    raise DataError(f"no column {', '.join(map(repr, missing))}; the table has {', '.join(available) or 'none'}",
                    path=path, fix=hint)


def iter_score_batches(path: str | os.PathLike, columns: Sequence[str], *, batch_rows: int = BATCH_ROWS) -> Iterator:
    """``pyarrow.RecordBatch``es of ``columns`` only (valence/arousal as float64), read batch by batch."""
    import pyarrow as pa

    path = pathlib.Path(path)
    if not path.exists():
        raise DataError("no such file or folder", path=path)
    kind = _kind(path)
    block_bytes = max(1 << 16, 64 * batch_rows)  # text readers batch by bytes: ~64 bytes a scored row
    try:
        if kind == "parquet":
            import pyarrow.dataset as ds

            dataset = ds.dataset(path, format="parquet")
            _require_columns(path, dataset.schema.names, columns)
            batches = dataset.to_batches(columns=list(columns), batch_size=batch_rows)
        elif kind in ("csv", "tsv"):
            import pyarrow.csv as pcsv

            # Texts may hold quoted newlines (csv.writer keeps them): parse them as values.
            parse = pcsv.ParseOptions(delimiter="\t" if kind == "tsv" else ",", newlines_in_values=True)
            with pcsv.open_csv(path, parse_options=parse) as probe:
                _require_columns(path, probe.schema.names, columns)
            types = {c: pa.float64() for c in ("valence", "arousal") if c in columns}
            types.update({c: pa.string() for c in columns if c not in types})
            batches = pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=block_bytes), parse_options=parse,
                                    convert_options=pcsv.ConvertOptions(include_columns=list(columns), column_types=types))
        else:
            import pyarrow.json as pjson

            reader = pjson.open_json(path, read_options=pjson.ReadOptions(block_size=block_bytes))
            _require_columns(path, reader.schema.names, columns)
            batches = (batch.select(list(columns)) for batch in reader)
        for batch in batches:
            yield batch
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise DataError(f"cannot read the scored table ({exc})", path=path,
                        fix="check that it is the table `carl predict-va` wrote, with numeric valence/arousal") from None


def read_scores(batch, path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """valence, arousal (float64) and the mask of rows with both finite."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out = []
    for name in ("valence", "arousal"):
        column = batch.column(name)
        if not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type) or pa.types.is_null(column.type)):
            raise DataError(f"column {name!r} holds {column.type}, not numbers", path=path,
                            fix="plot the table `carl predict-va` wrote (float valence and arousal)")
        out.append(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False))
    v, a = (np.asarray(x, dtype=np.float64) for x in out)
    return v, a, np.isfinite(v) & np.isfinite(a)


def read_groups(batch, column: str) -> np.ndarray:
    """The group column as strings (object array), null as MISSING_GROUP."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pc.fill_null(pc.cast(batch.column(column), pa.string()), MISSING_GROUP)
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=object)



def refuse_many_groups(n_groups: int, by: str | None, path: pathlib.Path) -> None:
    """A clear error once column ``by`` has shown more than :data:`MAX_TRACKED_GROUPS` values."""
    if n_groups > MAX_TRACKED_GROUPS:
        raise DataError(f"column {by!r} has more than {MAX_TRACKED_GROUPS} distinct values: not a grouping "
                        "column (an id or free text?)", path=path,
                        fix="group by a column with few values (a category, a source, a label)")


def check_range(value_range) -> tuple[float, float]:
    """The plotted (LOW, HIGH) of both axes as floats; a clear error unless finite with LOW < HIGH."""
    lo, hi = (float(x) for x in value_range)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise DataError(f"value range {value_range!r}: expected LOW < HIGH, e.g. 0,1")
    return lo, hi

