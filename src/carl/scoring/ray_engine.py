"""``--engine ray``: the scoring job on Ray Data, on a local Ray started for the job or an existing cluster.

    read_parquet / read_csv / read_json  ->  repartition(chunk_rows, strict)  ->
    map_batches(RayChunkScorer, actor pool: each actor holds the model)  ->  iter_batches (driver)

``repartition(target_num_rows_per_block=chunk_rows, strict=True)`` with ordered execution cuts the
input into exactly the chunks the local engine reads (``chunk_rows`` rows each, the last fewer),
and each actor scores a chunk with the same length-sorted batches (:class:`ChunkScorer`), so both
engines write the same numbers. The driver iterates the scored blocks in the dataset's order (which
ordered execution guarantees; the names of files from ``write_parquet`` do not) and commits each as a
part file, as the local engine does, dropping and counting the bad rows of ``--on-bad-row skip``
and numbering them by a running count of the rows before them; the output the user asked for is
then written from the parts.

Ray retries failed tasks and restarts failed actors itself; ``--resume`` belongs to the local engine.
"""

from __future__ import annotations

import base64
import logging
import pathlib
import re
import time

import pyarrow as pa

from carl.errors import CarlError, ConfigError, DataError
from carl.scoring.job import SHOWN_BAD, Summary, default_threads, discard_work_dir, finish, prepare_work_dir
from carl.scoring.model import ChunkScorer, ModelSpec
from carl.scoring.sinks import output_kind, output_table, write_part
from carl.scoring.sources import Source, _check_text

log = logging.getLogger(__name__)

INSTALL_HINT = 'pip install "carl-affect[ray]"'
BAD = "_carl_bad"


class RayChunkScorer:
    """The Ray actor's callable: loads the model once, scores one chunk (a pyarrow table) per call."""

    def __init__(self, spec: ModelSpec, text_column: str, keep_columns: tuple[str, ...], with_text: bool,
                 on_bad_row: str, input_name: str):
        self.scorer = ChunkScorer(spec)
        self.text_column, self.keep_columns, self.with_text = text_column, keep_columns, with_text
        self.on_bad_row, self.input_name = on_bad_row, input_name

    def __call__(self, batch: pa.Table) -> pa.Table:
        values = batch.column(self.text_column).to_pylist()
        texts, good, problems = [], [], []
        for i, value in enumerate(values):
            try:
                texts.append(_check_text(value, self.text_column, pathlib.Path(self.input_name), None, "a row"))
                good.append(i)
                problems.append(None)
            except DataError as err:
                if self.on_bad_row == "error":
                    kept = ", ".join(f"{k}={batch.column(k)[i].as_py()!r}" for k in self.keep_columns)
                    error = DataError(f"{err.message}" + (f" (its kept columns: {kept})" if kept else ""),
                                      path=self.input_name, fix="--engine local names the line; or pass "
                                                                "--on-bad-row skip")
                    raise DataError(_carry(error)) from None
                problems.append(err.message.removeprefix("a row: "))
        results = self.scorer.score(texts)
        kept = batch.select(list(self.keep_columns))
        if len(good) != batch.num_rows:  # bad rows stay, flagged, so the driver can number them
            results = {key: _spread(array, good, batch.num_rows) for key, array in results.items()}
            texts = [v if isinstance(v, str) else "" for v in values]
        table = output_table(texts if self.with_text else None, kept, results)
        return table.append_column(BAD, pa.array(problems, type=pa.string()))


def _spread(array, good: list[int], n: int):
    import numpy as np

    out = (np.full((n, *array.shape[1:]), "", dtype=object) if array.dtype == object  # emotion labels
           else np.zeros((n, *array.shape[1:]), dtype=array.dtype))
    out[good] = array
    return out


def _read(ray, source: Source):
    import pyarrow.csv as pacsv

    columns = list(dict.fromkeys([source.text_column, *source.keep_columns]))
    if source.kind in (".parquet", "parquet-folder"):
        return ray.data.read_parquet([str(f) for f in source.files]).select_columns(columns)
    if source.kind in (".csv", ".tsv"):
        return ray.data.read_csv(
            str(source.path),
            parse_options=pacsv.ParseOptions(delimiter="\t" if source.kind == ".tsv" else ",", newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in columns},
                                                 include_columns=columns,
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False))
    if source.kind == ".jsonl":
        return ray.data.read_json(str(source.path), lines=True).select_columns(columns)
    raise ConfigError(f"--engine ray reads .parquet (a file or a folder), .csv, .tsv and .jsonl; {source.path} is "
                      "read as one text per line: convert it, or use --engine local")


