"""A scoring job (``carl predict-va`` / ``carl embed`` with a file output): chunks, commits, resume, summary.

Each chunk is scored, written as one Parquet part file (temporary name, then renamed) and only then
recorded: one line appended (and fsync'd) to ``_carl_chunks.jsonl`` beside ``_carl_manifest.json``,
which holds the job's fingerprint and is written only at the start and the end (rewriting the whole
list after every chunk cost I/O quadratic in the job's length). A run killed at any instant leaves
committed chunks 0..k-1, at most a stray part file that no line names, and at most a torn last line,
which is ignored. ``--resume`` checks that the job is the same (input path, model files, settings),
re-reads the input and compares each committed chunk's rows with the rows the input now gives
(:meth:`Chunk.digest`): a renamed, replaced, reordered or edited input is refused unless the
committed rows are still exactly the input's; then it scores from chunk k. With ``--workers N``
chunks are scored in N processes and committed in input order, so the output does not depend on N.

Committed chunks are never deleted because of an error (a bad row, a full disk, a failing model):
the error says they are kept and how to continue. Only a job that committed nothing leaves nothing.
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import os
import pathlib
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from carl.errors import CarlError, ConfigError, OutputError
from carl.io import atomic_write
from carl.scoring.model import ChunkScorer, ModelSpec, init_worker, score_in_worker
from carl.scoring.sinks import FOLDER, assemble, emotion_columns, output_kind, output_table, part_files, remove_work_dir, work_dir, \
    write_part
from carl.scoring.sources import Chunk, Source, bad_row_summary

log = logging.getLogger(__name__)

MANIFEST = "_carl_manifest.json"
JOURNAL = "_carl_chunks.jsonl"
FORMAT = "carl-scoring/2"
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
        """What must match for ``--resume`` to continue a run (not: workers, engine, progress).

        The input's content is not here: a resumed run compares each committed chunk with the rows the
        input gives now (chunk digests), which proves more than sizes and times could (a Parquet file
        renamed with its time kept reorders a folder's rows without changing either)."""
        return {"input": str(self.input.resolve()), "text_column": self.text_column,
                "keep_columns": list(self.keep_columns), "with_text": self.with_text, "on_bad_row": self.on_bad_row,
                "chunk_rows": self.chunk_rows,
                "model": {**self.model.fingerprint(), "path": str(pathlib.Path(self.model.path).resolve()),
                          "files": model_files_digest(self.model)}}


def model_files_digest(spec: ModelSpec) -> str:
    """SHA-256 of the model folder's files (names, sizes, contents): the weights, the V-A head, the tokenizer
    and configuration, so that a model retrained or refitted in place is a changed job. ``onnx/`` enters
    only with ``--backend onnx``. Hidden files are skipped. About a second per 500 MB of files."""
    folder = pathlib.Path(spec.path)
    if not folder.is_dir():
        return f"not a folder: {spec.path}"
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = file.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if relative.parts[0] == "onnx" and spec.backend != "onnx":
            continue
        digest.update(f"{relative.as_posix()}\0{file.stat().st_size}\0".encode())
        with open(file, "rb") as fh:
            while block := fh.read(1 << 22):
                digest.update(block)
    return digest.hexdigest()


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
    """``_carl_manifest.json`` (the job's fingerprint; at the end, ``complete`` and the chunks) and the
    journal ``_carl_chunks.jsonl`` (one line per committed chunk, appended as each is committed)."""

    def __init__(self, folder: pathlib.Path, job: dict, chunks: list[dict] | None = None, complete: bool = False):
        self.folder, self.job, self.chunks, self.complete = folder, job, chunks or [], complete

    @classmethod
    def read(cls, folder: pathlib.Path) -> "Manifest | None":
        path = folder / MANIFEST
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            version = data.get("format")
            if version != FORMAT and data.get("complete") is True:  # a finished output of an older carl: replaceable
                return cls(folder, data.get("job", {}), data.get("chunks", []), True)
            if version != FORMAT:
                raise CarlError(f"{path} was written by {'another' if version else 'no'} version of carl (format "
                                f"{version!r}, this carl writes {FORMAT!r}) and cannot be resumed: delete {folder} "
                                "and score again") from None
            manifest = cls(folder, data["job"], data.get("chunks", []), data.get("complete", False))
        except (OSError, ValueError, KeyError, TypeError):
            raise CarlError(f"{path} is damaged; delete {folder} and score again") from None
        if not manifest.complete:
            manifest.chunks = manifest._journal()
        return manifest

    def _journal(self) -> list[dict]:
        path = self.folder / JOURNAL
        if not path.is_file():
            return []
        data = path.read_bytes()
        lines = data.split(b"\n")
        chunks, valid = [], 0
        for number, line in enumerate(lines, start=1):
            if line.strip():
                try:
                    entry = json.loads(line)
                    assert entry["index"] == len(chunks)
                except (ValueError, KeyError, TypeError, AssertionError):
                    if number == len(lines):  # the last line, torn by a crash while it was appended: not committed
                        with open(path, "r+b") as fh:
                            fh.truncate(valid)
                        break
                    raise CarlError(f"{path}, line {number} is damaged; delete {self.folder} and score "
                                    "again") from None
                chunks.append(entry)
            valid += len(line) + 1
        return chunks

    def save(self) -> None:
        """Write the fingerprint (at the start, when --resume switches --on-bad-row, and at the end)."""
        data = {"format": FORMAT, "job": self.job, "complete": self.complete}
        if self.complete:
            data["chunks"] = self.chunks  # once, at the end: a finished folder output describes itself
        text = json.dumps(data, indent=1)
        atomic_write(self.folder / MANIFEST, lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))
        if self.complete or not self.chunks:  # the chunks are in the manifest now, or there are none yet
            (self.folder / JOURNAL).unlink(missing_ok=True)

    def commit(self, entry: dict) -> None:
        """Record one more committed chunk: a line appended to the journal and flushed to disk. A write that
        fails is taken back (best effort), so the journal names only chunks this run reported committed."""
        line = json.dumps(entry) + "\n"
        path = self.folder / JOURNAL
        start = None
        try:
            with open(path, "a", encoding="utf-8") as fh:
                start = fh.tell()
                if start and not self._ends_with_newline(path):
                    fh.write("\n")  # a last line whole but for its newline (a crash between the two)
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            if start is not None:
                try:
                    os.truncate(path, start)
                except OSError:
                    pass  # then the chunk is recorded after all: its part file is complete, and --resume checks it
            raise OutputError(f"cannot record chunk {entry['index']} ({exc.strerror or exc})", path=path,
                              fix="check that the disk has space and the folder is writable") from None
        self.chunks.append(entry)

    @staticmethod
    def _ends_with_newline(path: pathlib.Path) -> bool:
        with open(path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) == b"\n"

    @property
    def rows(self) -> int:
        return sum(c["rows"] for c in self.chunks)

    @property
    def skipped(self) -> int:
        return sum(c["skipped"] for c in self.chunks)

    @property
    def input_rows(self) -> int:
        return sum(c["input_rows"] for c in self.chunks)


