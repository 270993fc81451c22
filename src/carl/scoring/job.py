"""A scoring job (``carl predict-va`` / ``carl embed`` with a file output): chunks, commits, resume, summary.

Each chunk is scored, written as one Parquet part file (temporary name, then renamed) and only then
recorded in ``_carl_manifest.json`` (rewritten atomically). A run killed at any instant leaves
committed chunks 0..k-1 and at most a stray part file that no manifest names; ``--resume`` checks
that the job is the same (input file size and time, model, settings), re-reads the input past the
committed rows and scores from chunk k. With ``--workers N`` chunks are scored in N processes and
committed in input order, so the output does not depend on N.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import pathlib
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from carl.errors import CarlError, ConfigError, DataError, OutputError
from carl.io import atomic_write
from carl.scoring.model import ChunkScorer, ModelSpec, init_worker, score_in_worker
from carl.scoring.sinks import FOLDER, assemble, emotion_columns, output_kind, output_table, part_files, remove_work_dir, work_dir, \
    write_part
from carl.scoring.sources import Chunk, Source, bad_row_summary, parquet_files

log = logging.getLogger(__name__)

MANIFEST = "_carl_manifest.json"
FORMAT = "carl-scoring/1"
SHOWN_BAD = 10
ENGINES = ("local", "ray")


@dataclass
class ScoreJob:
    """Everything one scoring run needs; the CLI fills it from its options."""

    model: ModelSpec
    input: pathlib.Path
    output: pathlib.Path
    text_column: str = "text"
    keep_columns: tuple[str, ...] = ()
    with_text: bool = True
    on_bad_row: str = "error"
    chunk_rows: int = 5000
    workers: int = 1
    resume: bool = False
    progress: bool | None = None  # None: a bar when stderr is a terminal
    engine: str = "local"
    ray_address: str | None = None

    def __post_init__(self):
        self.input, self.output = pathlib.Path(self.input), pathlib.Path(self.output)
        if self.workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {self.workers}")
        if self.engine not in ENGINES:
            raise ConfigError(f"--engine {self.engine!r}: choose one of {', '.join(ENGINES)}")
        clash = [c for c in self.keep_columns if c in self.output_columns_of_model()
                 or (c == "text" and self.with_text)]
        if clash:
            raise ConfigError(f"--keep-columns {clash}: the output already has a column of that name; "
                              "rename the input column" + (" or pass --no-text" if clash == ["text"] else ""))

    def output_columns_of_model(self) -> tuple[str, ...]:
        return (("valence", "arousal") if self.model.task == "predict-va" else ()) + \
            (emotion_columns(self.model.emotions_top_k) if self.model.task == "predict-va" else ()) + \
            (("embedding",) if self.model.wants_embedding else ())

    def fingerprint(self) -> dict:
        """What must match for ``--resume`` to continue a run (not: workers, engine, progress)."""
        files = parquet_files(self.input) if self.input.is_dir() else [self.input]
        stats = [f.stat() for f in files]
        return {"input": str(self.input.resolve()), "input_files": len(files),
                "input_bytes": sum(s.st_size for s in stats), "input_mtime_ns": max(s.st_mtime_ns for s in stats),
                "text_column": self.text_column,
                "keep_columns": list(self.keep_columns), "with_text": self.with_text, "on_bad_row": self.on_bad_row,
                "chunk_rows": self.chunk_rows, "model": {**self.model.fingerprint(),
                                                         "path": str(pathlib.Path(self.model.path).resolve())}}


@dataclass
class Summary:
    rows: int = 0
    skipped: int = 0
    seconds: float = 0.0
    scored_now: int = 0
    resumed_chunks: int = 0
    output: pathlib.Path | None = None
    bad: list[str] = field(default_factory=list)

    @property
    def texts_per_second(self) -> float:
        return self.scored_now / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        resumed = f" (resumed after {self.resumed_chunks} committed chunk(s))" if self.resumed_chunks else ""
        return (f"{self.rows} rows scored, {self.skipped} skipped; {self.seconds:.1f} s, "
                f"{self.texts_per_second:.1f} texts/s{resumed} -> {self.output}")


class Manifest:
    """``_carl_manifest.json``: the job's fingerprint and the committed chunks, rewritten atomically."""

    def __init__(self, folder: pathlib.Path, job: dict, chunks: list[dict] | None = None, complete: bool = False):
        self.folder, self.job, self.chunks, self.complete = folder, job, chunks or [], complete

    @classmethod
    def read(cls, folder: pathlib.Path) -> "Manifest | None":
        path = folder / MANIFEST
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            assert data["format"] == FORMAT
            return cls(folder, data["job"], data["chunks"], data.get("complete", False))
        except (OSError, ValueError, KeyError, AssertionError):
            raise CarlError(f"{path} is damaged; delete {folder} and score again") from None

    def save(self) -> None:
        text = json.dumps({"format": FORMAT, "job": self.job, "complete": self.complete, "chunks": self.chunks},
                          indent=1)
        atomic_write(self.folder / MANIFEST, lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))

    @property
    def rows(self) -> int:
        return sum(c["rows"] for c in self.chunks)

    @property
    def skipped(self) -> int:
        return sum(c["skipped"] for c in self.chunks)


