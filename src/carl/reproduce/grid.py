"""The grid's jobs: the plan of runs for a preset, and the jobs that train, evaluate and fine-tune one model each
(resumable: a finished result is never recomputed). What the grid contains (variants, tasks, presets) is
carl.reproduce.presets."""

from __future__ import annotations

import gzip
import json
import logging
import pathlib
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from carl.config import CarlConfig
from carl.errors import ConfigError
from carl.evaluation.report import _jsonable, machine_label
from carl.io import atomic_write
from carl.portable import portable
from carl.reproduce.presets import FROZEN, PACKAGED_CONFIGS, Preset, VARIANTS, VARIANT_BY_NAME, Variant

log = logging.getLogger("carl.reproduce")


@dataclass
class Job:
    variant: Variant
    seed: int
    config: CarlConfig
    run_dir: pathlib.Path
    eval_path: pathlib.Path


def plan(preset: Preset, out: pathlib.Path, *, variants: Sequence[str] | None = None,
         seeds: Sequence[int] | None = None, model: str | None = None, data_dir: str | None = None,
         extra: Mapping[str, object] | None = None, learning_rates: Mapping[str, float] | None = None,
         ) -> tuple[CarlConfig, list[Job]]:
    """The base config and the jobs, seed-major (every variant's seed 0 first), so that a
    partial grid already holds one complete comparison. ``learning_rates``: variant name -> encoder
    learning rate, applied over the variant's own settings (a learning-rate trial's choice)."""
    unknown = [v for v in variants or [] if v not in VARIANT_BY_NAME]
    if unknown:
        raise ConfigError(f"unknown variant(s) {unknown}; known: {', '.join(VARIANT_BY_NAME)}")
    variants = variants or preset.variants
    chosen = [VARIANT_BY_NAME[v] for v in variants] if variants else VARIANTS
    base = CarlConfig.load(PACKAGED_CONFIGS / preset.config).override(dict(preset.overrides))
    common = {k: v for k, v in {"model.name_or_path": model, "data.data_dir": data_dir}.items() if v is not None}
    base = base.override({**common, **dict(extra or {})}).validate()
    jobs = []
    for seed in seeds if seeds is not None else preset.seeds:
        for variant in chosen:
            run_dir = out / "runs" / variant.name / f"seed{seed}"
            rates = {**preset.learning_rates, **(learning_rates or {})}
            lr = {"train.learning_rate": rates[variant.name]} if variant.name in rates else {}
            cfg = base.override({**variant.overrides, **lr, "train.seed": seed, "train.output_dir": str(run_dir)})
            jobs.append(Job(variant, seed, cfg.validate(), run_dir, out / "evals" / variant.name / f"seed{seed}.json"))
    return base, jobs


def _comparable(cfg: CarlConfig) -> dict:
    raw = cfg.to_dict()
    raw["train"] = {k: v for k, v in raw["train"].items() if k not in ("resume", "stop_after")}
    return raw


def train_job(job: Job, *, keep_checkpoints: bool = False):
    """Train (or resume) one run unless it finished already. Returns seconds spent training now."""
    from carl.training import checkpoint as ckpt  # lazy: keeps carl --help fast
    from carl.training.trainer import train  # lazy: keeps carl --help fast

    if (job.run_dir / "summary.json").is_file():
        return 0.0
    saved = job.run_dir / "config.yaml"
    if saved.is_file() and _comparable(CarlConfig.load(saved)) != _comparable(job.config):
        raise ConfigError(f"{saved} was written by a different configuration than this grid asks for; use another "
                          "--output-dir (or delete that run) instead of mixing settings in one report")
    resume = bool(ckpt.complete_checkpoints(job.run_dir / "checkpoints"))
    cfg = job.config.override({"train.resume": resume})
    started = time.time()
    result = train(cfg)
    if result.finished and not keep_checkpoints:
        # The run is cached by model/ + summary.json; optimiser states and the last-step copy
        # would cost ~4x the model's size on disk for every run of the grid.
        shutil.rmtree(job.run_dir / "checkpoints", ignore_errors=True)
        shutil.rmtree(job.run_dir / "last-model", ignore_errors=True)
    return time.time() - started


