"""The ``carl`` command line: train, run (the main job), embed, serve, export-onnx, data list / fetch, version."""

from __future__ import annotations

import logging
import os
import pathlib
import platform
import sys
from importlib import metadata
from typing import List, Optional

import typer

import carl
from carl.config import CarlConfig, recipe_overrides
from carl.data import cli_list_rows, fetch, known_corpora, resolve_data_dir
from carl.data.specs import is_table, parse_table_spec
from carl.errors import CarlError
from carl.evaluation.commands import parse_models
from carl.evaluation.report import markdown_table, write_report
from carl.evaluation.task_specs import table_task
from carl.inference.encoders import resolve_model_path
from carl.inference.onnx_backend import export_onnx
from carl.reproduce import reproduce as run_grid
from carl.serving.server import serve as run_server
from carl.serving.settings import ServeSettings
from carl.usage_errors import execute

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="CARL: emotion-aware text embeddings (MCCL + PTD). See README.md.")
data_app = typer.Typer(no_args_is_help=True, help="Corpora: what is known, what is present, fetching.")
app.add_typer(data_app, name="data")

VERSION_REPORT_PACKAGES = ("torch", "transformers", "sentence-transformers", "typer")
"""Besides carl and Python, the installed versions a bug report needs (typer: it parses the command line)."""


def version_report() -> str:
    """carl's version and those of Python and VERSION_REPORT_PACKAGES, one per line. Read from the
    packages' metadata: importing torch or transformers to ask them would take seconds."""
    lines = [f"carl {carl.__version__}", f"python {platform.python_version()}"]
    for name in VERSION_REPORT_PACKAGES:
        try:
            lines.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            lines.append(f"{name} not installed")
    return "\n".join(lines)


def _print_version_and_exit(value: bool) -> None:
    if value:
        typer.echo(version_report())
        raise typer.Exit()


@app.callback()
def _top_level_options(
    version: bool = typer.Option(False, "--version", callback=_print_version_and_exit, is_eager=True,
                                 help="Print the versions of carl, Python, torch, transformers, "
                                      "sentence-transformers and typer, and exit."),
):
    pass


PACKAGED_CONFIGS = pathlib.Path(__file__).parent / "configs"
MAIN_RECIPE = "carl-plus-queue"
"""The recipe `carl run` (the README's main job) trains unless told otherwise."""


def _load_config(config: Optional[pathlib.Path], overrides: dict, sets: List[str], recipe: Optional[str] = None):
    """Config file (or defaults) <- recipe <- command-line options <- --set, later ones winning."""
    cfg = CarlConfig.load(config) if config else CarlConfig()
    if recipe is not None:
        cfg = cfg.override(recipe_overrides(recipe))
    dotted = {k: v for k, v in overrides.items() if v is not None}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep:
            raise CarlError(f"--set {item!r}: expected KEY=VALUE, e.g. --set ptd.epsilon=1e-3")
        dotted[key] = value
    return cfg.override(dotted).validate()


def _train_options(data, model, max_steps, epochs, batch_size, seed, output_dir, resume, data_dir) -> dict:
    return {"data.train": data, "model.name_or_path": model, "train.max_steps": max_steps, "train.epochs": epochs,
            "train.batch_size": batch_size, "train.seed": seed, "train.output_dir": output_dir,
            "train.resume": True if resume else None, "data.data_dir": data_dir}


DataOpt = typer.Option(None, "--data", help="Training corpora and tables, comma-separated: emobank,facebook-va or "
                       "mine.csv:text=body,valence=v,arousal=a (.csv/.tsv/.jsonl; see README, 'Your own data').")