def _differences(old: dict, new: dict) -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        if isinstance(old.get(key), dict) and isinstance(new.get(key), dict):
            out += [f"{key}.{d}" for d in _differences(old[key], new[key])]
        elif old.get(key) != new.get(key):
            out.append(f"{key} ({old.get(key)!r} then, {new.get(key)!r} now)")
    return out


def prepare_work_dir(job: ScoreJob, kind: str) -> Manifest:
    """The manifest to continue (``--resume``) or a fresh one; refuses to mix two jobs' chunks."""
    folder = work_dir(job.output, kind)
    fingerprint = job.fingerprint()
    manifest = Manifest.read(folder) if folder.is_dir() else None
    if manifest is not None and not manifest.chunks and not manifest.complete:
        manifest = None  # a run that committed nothing (e.g. the model failed to load): start afresh
    if manifest is not None and not job.resume and not manifest.complete:
        raise CarlError(f"{folder} holds an unfinished run ({len(manifest.chunks)} chunk(s), {manifest.rows} rows "
                        f"committed): pass --resume to continue it, or delete {folder} to start over")
    if manifest is not None and job.resume:
        differ = _differences(manifest.job, fingerprint)
        if differ:
            raise CarlError(f"--resume: {folder} was written by another job; it differs in " + "; ".join(differ)
                            + f". Run the same command as before, or delete {folder} to start over")
        return manifest
    leftovers = [p for p in folder.iterdir() if p.name != MANIFEST and not p.name.startswith(".part.")] \
        if folder.is_dir() else []
    if kind == FOLDER and manifest is None and leftovers:
        raise OutputError("is a folder that holds other files", path=folder,
                          fix="give a new folder name (it becomes a Parquet dataset folder) or a file name "
                              "such as scores.parquet")
    if folder.exists() and kind != FOLDER:
        remove_work_dir(folder)
    elif kind == FOLDER and manifest is not None:  # a finished earlier run: replaced by this one
        for part in folder.glob("part-*.parquet"):
            part.unlink()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder ({exc.strerror or exc})", path=folder,
                          fix="check that the parent folder exists and is writable") from None
    manifest = Manifest(folder, fingerprint)
    manifest.save()
    return manifest


def discard_work_dir(folder: pathlib.Path, kind: str) -> None:
    """Remove a run's part files and manifest (and the folder, unless it holds anything else)."""
    if kind != FOLDER:
        remove_work_dir(folder)
        return
    for path in [*folder.glob("part-*.parquet"), *folder.glob(".part.*"), folder / MANIFEST]:
        path.unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:
        pass


def _progress_bar(total: int | None, initial: int, enabled: bool | None):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="texts", desc="scoring", dynamic_ncols=True, smoothing=0.1,
                disable=(not enabled) if enabled is not None else None, leave=True)


def _report_bad(chunk: Chunk, manifest_entry: dict) -> None:
    for err in chunk.bad:
        log.warning("skipped bad row (--on-bad-row skip): %s", err)
    manifest_entry["bad"] = [bad_row_summary(err) for err in chunk.bad[:SHOWN_BAD]]