def evaluate_job(model_ref: str, eval_path: pathlib.Path, preset: Preset, data_dir: str | None, split_seed: int,
                 info: Mapping) -> dict:
    """Evaluate one model unless its result file exists; returns the stored record.

    Every probe task's test predictions go beside the record (:func:`predictions_path`), so gaps between
    variants can be given with test sampling counted (:mod:`carl.evaluation.paired_bootstrap`) after
    the model folders are gone. The sidecar is written first: a record never exists without it.
    """
    from carl.evaluation.tasks import run_tasks  # lazy: keeps carl --help fast

    if eval_path.is_file():
        return json.loads(eval_path.read_text())
    result = run_tasks(model_ref, preset.tasks, data_dir, seed=preset.eval_seed, max_train=preset.max_train,
                       max_eval=preset.max_eval, split_seed=split_seed, keep_predictions=True)
    rows = {task: detail.pop("test_rows") for task, detail in result["_meta"]["details"].items()
            if "test_rows" in detail}
    if rows:
        write_predictions(eval_path, rows)
    return _write_record(eval_path, {**info, "result": result})


def write_predictions(eval_path: pathlib.Path, rows: Mapping) -> None:
    """Store ``rows`` ({task: test rows}) beside ``eval_path`` (:func:`predictions_path`), atomically."""
    text = json.dumps(rows, separators=(",", ":"), allow_nan=False).encode()
    # mtime=0: the same predictions give the same bytes, so a rerun does not show as a change in git
    atomic_write(predictions_path(eval_path), lambda tmp: tmp.write_bytes(gzip.compress(text, mtime=0)))


def predictions_path(eval_path: pathlib.Path) -> pathlib.Path:
    """``evals/VARIANT/seedS.json`` -> ``evals/VARIANT/seedS.test-rows.json.gz``: per probe task, each test
    row's id, gold label and prediction (``run_tasks(keep_predictions=True)``)."""
    return eval_path.with_name(eval_path.stem + ".test-rows.json.gz")


def read_predictions(eval_path: pathlib.Path) -> dict | None:
    """The test rows stored beside ``eval_path`` by :func:`evaluate_job`, or None for a record without them
    (evaluated before they were kept)."""
    path = predictions_path(eval_path)
    return json.loads(gzip.decompress(path.read_bytes())) if path.is_file() else None


EXACT_PROBE_TOLERANCE = 1e-9
"""probes_differ's default: frozen dev scores must agree to rounding (one machine, one library set)."""


def probes_differ(grids: Sequence[pathlib.Path], tolerance: float = EXACT_PROBE_TOLERANCE) -> str | None:
    """Why grids cannot be compared row against row (their frozen encoder's probes scored differently on
    some task's dev split: they saw other texts or settings), or None when every grid's frozen evaluation
    agrees. Reads dev scores and, with a ``tolerance`` above the default, the test rows' text ids.

    ``tolerance``: how far a frozen dev score may differ. The same texts scored on another CPU or library
    version give V-A probes equal to ~1e-7 but logistic probes up to ~5e-3 apart (results/union-2ep-cpu), so
    grids evaluated on different machines need a looser one; then every task's test-row ids must be equal
    instead, which shows that the probes saw the same texts."""
    loose = tolerance > EXACT_PROBE_TOLERANCE  # only a loose comparison reads the texts' ids (a gzip per grid)
    scores, ids = [], []
    for grid in grids:
        path = grid / "evals" / FROZEN / "seed0.json"
        if not path.is_file():
            return f"{path} is missing: without the frozen encoder's scores the grids' probes cannot be compared"
        details = json.loads(path.read_text())["result"]["_meta"]["details"]
        scores.append({task: detail["dev_scores"] for task, detail in details.items() if "dev_scores" in detail})
        ids.append({task: rows["ids"] for task, rows in (read_predictions(path) or {}).items()} if loose else {})
    for grid, other, other_ids in zip(grids[1:], scores[1:], ids[1:]):
        differ = [task for task in set(scores[0]) | set(other)
                  if task not in scores[0] or task not in other or scores[0][task].keys() != other[task].keys()
                  or any(abs(scores[0][task][k] - other[task][k]) > tolerance for k in other[task])]
        if differ:
            worst = max((abs(scores[0][t][k] - other[t][k]) for t in differ if t in scores[0] and t in other
                         for k in other[t] if k in scores[0][t]), default=float("nan"))
            return (f"{grid} and {grids[0]}: the frozen encoder's scores differ on {', '.join(sorted(differ))} (by up "
                    f"to {worst:.2g}, tolerance {tolerance:g}), so their probes did not see the same texts or were "
                    "fitted on another machine; compare grids of one preset only (the same texts on another CPU or "
                    "library version differ by up to ~5e-3: allow that with a probe tolerance)")
        if loose and (not ids[0] or ids[0] != other_ids):
            return (f"{grid} and {grids[0]}: with a probe tolerance of {tolerance:g} the frozen encoder's test rows "
                    "must name the same texts, and " + ("one grid stores none" if not ids[0] or not other_ids else
                                                         "they differ"))
    return None