ModelOpt = typer.Option(None, "--model", help="Hugging Face id or local path of the encoder ('minilm' = offline default).")
StepsOpt = typer.Option(None, "--max-steps", help="Optimiser steps (overrides --epochs).")
EpochsOpt = typer.Option(None, "--epochs")
BatchOpt = typer.Option(None, "--batch-size", help="Global batch size.")
SeedOpt = typer.Option(None, "--seed")
ResumeOpt = typer.Option(False, "--resume", help="Continue from the last complete checkpoint in the output folder.")
DataDirOpt = typer.Option(None, "--data-dir", help="Corpus folder (default: $CARL_DATA_DIR, else the user data folder).")
BadRowOpt = typer.Option(None, "--on-bad-row", help="User tables: 'error' (default) or 'skip' bad rows, counted and reported.")
SetOpt = typer.Option([], "--set", help="Any setting as KEY=VALUE, e.g. --set ptd.epsilon=1e-3 (repeatable).")
RecipeOpt = typer.Option(None, "--recipe", help="Named configuration of CARL's parts: 'paper' (the published method), "
                                                 "'carl-plus' or 'carl-plus-queue' (this project's recipes); see docs/method.md.")


def _fit_va_head(cfg, model_dir: pathlib.Path) -> None:
    """Ship a V-A regression head with the model (for `carl predict-va`), fitted on the
    training data: the train splits of named corpora and every row of training tables; its
    ridge alpha is chosen on ``data.dev`` if given, else on the corpora's dev splits, else on
    a held-out 10 % of the tables (carl.evaluation.head_fitting.train_va_head)."""
    from carl.evaluation.head_fitting import TooFewTexts, train_va_head  # lazy: keeps carl --help fast

    specs = [spec for spec in cfg.data.train if not is_table(spec) or parse_table_spec(spec).has_va]
    if not specs:
        typer.echo(f"no V-A labels among the training data: no V-A head saved (fit one with "
                   f"`python -m carl.va_head {model_dir}`)")
        return
    try:
        head = train_va_head(model_dir, cfg.data.data_dir, specs, dev=cfg.data.dev, split_seed=cfg.data.split_seed,
                             on_bad_row=cfg.data.on_bad_row)
    except TooFewTexts as exc:
        typer.echo(f"no V-A head saved: {exc}")
        return
    typer.echo(f"V-A head saved in {model_dir} (dev Pearson V/A: "
               f"{head.metrics.get('dev_pearson_v', float('nan')):.3f}/{head.metrics.get('dev_pearson_a', float('nan')):.3f}; "
               f"alpha chosen on {head.info['dev_source']})")


def _fit_emotion_head(cfg, model_dir: pathlib.Path, enabled: bool) -> None:
    """Ship an emotion head (emotion_head.json, the default label set) with the model: GoEmotions,
    a small seeded slice (TRAIN_MAX_TRAIN train / TRAIN_MAX_DEV dev texts) so training ends fast.
    A missing corpus only skips it, with the command that fits one later."""
    from carl.evaluation.head_fitting import (TRAIN_MAX_DEV, TRAIN_MAX_TRAIN, NoEmotionData,  # lazy: keeps carl --help fast
                                              describe_emotion_head, train_emotion_head)

    if not enabled:
        return
    try:
        head = train_emotion_head(model_dir, cfg.data.data_dir, max_train=TRAIN_MAX_TRAIN, max_dev=TRAIN_MAX_DEV)
    except NoEmotionData as exc:
        typer.echo(f"no emotion head saved: {exc} (fit one later with `carl fit-heads {model_dir}`)")
        return
    typer.echo(f"emotion head saved in {model_dir}: {describe_emotion_head(head)}")


EmotionHeadOpt = typer.Option(True, "--emotion-head/--no-emotion-head",
                              help="After training, fit emotion_head.json on a slice of GoEmotions (a few seconds "
                                   "to minutes; `carl fit-heads` fits one later).")


