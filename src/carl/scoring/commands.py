"""``carl embed`` and ``carl predict-va``: typer-annotated functions that build a :class:`ScoreJob`.

The CLI registers them (``app.command("embed")(embed_command)``); user errors raise
:class:`carl.errors.CarlError`, which the CLI's ``main`` turns into a message and exit code 2.
"""

from __future__ import annotations

import json
import logging
import pathlib
from typing import Optional

import typer

from carl.errors import CarlError, ConfigError, DataError
from carl.inference import BACKENDS, EmotionHead, VAHead
from carl.inference.encoders import resolve_model_path
from carl.scoring.engines import run
from carl.scoring.job import ScoreJob, default_threads
from carl.scoring.model import ChunkScorer, ModelSpec
from carl.scoring.sinks import output_kind
from carl.scoring.sources import Source

__all__ = ["embed_command", "predict_va_command"]

log = logging.getLogger(__name__)

INPUT_HELP = ("Texts: .txt (one per line), .csv/.tsv/.jsonl (a text column), .parquet, or a folder of Parquet "
              "files; read in chunks, never whole.")
KeepOpt = typer.Option(None, "--keep-columns", help="Input columns to carry into the output, comma-separated "
                                                    "(e.g. id,date), so the scores join back to your data.")
BadRowOpt = typer.Option("error", "--on-bad-row", help="'error' (stop at the first bad row, naming its line) or "
                                                       "'skip' (leave bad rows out; counted in the summary and "
                                                       "logged).")
ChunkOpt = typer.Option(5000, "--chunk-rows", help="Input rows per committed chunk (the unit of --resume).")
ResumeOpt = typer.Option(False, "--resume", help="Continue an interrupted run after its last committed chunk.")
WorkersOpt = typer.Option(1, "--workers", help="Processes scoring chunks in parallel (local engine), or Ray actors "
                                               "(--engine ray).")
ThreadsOpt = typer.Option(None, "--threads", help="CPU threads per worker (default: cores / workers).")
EngineOpt = typer.Option("local", "--engine", help="local (this machine) or ray (Ray Data; pip install "
                                                   "\"carl-affect[ray]\").")
RayAddressOpt = typer.Option(None, "--ray-address", help="With --engine ray: an existing cluster (e.g. "
                                                         "ray://head:10001 or auto); default: a local Ray for "
                                                         "this job.")
BackendOpt = typer.Option("torch", "--backend", help="torch, or onnx (after `carl export-onnx MODEL`).")
OnnxOpt = typer.Option(None, "--onnx-file", help="With --backend onnx: the graph inside the folder (default "
                                                 "onnx/model.onnx; int8: onnx/model_qint8.onnx).")
ProgressOpt = typer.Option(None, "--progress/--no-progress", help="Progress bar with texts/s and ETA (default: "
                                                                  "when stderr is a terminal).")
TextOpt = typer.Option(True, "--text/--no-text", help="Write the input text as the output's 'text' column.")


def _keep(keep_columns: Optional[str]) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(c.strip() for c in (keep_columns or "").split(",") if c.strip()))
    return names


def _job(task, model, input, output, *, text_column, keep_columns, on_bad_row, chunk_rows, resume, workers,
         threads, engine, ray_address, backend, onnx_file, progress, with_text, batch_size, normalize=False,
         with_embedding=False, emotions_top_k=0):


    if backend not in BACKENDS:
        raise ConfigError(f"--backend {backend!r} is unknown; choose one of {', '.join(BACKENDS)}")
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    spec = ModelSpec(path=str(resolve_model_path(model)), task=task, backend=backend, onnx_file=onnx_file,
                     batch_size=batch_size, normalize=normalize, with_embedding=with_embedding,
                     emotions_top_k=emotions_top_k,
                     threads=threads or (default_threads(workers) if workers > 1 or engine == "ray" else None))
    return ScoreJob(model=spec, input=input, output=output, text_column=text_column, keep_columns=_keep(keep_columns),
                    with_text=with_text, on_bad_row=on_bad_row, chunk_rows=chunk_rows, workers=workers,
                    resume=resume, progress=progress, engine=engine, ray_address=ray_address)