def _write_record(path: pathlib.Path, record: Mapping) -> dict:
    """Write one grid result as strict JSON, atomically (a killed sitting leaves no half file).
    The record names the machine it was produced on: a grid may be finished over sittings on
    different machines, and training times compare only within one."""
    record = portable(_jsonable({**record, "machine": record.get("machine") or machine_label()}))
    text = json.dumps(record, indent=1, allow_nan=False)
    atomic_write(path, lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))
    return record


def finetune_job(model_ref: str, path: pathlib.Path, preset: Preset, data_dir: str | None, split_seed: int,
                 seed: int, info: Mapping) -> dict:
    """Fine-tune one model on each of the preset's fine-tune tasks; write and return the record."""
    from carl.evaluation.finetune import finetune  # lazy: keeps carl --help fast

    result = {task: finetune(model_ref, task, data_dir, steps=preset.finetune_steps, seed=seed, split_seed=split_seed,
                             max_train=preset.max_train, max_eval=preset.max_eval)
              for task in preset.finetune_tasks}
    return _write_record(path, {**info, "seed": seed, "result": result})


def finetune_path(out: pathlib.Path, variant: str, seed: int) -> pathlib.Path:
    return out / "finetune" / variant / f"seed{seed}.json"


def stale_finetune(record: Mapping, preset: Preset) -> str | None:
    """Why a stored fine-tune ``record`` no longer matches the preset, or None if it does."""
    from carl.evaluation.finetune import PROTOCOL_VERSION  # lazy: keeps carl --help fast

    result = record["result"]
    if set(result) != set(preset.finetune_tasks):
        return f"its tasks {sorted(result)} are not the preset's {sorted(preset.finetune_tasks)}"
    for task, metrics in result.items():
        meta = metrics.get("_meta", {})
        steps, version = meta.get("steps"), meta.get("protocol_version", 1)
        if steps != preset.finetune_steps:
            return f"{task} ran {steps} steps, the preset asks for {preset.finetune_steps}"
        if version != PROTOCOL_VERSION:
            return f"{task} used fine-tune protocol version {version}, not {PROTOCOL_VERSION}"
    return None


def finetune_stage(out: pathlib.Path, preset: Preset, base: CarlConfig, jobs: Sequence[Job], data_dir: str | None,
                   commit: str, *, keep_checkpoints: bool, out_of_time) -> None:
    """The fine-tuning protocol for the frozen encoder and the fine-tune variants, per seed.

    A trained model whose folder is gone (the grid keeps only summaries in git) is trained
    again from scratch with the same seed first.
    """
    if not preset.finetune_tasks:
        return
    seeds = sorted({j.seed for j in jobs})
    targets = [(FROZEN, s, base.model.name_or_path, None) for s in seeds]
    targets += [(j.variant.name, j.seed, str(j.run_dir / "model"), j) for j in jobs
                if j.variant.name in preset.finetune_variants]
    for name, seed, model_ref, job in sorted(targets, key=lambda t: t[1]):
        path = finetune_path(out, name, seed)
        if path.is_file():
            reason = stale_finetune(json.loads(path.read_text()), preset)
            if reason is None:
                continue
            log.warning("%s is stale (%s); fine-tuning again", path, reason)
        if out_of_time():
            return
        log.warning("grid: fine-tuning %s seed %d on %s", name, seed, ", ".join(preset.finetune_tasks))
        if job is not None and not (job.run_dir / "model").is_dir():
            log.warning("%s has no model folder; training it again with seed %d", job.run_dir, seed)
            (job.run_dir / "summary.json").unlink(missing_ok=True)
            train_job(job, keep_checkpoints=keep_checkpoints)
        finetune_job(model_ref, path, preset, data_dir, base.data.split_seed, seed, {"variant": name, "commit": commit})


def git_commit(root: pathlib.Path | None = None) -> str:
    """Short commit of the code checkout, flagged when code (not results) has uncommitted changes."""
    try:
        root = root or pathlib.Path(__file__).resolve().parents[3]
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10)
        if rev.returncode != 0:
            return "unknown"
        # Results folders (this grid's own output included) are not code: only other changes
        # make the recorded commit inexact.
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results"],
                               cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
        return rev.stdout.strip() + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