@app.command()
def train(
    config: Optional[pathlib.Path] = typer.Option(None, "--config", help="YAML config (e.g. configs/cpu.yaml)."),
    data: Optional[str] = DataOpt, model: Optional[str] = ModelOpt, max_steps: Optional[int] = StepsOpt,
    epochs: Optional[float] = EpochsOpt, batch_size: Optional[int] = BatchOpt, seed: Optional[int] = SeedOpt,
    output_dir: Optional[str] = typer.Option(None, "--output-dir"), resume: bool = ResumeOpt,
    data_dir: Optional[str] = DataDirOpt, on_bad_row: Optional[str] = BadRowOpt, set_: List[str] = SetOpt,
    recipe: Optional[str] = RecipeOpt, emotion_head: bool = EmotionHeadOpt,
):
    """Train CARL; writes config.yaml, metrics.jsonl, checkpoints/ and model/ to the output folder."""
    from carl.training.trainer import train as run_training  # lazy: keeps carl --help fast

    options = _train_options(data, model, max_steps, epochs, batch_size, seed, output_dir, resume, data_dir)
    cfg = _load_config(config, {**options, "data.on_bad_row": on_bad_row}, set_, recipe)
    result = run_training(cfg)
    if result.finished:
        _fit_va_head(cfg, result.model_dir)
        _fit_emotion_head(cfg, result.model_dir, emotion_head)
    chosen = (f"best dev V-A Pearson {result.best_dev:.3f} at step {result.best_step}" if result.best_dev is not None
              else "no dev check yet" if not result.finished
              else "no dev data: the last step; --set data.dev=[...] selects a step")
    typer.echo(f"model: {result.model_dir} ({chosen}); {result.steps} steps in {result.seconds:.0f}s")


@app.command()
def run(
    config: Optional[pathlib.Path] = typer.Option(None, "--config", help="Default: the packaged cpu preset."),
    output_dir: str = typer.Option("runs/main", "--output-dir"), data_dir: Optional[str] = DataDirOpt,
    resume: bool = ResumeOpt, max_steps: Optional[int] = StepsOpt, set_: List[str] = SetOpt,
    recipe: str = typer.Option(MAIN_RECIPE, "--recipe", help="Named configuration of CARL's parts ('paper', "
                                                             "'carl-plus', 'carl-plus-queue'); see docs/method.md."),
    emotion_head: bool = EmotionHeadOpt,
):
    """The main job: train CARL on EmoBank + Facebook-VA, then probe V-A for CARL beside the frozen encoder."""
    from carl.evaluation.tasks import run_tasks  # lazy: keeps carl --help fast
    from carl.training.trainer import train as run_training  # lazy: keeps carl --help fast

    cfg = _load_config(config or PACKAGED_CONFIGS / "cpu.yaml",
                       _train_options(None, None, max_steps, None, None, None, output_dir, resume, data_dir), set_,
                       recipe)
    out = pathlib.Path(cfg.train.output_dir)
    model_done = (out / "summary.json").is_file() and resume
    result = None if model_done else run_training(cfg)
    if result is not None:
        _fit_va_head(cfg, result.model_dir)
        _fit_emotion_head(cfg, result.model_dir, emotion_head)
    trained = "CARL" if recipe == "paper" else f"CARL ({recipe})"
    models = {f"frozen {cfg.model.name_or_path}": cfg.model.name_or_path, trained: str(out / "model")}
    data = resolve_data_dir(cfg.data.data_dir)
    runs = [(name, run_tasks(ref, ["emobank", "facebook-va"], data, split_seed=cfg.data.split_seed))
            for name, ref in models.items()]
    json_path, md_path, report = write_report(
        out / "comparison.json", runs, command=" ".join(["carl", *sys.argv[1:]]),
        arguments={"train_seconds": result.seconds if result else None, "config": cfg.to_dict()})
    typer.echo("\nV-A linear probe on test splits (ridge on frozen embeddings, alpha chosen on dev):\n")
    typer.echo(md_path.read_text())
    typer.echo(f"written: {md_path}, {json_path}")


def _comma_numbers(value: str | None, kind: type, option: str, expected: str) -> list | None:
    """A comma list option read as numbers of ``kind`` (None when not given); a bad item is a one-line error."""
    if not value:
        return None
    try:
        return [kind(item) for item in value.split(",") if item.strip()]
    except ValueError:
        raise CarlError(f"{option} {value!r}: expected {expected}") from None