def _check_model_folder(model: str) -> str:
    folder = resolve_model_path(model)
    if not pathlib.Path(folder).is_dir():
        raise CarlError(f"model {model} is not a local model folder; give the folder that `carl train` wrote "
                        "(OUTPUT/model), with a V-A head")
    return folder


def embed_command(
    model: str = typer.Argument(..., help="Folder written by `carl train` (OUTPUT/model), or any "
                                          "sentence-transformers model."),
    input: pathlib.Path = typer.Option(..., "--input", help=INPUT_HELP),
    output: pathlib.Path = typer.Option(..., "--output", help=".parquet, .jsonl ({text, embedding}), .npy (float32 "
                                                              "matrix, memory-mapped) or a folder name (Parquet "
                                                              "dataset, one file per chunk)."),
    text_column: str = typer.Option("text", "--text-column"),
    keep_columns: Optional[str] = KeepOpt,
    batch_size: int = typer.Option(64, "--batch-size"),
    normalize: bool = typer.Option(False, "--normalize", help="L2-normalise the embeddings. Models exported from a "
                                                             "base with a Normalize module (MiniLM, MPNet) return "
                                                             "unit vectors without it."),
    backend: str = BackendOpt, onnx_file: Optional[str] = OnnxOpt, on_bad_row: str = BadRowOpt,
    chunk_rows: int = ChunkOpt, resume: bool = ResumeOpt, workers: int = WorkersOpt,
    threads: Optional[int] = ThreadsOpt, engine: str = EngineOpt, ray_address: Optional[str] = RayAddressOpt,
    progress: Optional[bool] = ProgressOpt, with_text: bool = TextOpt,
):
    """Embed texts with a trained model, streaming: chunks committed as they finish (--resume continues)."""
    output_kind(output, "embed")  # an unsupported output fails before any model is loaded
    job = _job("embed", model, input, output, text_column=text_column, keep_columns=keep_columns,
               on_bad_row=on_bad_row, chunk_rows=chunk_rows, resume=resume, workers=workers, threads=threads,
               engine=engine, ray_address=ray_address, backend=backend, onnx_file=onnx_file, progress=progress,
               with_text=with_text, batch_size=batch_size, normalize=normalize)
    typer.echo(f"embeddings: {run(job).line()}")


def predict_va_command(
    model: str = typer.Argument(..., help="Model folder holding va_head.json (see `python -m carl.va_head`)."),
    input: pathlib.Path = typer.Option(..., "--input", help=INPUT_HELP),
    output: Optional[pathlib.Path] = typer.Option(None, "--output", help=".parquet, .jsonl, .csv/.tsv, or a folder "
                                                                         "name (Parquet dataset, one file per "
                                                                         "chunk); default: a table on stdout."),
    text_column: str = typer.Option("text", "--text-column"),
    keep_columns: Optional[str] = KeepOpt,
    batch_size: int = typer.Option(64, "--batch-size"),
    with_embedding: bool = typer.Option(False, "--with-embedding", help="Also write each text's embedding "
                                                                        "(.parquet, .jsonl or a folder)."),
    backend: str = BackendOpt, onnx_file: Optional[str] = OnnxOpt, on_bad_row: str = BadRowOpt,
    chunk_rows: int = ChunkOpt, resume: bool = ResumeOpt, workers: int = WorkersOpt,
    threads: Optional[int] = ThreadsOpt, engine: str = EngineOpt, ray_address: Optional[str] = RayAddressOpt,
    progress: Optional[bool] = ProgressOpt, with_text: bool = TextOpt,
    emotions: bool = typer.Option(False, "--emotions", help="Also write the top emotions of the model's emotion "
                                                            "head (emotion_head.json; `carl fit-heads MODEL`): "
                                                            "columns emotion_1, emotion_1_score, ..."),
    top_k: int = typer.Option(3, "--top-k", help="With --emotions: how many emotions per text (1 to the number of "
                                                 "labels of the head)."),
):
    """Predict valence and arousal (normalised [0, 1]) per text with the model's V-A head, streaming."""
    if output is not None:
        output_kind(output, "predict-va")
        if with_embedding and output.suffix.lower() in (".csv", ".tsv"):
            raise DataError("--with-embedding: a CSV/TSV output has no embedding column", path=output,
                            fix="write .parquet, .jsonl or a Parquet dataset folder")
    folder = _check_model_folder(model)
    VAHead.load(folder)  # fail before reading texts or loading the encoder
    if emotions:
        EmotionHead.load(folder).check_top_k(top_k)  # (the encoder is checked when the model loads)
    job_args = dict(text_column=text_column, keep_columns=keep_columns, on_bad_row=on_bad_row, chunk_rows=chunk_rows,
                    resume=resume, workers=workers, threads=threads, engine=engine, ray_address=ray_address,
                    backend=backend, onnx_file=onnx_file, progress=progress, with_text=with_text,
                    batch_size=batch_size, with_embedding=with_embedding, emotions_top_k=top_k if emotions else 0)
    if output is None:
        _predict_to_stdout(folder, input, job_args)
        return
    summary = run(_job("predict-va", folder, input, output, **job_args))
    typer.echo(f"predictions (valence, arousal in [0, 1]): {summary.line()}")