class _Scorers:
    """Chunks in, results out, in input order: in this process, or in a pool of ``workers`` processes
    with at most 2 x workers chunks in flight (memory stays bounded)."""

    def __init__(self, job: ScoreJob, on_batch):
        self.job, self.on_batch = job, on_batch
        self.pool = None
        if job.workers == 1:
            self.scorer = ChunkScorer(job.model)
        else:
            import multiprocessing

            # spawn: a fresh interpreter per worker, never a fork of a process whose torch threads already run
            self.pool = ProcessPoolExecutor(max_workers=job.workers, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=init_worker, initargs=(job.model,))

    def map(self, chunks):
        if self.pool is None:
            for chunk in chunks:
                yield chunk, self.scorer.score(chunk.texts, self.on_batch)
            return
        window = collections.deque()
        for chunk in chunks:
            window.append((chunk, self.pool.submit(score_in_worker, chunk.texts)))
            if len(window) >= 2 * self.job.workers:
                done, future = window.popleft()
                yield done, future.result()
        while window:
            done, future = window.popleft()
            yield done, future.result()

    def close(self):
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


def default_threads(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // workers)


def run_local(job: ScoreJob) -> Summary:
    """Score ``job.input`` into ``job.output`` in this process (or ``job.workers`` processes)."""
    kind = output_kind(job.output, job.model.task)
    if kind == ".npy" and job.keep_columns:
        raise ConfigError("--keep-columns: a .npy output holds the embedding matrix only; write .parquet or .jsonl "
                          "to keep columns")
    source = Source(job.input, text_column=job.text_column, keep_columns=job.keep_columns,
                    on_bad_row=job.on_bad_row, chunk_rows=job.chunk_rows)
    manifest = prepare_work_dir(job, kind)
    summary = Summary(output=job.output, resumed_chunks=len(manifest.chunks))
    committed = len(manifest.chunks)
    bar = _progress_bar(source.count_rows(), manifest.rows + manifest.skipped, job.progress)
    scorers = _Scorers(job, on_batch=bar.update if job.workers == 1 else None)
    started = time.perf_counter()  # after the model has loaded: texts/s is the scoring rate
    try:
        todo = (chunk for chunk in source.chunks() if chunk.index >= committed)
        yield_from = scorers.map(todo)
        for chunk, results in yield_from:
            table = output_table(chunk.texts if job.with_text else None, chunk.kept, results)
            write_part(manifest.folder, chunk.index, table)
            entry = {"index": chunk.index, "first_row": chunk.first_row, "input_rows": chunk.n_rows,
                     "rows": len(chunk.texts), "skipped": len(chunk.bad)}
            _report_bad(chunk, entry)
            manifest.chunks.append(entry)
            manifest.save()
            summary.scored_now += len(chunk.texts)
            if job.workers > 1:
                bar.update(len(chunk.texts))
            bar.update(len(chunk.bad))
    except DataError:
        # The input must change before this job can succeed, and a changed input cannot be resumed:
        # its committed chunks are of no further use.
        discard_work_dir(manifest.folder, kind)
        raise
    finally:
        scorers.close()
        bar.close()
    summary.bad = [b for c in manifest.chunks for b in c.get("bad", [])][:SHOWN_BAD]
    finish(manifest, job, kind, summary)
    summary.seconds = time.perf_counter() - started
    return summary


def finish(manifest: Manifest, job: ScoreJob, kind: str, summary: Summary) -> None:
    """The committed chunks become the output (a folder output: its manifest marked complete) and the
    work folder goes; an input without one usable row writes nothing and says why. Both engines end here."""
    summary.rows, summary.skipped = manifest.rows, manifest.skipped
    if summary.rows == 0:
        discard_work_dir(manifest.folder, kind)
        first = f" (first: {summary.bad[0]})" if summary.bad else ""
        raise CarlError(f"{job.input}: no usable rows: all {summary.skipped} rows are bad{first}; nothing written"
                        if summary.skipped else f"{job.input}: holds no texts (the file is empty); nothing written")
    files = part_files(manifest.folder, len(manifest.chunks))
    if kind == FOLDER:
        manifest.complete = True
        manifest.save()
    else:
        assemble(files, job.output, kind, summary.rows)
        remove_work_dir(manifest.folder)
    if summary.skipped:
        log.warning("%s: skipped %d bad row(s) of %d (--on-bad-row skip); first: %s", job.input, summary.skipped,
                    summary.rows + summary.skipped, "; ".join(summary.bad[:3]))
    return summary


__all__ = ["ScoreJob", "Summary", "finish", "run_local"]