@app.command()
def reproduce(
    preset: str = typer.Option("cpu", "--preset", help="'cpu' (embedded MiniLM, 2-core budget), 'cpu-long' (1,000 "
                                                       "steps), 'cpu-base' (all-mpnet-base-v2), 'cpu-union' (every "
                                                       "affect corpus, learning-rate trial first), "
                                                       "'cpu-union-labels' (label type x loss on those texts), "
                                                       "'cpu-union-2ep' (its three best rows, two epochs), "
                                                       "'cpu-headlines' (SemEval headlines, both human labels) or "
                                                       "'gpu' (all-mpnet-base-v2, full epochs, bf16); "
                                                       "docs/results.md."),
    output_dir: pathlib.Path = typer.Option(..., "--output-dir", help="Grid folder; re-run the same command to "
                                                                      "continue an unfinished grid."),
    variants: Optional[str] = typer.Option(None, "--variants", help="Comma list of variants (default: all; see "
                                                                    "docs/method.md)."),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="Comma list of training seeds (default 0,1,2)."),
    model: Optional[str] = ModelOpt, data_dir: Optional[str] = DataDirOpt, set_: List[str] = SetOpt,
    stop_after_minutes: Optional[float] = typer.Option(None, "--stop-after-minutes", help="Start no new run after "
                                                                                          "this many minutes."),
    keep_checkpoints: bool = typer.Option(False, "--keep-checkpoints", help="Keep each finished run's optimiser "
                                                                            "checkpoints (large)."),
    plots: bool = typer.Option(True, "--plots/--no-plots"),
    trials_only: bool = typer.Option(False, "--trials-only", help="Run the preset's learning-rate trials (dev "
                                                                  "only) and stop before the grid trains."),
    trial_rates: Optional[str] = typer.Option(None, "--trial-rates", help="Run only these of the preset's trial "
                                              "rates now (comma list, e.g. 1e-4); implies --trials-only."),
):
    """Train and evaluate CARL, its baselines and ablations over several seeds; write DIR/REPORT.md."""
    extra = {}
    for item in set_:
        key, sep, value = item.partition("=")
        if not sep:
            raise CarlError(f"--set {item!r}: expected KEY=VALUE")
        extra[key] = value
    seed_list = _comma_numbers(seeds, int, "--seeds", "integers, e.g. 0,1,2")
    rate_list = _comma_numbers(trial_rates, float, "--trial-rates", "numbers, e.g. 1e-4,3e-4")
    report = run_grid(preset, output_dir, variants=[v.strip() for v in variants.split(",") if v.strip()] if variants
                      else None, seeds=seed_list, model=model, data_dir=data_dir, extra=extra,
                      keep_checkpoints=keep_checkpoints, plots=plots, stop_after_minutes=stop_after_minutes,
                      trials_only=trials_only, trial_rates=rate_list)
    typer.echo(report.read_text())
    typer.echo(f"written: {report}")


@app.command()
def finetune(
    model: str = typer.Argument(..., help="Model folder, alias (minilm) or hub id; several: comma list of NAME=PATH."),
    task: str = typer.Option(..., "--task", help="A V-A regression or classification task (see `carl evaluate`)."),
    output: pathlib.Path = typer.Option(..., "--output", help="Report .json; the Markdown table goes beside it."),
    steps: int = typer.Option(300, "--steps"), batch_size: int = typer.Option(32, "--batch-size"),
    learning_rate: float = typer.Option(3e-5, "--learning-rate"),
    seed: List[int] = typer.Option([0], "--seed", help="Repeat for mean ± std over fine-tuning seeds."),
    max_train: Optional[int] = typer.Option(None, "--max-train"), max_eval: Optional[int] = typer.Option(None, "--max-eval"),
    data_dir: Optional[str] = DataDirOpt,
):
    """Fine-tune encoder + linear head on one task (dev-selected step, test metrics): the full fine-tuning protocol."""
    from carl.evaluation.finetune import finetune as run_finetune  # lazy: keeps carl --help fast

    if output.suffix.lower() != ".json":
        raise CarlError(f"--output {output}: give a .json path (the Markdown table is written beside it as .md)")

    task_name = table_task(task).name if is_table(task) else task  # a table: its path, as in evaluate
    runs = []
    for name, path in parse_models(model):
        for s in dict.fromkeys(seed):
            typer.echo(f"fine-tuning {name} on {task} (seed {s})...", err=True)
            metrics = run_finetune(path, task, data_dir, steps=steps, batch_size=batch_size,
                                   learning_rate=learning_rate, seed=s, max_train=max_train, max_eval=max_eval)
            meta = metrics.pop("_meta")
            runs.append((name, {task_name: metrics, "_meta": meta}))
    write_report(output, runs, arguments={"model": model, "task": task, "steps": steps, "batch_size": batch_size,
                                          "learning_rate": learning_rate, "seeds": seed, "max_train": max_train,
                                          "max_eval": max_eval, "protocol": "finetune"})
    typer.echo(markdown_table(runs))
    typer.echo(f"written: {output}, {output.with_suffix('.md')}")