def _cell(value) -> str:
    """One field of the stdout table: tabs, line ends and backslashes escaped as \\t, \\n, \\r, \\\\ (the
    convention of TSV readers such as PostgreSQL's COPY), so every row is one line of tab-separated fields."""
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _predict_to_stdout(folder: str, input: pathlib.Path, job_args: dict) -> None:
    """The table on stdout, chunk by chunk (no commit, no resume: a pipe has nothing to resume): valence,
    arousal (3 decimals), the --keep-columns, the embedding (--with-embedding, a JSON list) and the text
    (unless --no-text), tab-separated, fields escaped by :func:`_cell`."""
    if job_args["resume"] or job_args["engine"] != "local" or job_args["workers"] != 1:
        raise ConfigError("--resume, --workers and --engine need --output (a file or folder to commit chunks to)")
    keep = _keep(job_args["keep_columns"])
    with_text, with_embedding = job_args["with_text"], job_args["with_embedding"]
    clash = [c for c in keep if c in ("valence", "arousal", "embedding") or (c == "text" and with_text)]
    if clash:
        raise ConfigError(f"--keep-columns {clash}: the output already has a column of that name; rename the input "
                          "column" + (" or pass --no-text" if clash == ["text"] else ""))
    source = Source(input, text_column=job_args["text_column"], keep_columns=keep, on_bad_row=job_args["on_bad_row"],
                    chunk_rows=job_args["chunk_rows"])
    scorer = ChunkScorer(ModelSpec(path=folder, task="predict-va", backend=job_args["backend"],
                                   onnx_file=job_args["onnx_file"], batch_size=job_args["batch_size"],
                                   with_embedding=with_embedding, threads=job_args["threads"],
                                   emotions_top_k=job_args["emotions_top_k"]))
    k = job_args["emotions_top_k"]
    typer.echo("\t".join(["valence", "arousal", *(f"emotion_{i}" for i in range(1, k + 1)), *keep,
                          *(["embedding"] if with_embedding else []), *(["text"] if with_text else [])]))
    rows = skipped = 0
    for chunk in source.chunks():
        results = scorer.score(chunk.texts)
        kept = chunk.kept.to_pylist() if keep else [{}] * len(chunk.texts)
        for i, (text, (v, a)) in enumerate(zip(chunk.texts, results["va"])):
            emotions = [f"{results['emotion_labels'][i, j]}:{results['emotion_scores'][i, j]:.2f}" for j in range(k)]
            fields = [f"{v:.3f}", f"{a:.3f}", *emotions, *(_cell(kept[i][name]) for name in keep)]
            if with_embedding:
                fields.append(json.dumps([round(float(x), 6) for x in results["embedding"][i]], separators=(",", ":")))
            if with_text:
                fields.append(_cell(text))
            typer.echo("\t".join(fields))
        for err in chunk.bad:
            log.warning("skipped bad row (--on-bad-row skip): %s", err)
        rows, skipped = rows + len(chunk.texts), skipped + len(chunk.bad)
    if skipped:
        typer.echo(f"{rows} rows scored, {skipped} skipped (--on-bad-row skip)", err=True)
    if rows == 0:
        raise DataError(f"no usable rows (all {skipped} are bad)" if skipped else "holds no texts (the file is empty)",
                        path=input, fix="give one text per line")