_CARRIED = re.compile(r"CARL-ERROR:([A-Za-z0-9+/=]+):END")


def _carry(error: CarlError) -> str:
    """The error's text, marked so that the driver finds it again: Ray hands the driver a
    ``UserCodeException`` whose traceback text holds the actor's exception, not the object."""
    return f"{error}\nCARL-ERROR:{base64.b64encode(str(error).encode()).decode()}:END"


def _carl_error(exc: BaseException) -> CarlError | None:
    carried = _CARRIED.search(str(exc))
    if carried:
        return DataError(base64.b64decode(carried[1]).decode())
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, CarlError):
            return exc
        cause = getattr(exc, "cause", None)
        exc = cause if isinstance(cause, BaseException) else (exc.__cause__ or exc.__context__)
    return None


def run_ray(job):
    try:
        import ray
        import ray.data
    except ImportError:
        raise CarlError(f"--engine ray needs Ray Data: {INSTALL_HINT}") from None
    if job.resume:
        raise ConfigError("--resume belongs to --engine local: Ray retries failed tasks itself; rerun the command")
    kind = output_kind(job.output, job.model.task)
    if kind == ".npy" and job.keep_columns:
        raise ConfigError("--keep-columns: a .npy output holds the embedding matrix only; write .parquet or .jsonl")
    source = Source(job.input, text_column=job.text_column, keep_columns=job.keep_columns,
                    on_bad_row=job.on_bad_row, chunk_rows=job.chunk_rows)
    threads = job.model.threads or default_threads(job.workers)
    started_here = not ray.is_initialized()
    if started_here:
        if job.ray_address:
            ray.init(address=job.ray_address, log_to_driver=False)
        else:
            # one CPU beyond the actors' for the read and repartition tasks (else they wait forever)
            ray.init(num_cpus=job.workers * threads + 1, include_dashboard=False, log_to_driver=False)
    started = time.perf_counter()
    summary = Summary(output=job.output)
    try:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # blocks reach the driver in input order
        context.enable_progress_bars = bool(job.progress)
        dataset = _read(ray, source).repartition(target_num_rows_per_block=job.chunk_rows, strict=True)
        dataset = dataset.map_batches(
            RayChunkScorer, fn_constructor_kwargs={
                "spec": job.model, "text_column": job.text_column, "keep_columns": job.keep_columns,
                "with_text": job.with_text, "on_bad_row": job.on_bad_row, "input_name": str(job.input)},
            batch_size=job.chunk_rows, batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=job.workers),
            num_cpus=threads)
        _collect(dataset.iter_batches(batch_size=None, batch_format="pyarrow"), job, kind, summary, source)
    finally:
        if started_here:
            ray.shutdown()
    summary.seconds = time.perf_counter() - started
    summary.scored_now = summary.rows
    return summary


def _collect(blocks, job, kind: str, summary, source: Source) -> None:
    """The scored blocks, in input order, into part files without the flag column (and without bad
    rows), then the output. A failure inside Ray discards the parts: Ray runs have no ``--resume``."""
    manifest = prepare_work_dir(job, kind)
    row = 0
    unit = "line" if source.kind == ".jsonl" else "row"
    try:
        for index, table in enumerate(blocks):
            flags = table.column(BAD).to_pylist()
            bad = [i for i, flag in enumerate(flags) if flag is not None]
            for i in bad:
                message = f"{unit} {row + i + 1}: {flags[i]}"
                log.warning("skipped bad row (--on-bad-row skip): %s: %s", job.input, message)
                if len(summary.bad) < SHOWN_BAD:
                    summary.bad.append(message)
            table = table.drop_columns([BAD])
            if bad:
                table = table.take(pa.array([i for i, flag in enumerate(flags) if flag is None], type=pa.int64()))
            write_part(manifest.folder, index, table)
            manifest.chunks.append({"index": index, "first_row": row, "input_rows": len(flags),
                                    "rows": table.num_rows, "skipped": len(bad)})
            row += len(flags)
    except Exception as exc:  # noqa: BLE001 - a user error inside an actor arrives wrapped by Ray
        discard_work_dir(manifest.folder, kind)
        error = _carl_error(exc)
        if error is not None:
            raise error from None
        raise
    manifest.save()
    finish(manifest, job, kind, summary)