@app.command()
def serve(
    model: str = typer.Argument(..., help="Model folder (what `carl embed` takes: OUTPUT/model, or minilm)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (127.0.0.1: this machine only)."),
    port: int = typer.Option(8000, "--port"),
    api_key: Optional[str] = typer.Option(None, "--api-key", envvar="CARL_API_KEY",
                                          help="Require 'Authorization: Bearer KEY' on every route but /health "
                                               "(or set CARL_API_KEY)."),
    backend: str = typer.Option("torch", "--backend", help="torch, or onnx (after `carl export-onnx MODEL`)."),
    onnx_file: Optional[str] = typer.Option(None, "--onnx-file", help="With --backend onnx: graph inside the folder "
                                                                      "(default onnx/model.onnx)."),
    affect: str = typer.Option("auto", "--affect", help="V-A routes: auto (when va_head.json exists), on (required), "
                                                        "off."),
    base_model: str = typer.Option("auto", "--base-model", help="Frozen encoder the explorer compares with: auto "
                                                                "(carl.json's base_model), none, or a folder/alias."),
    served_model_name: Optional[str] = typer.Option(None, "--served-model-name", help="Model id in responses."),
    normalize: bool = typer.Option(True, "--normalize/--no-normalize", help="L2-normalise /v1/embeddings vectors."),
    max_inputs: int = typer.Option(2048, "--max-inputs", help="Texts per request (more: 413)."),
    max_map_inputs: int = typer.Option(5000, "--max-map-inputs", help="Texts per explorer map request."),
    max_batch_tokens: int = typer.Option(8192, "--max-batch-tokens", help="Padded tokens per forward pass."),
    max_batch_texts: int = typer.Option(256, "--max-batch-texts", help="Texts per forward pass."),
    max_wait_ms: float = typer.Option(5.0, "--max-wait-ms", help="How long a request waits for others to share "
                                                                 "its forward pass."),
    max_queue: int = typer.Option(256, "--max-queue", help="Requests waiting for the model (more: 429)."),
    max_queue_tokens: Optional[int] = typer.Option(None, "--max-queue-tokens", help="Tokens waiting for the model "
                                                   "(more: 429). Default: room for two of the largest requests "
                                                   "(2 x max(--max-inputs, --max-map-inputs) x the model's maximum "
                                                   "tokens)."),
    request_timeout: float = typer.Option(300.0, "--request-timeout", help="Seconds a request may take (more: 504; "
                                                                           "its queued work is dropped)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for the model (default: torch's)."),
    max_text_chars: int = typer.Option(100_000, "--max-text-chars", help="Characters per text (more: 413)."),
    max_body_bytes: int = typer.Option(4 * 1024 * 1024, "--max-body-bytes", help="Bytes per request body, counted "
                                                                                 "as received (more: 413)."),
    limit_concurrency: int = typer.Option(512, "--limit-concurrency", help="Open connections + requests in "
                                                                           "progress (more: 503)."),
    timeout_keep_alive: int = typer.Option(5, "--timeout-keep-alive", help="Seconds an idle keep-alive "
                                                                           "connection stays open."),
    timeout_headers: float = typer.Option(10.0, "--timeout-headers", help="Seconds a connection has to send a "
                                                                          "request's headers."),
    timeout_body: float = typer.Option(60.0, "--timeout-body", help="Seconds a request's body may take to arrive "
                                                                    "(more: 408, connection closed)."),
    allowed_hosts: Optional[str] = typer.Option(None, "--allowed-hosts", help="Comma-separated Host names to "
                                                "answer besides loopback ones ('*': any); bound to 127.0.0.1, "
                                                "only localhost names are answered (DNS rebinding)."),
    log_level: str = typer.Option("info", "--log-level"),
):
    """Serve the model over HTTP: OpenAI/TEI embeddings, V-A affect, metrics, and the explorer page at /."""
    settings = ServeSettings(model=model, backend=backend, onnx_file=onnx_file, served_model_name=served_model_name,
                             api_key=api_key, affect=affect, base_model=base_model, normalize=normalize,
                             max_inputs=max_inputs, max_map_inputs=max_map_inputs, max_batch_tokens=max_batch_tokens,
                             max_batch_texts=max_batch_texts, max_wait_ms=max_wait_ms, max_queue=max_queue,
                             threads=threads, max_text_chars=max_text_chars, max_body_bytes=max_body_bytes,
                             limit_concurrency=limit_concurrency, timeout_keep_alive_s=timeout_keep_alive,
                             timeout_headers_s=timeout_headers, timeout_body_s=timeout_body,
                             max_queue_tokens=max_queue_tokens,
                             request_timeout_s=request_timeout,
                             allowed_hosts=tuple(h.strip() for h in allowed_hosts.split(",") if h.strip())
                             if allowed_hosts else None)
    run_server(settings, host=host, port=port, log_level=log_level)


