"""``--engine ray``: the scoring job on Ray, on a local Ray started for the job or an existing cluster.

Parquet (a file or a folder) runs on Ray Data::

    read_parquet  ->  repartition(chunk_rows, strict)  ->
    map_batches(RayChunkScorer, actor pool: each actor holds the model)  ->  iter_batches (driver)

Text formats (.txt, .csv, .tsv, .jsonl), and every ``--resume``, are read on the driver by the local
engine's own reader (:class:`carl.scoring.sources.Source`) and scored chunk by chunk by a pool of
``--workers`` Ray actors, committed as the local engine commits: the same rows, line numbers, types
and bad-row messages as ``--engine local``. (Ray Data's CSV and JSON readers read them otherwise: JSON
ids such as "00123" became 123, date-like strings timestamps, blank lines vanished and shifted every
later line number, and a row with a wrong field count stopped the job under skip.)

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
from carl.scoring.job import (RESUME_HOW, SHOWN_BAD, Summary, default_threads, finish, keep_committed,
                              prepare_work_dir, run_local)
from carl.scoring.model import ChunkScorer, ModelSpec
from carl.scoring.sinks import output_kind, output_table, write_part
from carl.scoring.rows import check_text
from carl.scoring.sources import TEXT_SUFFIXES, Source, chunk_digest

log = logging.getLogger(__name__)

INSTALL_HINT = 'pip install "carl-affect[ray]"'
BAD = "_carl_bad"
DIGEST = "_carl_digest"


class RayChunkScorer:
    """The Ray actor's callable: loads the model once, scores one chunk (a pyarrow table) per call."""

    def __init__(self, spec: ModelSpec, text_column: str, keep_columns: tuple[str, ...], with_text: bool,
                 on_bad_row: str, input_name: str, kept_schema: pa.Schema | None = None):
        self.scorer = ChunkScorer(spec)
        self.text_column, self.keep_columns, self.with_text = text_column, keep_columns, with_text
        self.on_bad_row, self.input_name = on_bad_row, input_name
        self.kept_schema = kept_schema  # the kept columns' types as the local engine reads them

    def __call__(self, batch: pa.Table) -> pa.Table:
        values = batch.column(self.text_column).to_pylist()
        texts, good, problems = [], [], []
        for i, value in enumerate(values):
            try:
                texts.append(check_text(value, self.text_column, pathlib.Path(self.input_name), None, "a row"))
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
        if self.kept_schema is not None and self.keep_columns:
            kept = kept.cast(self.kept_schema)
        # the digest the local engine computes for this chunk, so that --resume can check what Ray committed
        good_kept = kept if len(good) == batch.num_rows else kept.take(pa.array(good, type=pa.int64()))
        digest = chunk_digest(batch.num_rows, [i for i, p in enumerate(problems) if p is not None], texts, good_kept)
        if len(good) != batch.num_rows:  # bad rows stay, flagged, so the driver can number them
            results = {key: _spread(array, good, batch.num_rows) for key, array in results.items()}
            texts = [v if isinstance(v, str) else "" for v in values]
        table = output_table(texts if self.with_text else None, kept, results)
        table = table.append_column(BAD, pa.array(problems, type=pa.string()))
        return table.append_column(DIGEST, pa.array([digest] * batch.num_rows, type=pa.string()))


class RayChunkActor:
    """A Ray actor holding the model, for chunks the driver reads (text formats, --resume)."""

    def __init__(self, spec: ModelSpec):
        import os

        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.scorer = ChunkScorer(spec)

    def score(self, texts: list[str]):
        return self.scorer.score(texts)


class RayScorers:
    """The local engine's scorer interface (``map(chunks)`` -> (chunk, results) in input order, ``close()``) on a
    pool of ``--workers`` Ray actors, each asking for ``--threads`` CPUs; one chunk in flight per actor."""

    def __init__(self, ray, job, threads: int):
        from ray.util import ActorPool

        actor = ray.remote(num_cpus=threads)(RayChunkActor)
        self.ray = ray
        self.actors = [actor.remote(job.model) for _ in range(job.workers)]
        self.pool = ActorPool(self.actors)

    def map(self, chunks):
        import collections

        window = collections.deque()
        try:
            for chunk in chunks:
                if not self.pool.has_free():
                    yield window.popleft(), self.pool.get_next()
                self.pool.submit(lambda actor, texts: actor.score.remote(texts), chunk.texts)
                window.append(chunk)
            while window:
                yield window.popleft(), self.pool.get_next()
        except Exception as exc:  # noqa: BLE001 - an actor's error arrives wrapped by Ray
            error = _carl_error(exc)
            if error is not None:
                raise error from None
            raise

    def close(self):
        for actor in self.actors:
            self.ray.kill(actor)