def _differences(old: dict, new: dict) -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        if isinstance(old.get(key), dict) and isinstance(new.get(key), dict):
            out += [f"{key}.{d}" for d in _differences(old[key], new[key])]
        elif old.get(key) != new.get(key):
            out.append(f"{key} ({old.get(key)!r} then, {new.get(key)!r} now)")
    return out


def _resume_differences(old: dict, new: dict) -> list[str]:
    """What keeps a run from being resumed. ``--on-bad-row skip`` may continue a run made with ``error``:
    its committed chunks hold no bad row, so they are what skip mode writes for the same rows."""
    if old.get("on_bad_row") == "error" and new.get("on_bad_row") == "skip":
        old = {**old, "on_bad_row": "skip"}
    differ = _differences(old, new)
    return [FRIENDLY.get(d.split(" (")[0], d) for d in differ]


FRIENDLY = {"model.files": "the model folder's files (the weights, the V-A head or the tokenizer: the model was "
                           "retrained, refitted or replaced in place)"}


def prepare_work_dir(job: ScoreJob, kind: str, *, resume_hint: str = "pass --resume to continue it") -> Manifest:
    """The manifest to continue (``--resume``) or a fresh one; refuses to mix two jobs' chunks, and never
    deletes committed chunks of an unfinished run (only the user does)."""
    folder = work_dir(job.output, kind)
    fingerprint = job.fingerprint()
    found = Manifest.read(folder) if folder.is_dir() else None
    manifest = found if found is not None and (found.chunks or found.complete) else None
    if manifest is not None and not job.resume and not manifest.complete:
        raise CarlError(f"{folder} holds an unfinished run ({len(manifest.chunks)} chunk(s), {manifest.rows} rows "
                        f"committed): {resume_hint}, or delete {folder} to start over")
    if manifest is not None and job.resume:
        differ = _resume_differences(manifest.job, fingerprint)
        if differ:
            raise CarlError(f"--resume: {folder} was written by another job; it differs in " + "; ".join(differ)
                            + f". Run the same command as before, or delete {folder} to start over")
        if manifest.job != fingerprint:  # --on-bad-row error -> skip: later resumes compare with skip
            manifest.job = fingerprint
            manifest.save()
        return manifest
    # carl's own files: the manifest and journal, part files (named by a manifest, or strays of a run killed
    # between writing a part and recording it), temporary parts
    ours = {MANIFEST, JOURNAL}
    leftovers = [p for p in folder.iterdir() if p.name not in ours and not p.name.startswith(".part.")
                 and not (found is not None and p.name.startswith("part-") and p.suffix == ".parquet")] \
        if folder.is_dir() else []
    if kind == FOLDER and found is None and leftovers:
        raise OutputError("is a folder that holds other files", path=folder,
                          fix="give a new folder name (it becomes a Parquet dataset folder) or a file name "
                              "such as scores.parquet")
    if folder.exists() and kind != FOLDER:
        remove_work_dir(folder)
    elif kind == FOLDER and found is not None:  # a finished (or empty) earlier run: replaced by this one
        for part in [*folder.glob("part-*.parquet"), *folder.glob(".part.*"), folder / JOURNAL]:
            part.unlink(missing_ok=True)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder ({exc.strerror or exc})", path=folder,
                          fix="check that the parent folder exists and is writable") from None
    manifest = Manifest(folder, fingerprint)
    manifest.save()
    return manifest