def _class_corpora(value: str) -> tuple[str, ...]:
    """``--class-corpora``: a comma list of corpus names, or 'none'."""
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    if names == ("none",):
        return ()
    unknown = [name for name in names if name not in known_corpora()]
    if unknown or not names:
        raise CarlError(f"--class-corpora {value!r}: unknown corpus {', '.join(unknown) or '(none given)'}; give emotion "
                        "corpora such as carer,goemotions-ekman (see `carl data list`), or 'none'")
    return names


@app.command("fit-heads")
def fit_heads(
    model: str = typer.Argument(..., help="Model folder: what `carl train` wrote (OUTPUT/model), or any "
                                          "sentence-transformers folder (e.g. a frozen encoder's)."),
    emotions: str = typer.Option("ekman", "--emotions", help="Emotion label set: ekman (Ekman's 6 + neutral, "
                                                             "single-label) or goemotions (28 labels, multi-label)."),
    no_emotions: bool = typer.Option(False, "--no-emotions", help="Fit no emotion head."),
    no_va: bool = typer.Option(False, "--no-va", help="Fit no V-A head (va_head.json)."),
    max_train: int = typer.Option(8000, "--max-train", help="GoEmotions train texts the emotion head is fitted on "
                                                            "(seeded subsample of 43,410)."),
    max_dev: Optional[int] = typer.Option(None, "--max-dev", help="GoEmotions dev texts that choose C and the "
                                                                  "thresholds (default: all 5,426)."),
    class_corpora: str = typer.Option("none", "--class-corpora",
                                      help="Emotion corpora whose texts join the V-A head's fit at a weight chosen on "
                                           "dev, e.g. carer,goemotions-ekman ('none': EmoBank + Facebook-VA only).",
                                      show_default=True),
    data_dir: Optional[str] = DataDirOpt,
    batch_size: int = typer.Option(64, "--batch-size"),
):
    """Fit the heads a model folder ships: va_head.json (EmoBank + Facebook-VA) and emotion_head.json (GoEmotions)."""
    from carl.evaluation.head_fitting import describe_emotion_head, train_emotion_head, train_va_head  # lazy: keeps carl --help fast
    from carl.inference import load  # lazy: keeps carl --help fast
    from carl.inference.heads.emotions import check_label_set  # lazy: keeps carl --help fast

    folder = pathlib.Path(model)
    if not folder.is_dir():
        hint = (f" ({model} names a packaged encoder: copy its folder {resolve_model_path(model)} first, so the heads "
                "are not written into the installed package)" if resolve_model_path(model) != model else "")
        raise CarlError(f"{model} is not a model folder; give a sentence-transformers folder (e.g. OUTPUT/model)"
                        + hint)
    if not no_emotions:
        check_label_set(emotions)
    if no_va and no_emotions:
        raise CarlError("--no-va with --no-emotions fits nothing")
    embedder = load(folder)
    if not no_va:
        head = train_va_head(folder, data_dir, batch_size=batch_size, class_corpora=_class_corpora(class_corpora))
        typer.echo(f"V-A head saved in {folder} (alpha {head.alpha:g}, dev Pearson V/A "
                   f"{head.metrics.get('dev_pearson_v', float('nan')):.3f}/{head.metrics.get('dev_pearson_a', float('nan')):.3f})")
    if not no_emotions:
        head = train_emotion_head(folder, data_dir, emotions, max_train=max_train, max_dev=max_dev,
                                  batch_size=batch_size, embedder=embedder)
        typer.echo(f"emotion head saved in {folder}: {describe_emotion_head(head)}")