def _spread(array, good: list[int], n: int):
    import numpy as np

    out = (np.full((n, *array.shape[1:]), "", dtype=object) if array.dtype == object  # emotion labels
           else np.zeros((n, *array.shape[1:]), dtype=array.dtype))
    out[good] = array
    return out


def _read(ray, source: Source):
    columns = list(dict.fromkeys([source.text_column, *source.keep_columns]))
    return ray.data.read_parquet([str(f) for f in source.files]).select_columns(columns)


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
    kind = output_kind(job.output, job.model.task)
    if kind == ".npy" and job.keep_columns:
        raise ConfigError("--keep-columns: a .npy output holds the embedding matrix only; write .parquet or .jsonl")
    source = Source(job.input, text_column=job.text_column, keep_columns=job.keep_columns,
                    on_bad_row=job.on_bad_row, chunk_rows=job.chunk_rows)
    driver_reads = source.kind in TEXT_SUFFIXES or job.resume
    # an unfinished run in the way is refused before Ray starts
    manifest = None if driver_reads else prepare_work_dir(job, kind, resume_hint="pass --resume to continue it")
    threads = job.model.threads or default_threads(job.workers)
    started_here = not ray.is_initialized()
    if started_here:
        if job.ray_address:
            ray.init(address=job.ray_address, log_to_driver=False)
        else:
            # one CPU beyond the actors' for the read and repartition tasks (else they wait forever)
            ray.init(num_cpus=job.workers * threads + 1, include_dashboard=False, log_to_driver=False)
    try:
        if driver_reads:
            return run_local(job, make_scorers=lambda job, on_batch: RayScorers(ray, job, threads))
        started = time.perf_counter()
        summary = Summary(output=job.output)
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # blocks reach the driver in input order
        context.enable_progress_bars = bool(job.progress)
        dataset = _read(ray, source).repartition(target_num_rows_per_block=job.chunk_rows, strict=True)
        dataset = dataset.map_batches(
            RayChunkScorer, fn_constructor_kwargs={
                "spec": job.model, "text_column": job.text_column, "keep_columns": job.keep_columns,
                "with_text": job.with_text, "on_bad_row": job.on_bad_row, "input_name": str(job.input),
                "kept_schema": source.schema},
            batch_size=job.chunk_rows, batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=job.workers),
            num_cpus=threads)
        _collect(dataset.iter_batches(batch_size=None, batch_format="pyarrow"), job, kind, summary, source,
                 manifest=manifest)
    finally:
        if started_here:
            ray.shutdown()
    summary.seconds = time.perf_counter() - started
    summary.scored_now = summary.rows
    return summary


def _collect(blocks, job, kind: str, summary, source: Source, manifest=None) -> None:
    """The scored blocks, in input order, into part files without the flag columns (and without bad rows),
    each committed with its chunk's digest, then the output. A failure keeps the committed chunks
    (``--resume`` continues them)."""
    manifest = manifest or prepare_work_dir(job, kind, resume_hint="pass --resume to continue it")
    row = 0
    unit = "line" if source.kind == ".jsonl" else "row"
    try:
        for index, table in enumerate(blocks):
            flags = table.column(BAD).to_pylist()
            digest = table.column(DIGEST)[0].as_py() if DIGEST in table.column_names and table.num_rows else None
            bad = [i for i, flag in enumerate(flags) if flag is not None]
            for i in bad:
                message = f"{unit} {row + i + 1}: {flags[i]}"
                log.warning("skipped bad row (--on-bad-row skip): %s: %s", job.input, message)
                if len(summary.bad) < SHOWN_BAD:
                    summary.bad.append(message)
            table = table.drop_columns([c for c in (BAD, DIGEST) if c in table.column_names])
            if bad:
                table = table.take(pa.array([i for i, flag in enumerate(flags) if flag is None], type=pa.int64()))
            if table.num_rows:
                write_part(manifest.folder, index, table)
            manifest.commit({"index": index, "first_row": row, "input_rows": len(flags), "rows": table.num_rows,
                             "skipped": len(bad), "digest": digest})
            row += len(flags)
        finish(manifest, job, kind, summary)
    except BaseException as exc:  # a user error inside an actor arrives wrapped by Ray
        error = _carl_error(exc) if isinstance(exc, Exception) else None
        keep_committed(manifest, kind, error if error is not None else exc, how=RESUME_HOW)
        if error is not None:
            raise error from None
        raise