def discard_work_dir(folder: pathlib.Path, kind: str) -> None:
    """Remove a run's part files and manifest (and the folder, unless it holds anything else). Only for a run
    that committed nothing, or whose every row was bad: no committed work is lost."""
    if kind != FOLDER:
        remove_work_dir(folder)
        return
    for path in [*folder.glob("part-*.parquet"), *folder.glob(".part.*"), folder / MANIFEST, folder / JOURNAL]:
        path.unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:
        pass


def keep_committed(manifest: Manifest, kind: str, exc: BaseException, *, how: str) -> None:
    """A job stopped by ``exc``: a run that committed nothing leaves nothing; committed chunks stay, and the
    error says so and how to go on (``how``)."""
    if not manifest.chunks or not (manifest.folder / MANIFEST).is_file():
        discard_work_dir(manifest.folder, kind)
        return
    note = (f"the {len(manifest.chunks)} chunk(s) committed so far ({manifest.rows} rows, input rows 1-"
            f"{manifest.input_rows}) are kept in {manifest.folder}: {how}")
    if isinstance(exc, CarlError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        exc.args = (f"{exc.args[0]}\n  {note}",)
    else:
        log.error("%s", note)


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


def _shows_progress(progress: bool | None) -> bool:
    import sys

    return progress if progress is not None else sys.stderr.isatty()


def verified(chunks, manifest: Manifest, job: ScoreJob):
    """The chunks not committed yet, after proving that each committed one holds the rows the input gives
    now (same digest): a resumed run then writes what an uninterrupted run over this input writes."""
    committed = len(manifest.chunks)
    seen = 0
    for chunk in chunks:
        if chunk.index >= committed:
            yield chunk
            continue
        seen += 1
        if manifest.chunks[chunk.index].get("digest") != chunk.digest():
            raise CarlError(
                f"--resume: input rows {chunk.first_row + 1}-{chunk.first_row + chunk.n_rows} of {job.input} are not "
                f"the rows committed from them (chunk {chunk.index}): the input changed since (a file renamed, "
                f"replaced, reordered or edited within its first {manifest.input_rows} rows). Restore the input, "
                f"or delete {manifest.folder} to score the input as it is now")
    if seen < committed:
        raise CarlError(f"--resume: {job.input} now gives {seen} chunk(s) of {job.chunk_rows} rows, fewer than the "
                        f"{committed} committed: the input changed since (rows removed). Restore the input, or "
                        f"delete {manifest.folder} to score the input as it is now")


RESUME_HOW = ("once the cause is fixed, run the same command with --resume to continue after them (a bad row: fix "
              "its line, or add --on-bad-row skip; the committed rows are checked against the input)")


def run_local(job: ScoreJob, make_scorers=None) -> Summary:
    """Score ``job.input`` into ``job.output`` in this process (or ``job.workers`` processes; or, with
    ``make_scorers(job, on_batch)``, whatever scores the chunks: the Ray engine's actors)."""
    kind = output_kind(job.output, job.model.task)
    if kind == ".npy" and job.keep_columns:
        raise ConfigError("--keep-columns: a .npy output holds the embedding matrix only; write .parquet or .jsonl "
                          "to keep columns")
    source = Source(job.input, text_column=job.text_column, keep_columns=job.keep_columns,
                    on_bad_row=job.on_bad_row, chunk_rows=job.chunk_rows)
    manifest = prepare_work_dir(job, kind)
    summary = Summary(output=job.output, resumed_chunks=len(manifest.chunks))
    # the input is counted (one more read) only for a bar that shows an ETA
    bar = _progress_bar(source.count_rows() if _shows_progress(job.progress) else None,
                        manifest.rows + manifest.skipped, job.progress)
    scorers = None
    try:
        scorers = (make_scorers or _Scorers)(job, on_batch=bar.update if job.workers == 1 and make_scorers is None
                                             else None)
        started = time.perf_counter()  # after the model has loaded: texts/s is the scoring rate
        for chunk, results in scorers.map(verified(source.chunks(), manifest, job)):
            table = output_table(chunk.texts if job.with_text else None, chunk.kept, results)
            if table.num_rows:  # a chunk of bad rows only has no part file
                write_part(manifest.folder, chunk.index, table)
            entry = {"index": chunk.index, "first_row": chunk.first_row, "input_rows": chunk.n_rows,
                     "rows": len(chunk.texts), "skipped": len(chunk.bad), "digest": chunk.digest()}
            _report_bad(chunk, entry)
            manifest.commit(entry)
            summary.scored_now += len(chunk.texts)
            if job.workers > 1 or make_scorers is not None:
                bar.update(len(chunk.texts))
            bar.update(len(chunk.bad))
        summary.bad = [b for c in manifest.chunks for b in c.get("bad", [])][:SHOWN_BAD]
        finish(manifest, job, kind, summary)
    except BaseException as exc:
        keep_committed(manifest, kind, exc, how=RESUME_HOW)
        raise
    finally:
        if scorers is not None:
            scorers.close()
        bar.close()
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
    files = part_files(manifest.folder, manifest.chunks)
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