@app.command("export-onnx")
def export_onnx_command(
    model: str = typer.Argument(..., help="Model folder written by `carl train` (OUTPUT/model)."),
    quantize: Optional[str] = typer.Option(None, "--quantize", help="Also write an int8 copy (dynamic "
                                                                    "quantisation): --quantize int8."),
):
    """Write MODEL/onnx/model.onnx (and model_qint8.onnx) for `--backend onnx`."""
    folder = pathlib.Path(resolve_model_path(model))
    if not folder.is_dir():
        raise CarlError(f"{model} is not a model folder; give the folder that `carl train` wrote (OUTPUT/model)")
    for path in export_onnx(folder, quantize=quantize):
        rel = path.relative_to(folder)
        typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): use it with --backend onnx"
                   + (f" --onnx-file {rel}" if rel.name != "model.onnx" else ""))


@data_app.command("list")
def data_list(data_dir: Optional[str] = DataDirOpt):
    """Known corpora, whether each is present in the data folder, and its licence."""
    folder = resolve_data_dir(data_dir)
    typer.echo(f"data folder: {folder}")
    for name, present, licence, description in cli_list_rows(folder):
        typer.echo(f"  {'present' if present else 'missing':<8} {name:<18} {description}  [{licence}]")


@data_app.command("fetch")
def data_fetch(names: List[str] = typer.Argument(..., help="Corpus names (see `carl data list`)."),
               data_dir: Optional[str] = DataDirOpt,
               base_url: Optional[str] = typer.Option(None, "--base-url", help="Mirror to download from instead of the canonical sources.")):
    """Download openly licensed corpora into the data folder (checksummed, atomic)."""
    paths = fetch(names, resolve_data_dir(data_dir), base_url=base_url)
    typer.echo(f"{len(paths)} files ready")


from carl.evaluation.commands import evaluate_command  # noqa: E402  (light imports only)
from carl.scoring.commands import embed_command, predict_va_command  # noqa: E402

app.command("evaluate", help="Probe a model (or several) on the affective and sentiment tasks; JSON + Markdown report.")(evaluate_command)
app.command("embed", help="Embed texts with a trained model: streaming, chunks committed as they finish, "
                         "--resume, --workers, --engine ray (docs/scoring.md).")(embed_command)
app.command("predict-va", help="Valence and arousal per text, from the V-A head saved with the model: streaming, "
                              "resumable, multi-process or on Ray (docs/scoring.md).")(predict_va_command)

from carl.evaluation.va_plot_command import plot_va_command  # noqa: E402  (light imports only)

app.command("plot-va", help="Picture a scored table: V-A density per group (--by) or over time (--time).")(plot_va_command)


@app.command("version")
def version_command():
    """Print the versions of carl, Python, torch, transformers, sentence-transformers and typer (for bug reports)."""
    typer.echo(version_report())


def main() -> None:
    logging.basicConfig(level=os.environ.get("CARL_LOG_LEVEL", "WARNING"), format="%(levelname)s %(name)s: %(message)s")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # per-file "Loading weights" bars drown carl's own progress
    sys.exit(execute(app))


if __name__ == "__main__":
    main()
