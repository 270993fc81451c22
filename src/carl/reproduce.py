"""``carl reproduce``: CARL against its baselines and ablations, several seeds, one report.

The grid (:data:`VARIANTS`) trains every configuration with the same encoder, data, batches,
optimiser and step budget (the preset), evaluates each trained model on every evaluation task
(:mod:`carl.evaluation.tasks`) and writes ``DIR/REPORT.md`` (mean ± std over training seeds)
with plots. It is resumable at every level: a finished run (``summary.json``) and a finished
evaluation (``evals/VARIANT/seedS.json``) are never recomputed, and an interrupted training
run continues from its last checkpoint. So the grid can be completed over several sittings
by re-running the same command.

Layout of DIR::

    runs/VARIANT/seedS/     the training run (config.yaml, metrics.jsonl, summary.json, model/)
    evals/VARIANT/seedS.json  its evaluation (every metric, with _meta)
    evals/frozen/seed0.json   the frozen encoder (no training: one evaluation)
    finetune/VARIANT/seedS.json  the fine-tuning protocol on the preset's tasks (frozen encoder
                              and the preset's fine-tune variants; seed S fine-tunes with seed S)
    REPORT.md, report.json, *.png
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import math
import pathlib
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from carl.config import RECIPES, CarlConfig
from carl.errors import ConfigError

log = logging.getLogger("carl.reproduce")

PACKAGED_CONFIGS = pathlib.Path(__file__).parent / "configs"
FROZEN = "frozen"
FROZEN_LABEL = "frozen encoder"


@dataclass(frozen=True)
class Variant:
    """One configuration of the grid: a name (folder), a label (report column), its group and
    the settings it changes relative to the preset."""

    name: str
    label: str
    group: str
    overrides: Mapping[str, object]
    description: str


VARIANTS: list[Variant] = [
    Variant("carl", "CARL", "CARL", {}, "MCCL + PTD with continuous V-A labels (the method)"),
    Variant("carl-plus", "CARL+ (recipe)", "recipe", RECIPES["carl-plus"],
            "the project's recipe (`--recipe carl-plus`): MCCL only, distance kernel on V-A labels, contrast on the "
            "pooled embeddings, online target under stop-gradient (docs/method.md)"),
    Variant("supervised-ce", "supervised CE", "baseline",
            {"objective.name": "supervised", "data.discrete_labels": "va_grid"},
            "cross-entropy fine-tuning on the 3x3 V-A grid classes"),
    Variant("simcse", "SimCSE", "baseline", {"objective.name": "simcse"},
            "unsupervised SimCSE, dropout views (sentence-transformers MultipleNegativesRankingLoss)"),
    Variant("supcon", "SupCon", "baseline", {"objective.name": "supcon", "data.discrete_labels": "va_grid"},
            "supervised contrastive on the 3x3 V-A grid classes (pytorch-metric-learning SupConLoss)"),
    # The strongest baseline with the learning rate its dev trial chose (the recipe's trials: 3e-5, 1e-4).
    Variant("supcon-lr1e-4", "SupCon (lr 1e-4)", "baseline",
            {"objective.name": "supcon", "data.discrete_labels": "va_grid", "train.learning_rate": 1e-4},
            "SupCon with encoder learning rate 1e-4, the better of its two dev trials (results/recipe-dev)"),
    Variant("no-ptd", "CARL w/o PTD", "ablation", {"ptd.enabled": False}, "MCCL only"),
    Variant("no-mccl", "CARL w/o MCCL", "ablation", {"mccl.enabled": False},
            "PTD only (MCCL still gives the saliency, but is not trained)"),
    Variant("online-only", "CARL online-only", "ablation", {"mccl.momentum": False},
            "no momentum encoder: the target is the online branch under stop-gradient"),
    Variant("one-hot", "CARL one-hot labels", "ablation",
            {"mccl.label_mode": "one_hot", "data.discrete_labels": "va_grid"},
            "MCCL with one-hot 3x3 V-A grid classes instead of continuous V-A"),
    Variant("random-tokens", "CARL random tokens", "ablation", {"ptd.token_selection": "random"},
            "PTD perturbs random tokens instead of the most salient"),
    *[Variant(f"eps-rel-{eps:g}", f"CARL ε={eps:g}·‖e‖", "sweep", {"ptd.relative_epsilon": True, "ptd.epsilon": eps},
              f"PGD radius {eps:g} times each token embedding's norm (default: absolute 5e-9)")
      for eps in (0.01, 0.1, 1.0)],
    *[Variant(f"topk-{k:g}", f"CARL top-{k:g}", "sweep", {"ptd.top_fraction": k},
              f"PTD perturbs the top {k:.0%} salient tokens (default 10%)")
      for k in (0.3, 0.5)],
    # At the cpu budget (200 steps) the default 0.9996 moves the target at most ~8 % of the way to
    # the online weights; 0.99 moves it most of the way, between the default and online-only.
    Variant("momentum-0.99", "CARL momentum 0.99", "sweep", {"mccl.base_momentum": 0.99},
            "EMA target with base momentum 0.99 instead of 0.9996 (cosine schedule to 1 either way)"),
]
VARIANT_BY_NAME = {v.name: v for v in VARIANTS}

#: One metric per task for the summary table (the JSON and the detail tables keep them all).
HEADLINE: dict[str, str] = {
    "emobank": "pearson_mean", "facebook-va": "pearson_mean", "goemotions-10": "macro_f1",
    "goemotions-ekman": "macro_f1", "dailydialog": "macro_f1_without_no_emotion", "tec": "macro_f1",
    "carer": "macro_f1", "carer-mteb": "accuracy", "sst2": "accuracy", "sst5": "accuracy", "mr": "accuracy",
    "cr": "accuracy", "mpqa": "accuracy",
}
GEOMETRY = ("alignment_va", "uniformity_emobank")


@dataclass
class Preset:
    """Training budget and evaluation settings shared by every variant."""

    config: str
    """Packaged YAML (src/carl/configs) the variants start from."""
    overrides: dict = field(default_factory=dict)
    seeds: tuple[int, ...] = (0, 1, 2)
    tasks: str = "all"
    max_train: int | None = None
    max_eval: int | None = None
    eval_seed: int = 0
    """Probe and subsample seed, the same for every model, so that all models are scored on
    the same test texts and seeds vary only the training."""
    finetune_tasks: tuple[str, ...] = ()
    """Tasks scored with the fine-tuning protocol too (``carl finetune``), after the probes."""
    finetune_variants: tuple[str, ...] = ("carl",)
    """Trained variants fine-tuned beside the frozen encoder."""
    finetune_steps: int = 300
    variants: tuple[str, ...] | None = None
    """The variants this preset trains by default (None: every variant of :data:`VARIANTS`)."""


#: The budget study's variants: the method, its best ablations, the recipe and every baseline.
BUDGET_STUDY_VARIANTS = ("carl-plus", "supcon-lr1e-4", "carl", "online-only", "supcon", "supervised-ce", "simcse",
                         "no-ptd")

PRESETS: dict[str, Preset] = {
    # 2-core CPU: ~200 steps of batch 32 (0.6 epoch of EmoBank + Facebook-VA); probes on at
    # most 1000 training and 1000 dev/test texts per task.
    # Fine-tuning protocol: frozen MiniLM vs CARL on one V-A and one emotion task, 300 steps
    # (~10 epochs of the 1000 subsampled texts; at 150 every run still improved at its last step).
    "cpu": Preset("cpu.yaml", {"train.max_steps": 200, "train.eval_every": 100, "train.save_every": 100},
                  max_train=1000, max_eval=1000, finetune_tasks=("emobank", "carer"), finetune_steps=300,
                  finetune_variants=("carl", "carl-plus")),
    # Budget study on a 2-core CPU: 1000 steps of batch 32 (~3 epochs of EmoBank + Facebook-VA train),
    # dev checks every 100 steps; probes on up to 4000 train / 2000 dev+test texts per task (4x / 2x
    # the cpu preset's, so that probe noise stays below the gaps between methods).
    "cpu-long": Preset("cpu.yaml", {"train.max_steps": 1000, "train.eval_every": 100, "train.save_every": 100},
                       max_train=4000, max_eval=2000, variants=BUDGET_STUDY_VARIANTS),
    # Base-size check on a 2-core CPU: all-mpnet-base-v2 (install it with `python ../shared/tools/encoders.py
    # install`), one epoch of batch 32 (~325 steps, ~25 min a run for CARL), one seed, the cpu preset's probes.
    "cpu-base": Preset("cpu.yaml", {"model.name_or_path": "mpnet", "train.epochs": 1, "train.max_steps": None,
                                    "train.eval_every": 100, "train.save_every": 100},
                       seeds=(0,), max_train=1000, max_eval=1000, variants=("carl-plus", "supcon-lr1e-4", "carl")),
    # GPU: all-mpnet-base-v2, 3 epochs, bf16, full evaluation splits.
    "gpu": Preset("gpu.yaml", finetune_tasks=("emobank", "facebook-va", "carer", "goemotions-10"),
                  finetune_steps=1000),
}


@dataclass
class Job:
    variant: Variant
    seed: int
    config: CarlConfig
    run_dir: pathlib.Path
    eval_path: pathlib.Path


def plan(preset: Preset, out: pathlib.Path, *, variants: Sequence[str] | None = None,
         seeds: Sequence[int] | None = None, model: str | None = None, data_dir: str | None = None,
         extra: Mapping[str, object] | None = None) -> tuple[CarlConfig, list[Job]]:
    """The base config and the jobs, seed-major (every variant's seed 0 first), so that a
    partial grid already holds one complete comparison."""
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
            cfg = base.override({**variant.overrides, "train.seed": seed, "train.output_dir": str(run_dir)})
            jobs.append(Job(variant, seed, cfg.validate(), run_dir, out / "evals" / variant.name / f"seed{seed}.json"))
    return base, jobs


def _comparable(cfg: CarlConfig) -> dict:
    raw = cfg.to_dict()
    raw["train"] = {k: v for k, v in raw["train"].items() if k not in ("resume", "stop_after")}
    return raw


def train_job(job: Job, *, keep_checkpoints: bool = False):
    """Train (or resume) one run unless it finished already. Returns seconds spent training now."""
    from carl.training import checkpoint as ckpt
    from carl.training.trainer import train

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
    """Evaluate one model unless its result file exists; returns the stored record."""
    from carl.evaluation.tasks import run_tasks

    if eval_path.is_file():
        return json.loads(eval_path.read_text())
    result = run_tasks(model_ref, preset.tasks, data_dir, seed=preset.eval_seed, max_train=preset.max_train,
                       max_eval=preset.max_eval, split_seed=split_seed)
    return _write_record(eval_path, {**info, "result": result})


def _write_record(path: pathlib.Path, record: Mapping) -> dict:
    """Write one grid result as strict JSON, atomically (a killed sitting leaves no half file)."""
    from carl.evaluation.report import _jsonable
    from carl.io import atomic_write

    record = _jsonable(dict(record))
    text = json.dumps(record, indent=1, allow_nan=False)
    atomic_write(path, lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))
    return record


def finetune_job(model_ref: str, path: pathlib.Path, preset: Preset, data_dir: str | None, split_seed: int,
                 seed: int, info: Mapping) -> dict:
    """Fine-tune one model on each of the preset's fine-tune tasks; write and return the record."""
    from carl.evaluation.finetune import finetune

    result = {task: finetune(model_ref, task, data_dir, steps=preset.finetune_steps, seed=seed, split_seed=split_seed,
                             max_train=preset.max_train, max_eval=preset.max_eval)
              for task in preset.finetune_tasks}
    return _write_record(path, {**info, "seed": seed, "result": result})


def finetune_path(out: pathlib.Path, variant: str, seed: int) -> pathlib.Path:
    return out / "finetune" / variant / f"seed{seed}.json"


def stale_finetune(record: Mapping, preset: Preset) -> str | None:
    """Why a stored fine-tune ``record`` no longer matches the preset, or None if it does."""
    from carl.evaluation.finetune import PROTOCOL_VERSION

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


def reproduce(preset_name: str, out: str | pathlib.Path, *, variants: Sequence[str] | None = None,
              seeds: Sequence[int] | None = None, model: str | None = None, data_dir: str | None = None,
              extra: Mapping[str, object] | None = None, keep_checkpoints: bool = False, plots: bool = True,
              command: str | None = None, stop_after_minutes: float | None = None) -> pathlib.Path:
    """Run (or continue) the grid and write DIR/REPORT.md after every finished job.

    ``stop_after_minutes``: start no new job after this long (a sitting's budget); re-run
    the same command to continue.
    """
    if preset_name not in PRESETS:
        raise ConfigError(f"unknown preset {preset_name!r}; presets: {', '.join(PRESETS)}")
    preset = PRESETS[preset_name]
    out = pathlib.Path(out)
    base, jobs = plan(preset, out, variants=variants, seeds=seeds, model=model, data_dir=data_dir, extra=extra)
    out.mkdir(parents=True, exist_ok=True)
    command = command or " ".join(["carl", *sys.argv[1:]])
    base.save(out / "base-config.yaml")
    started = time.time()
    commit = git_commit()  # the code this sitting runs; stored with every result it produces
    frozen_path = out / "evals" / FROZEN / "seed0.json"
    evaluate_job(base.model.name_or_path, frozen_path, preset, data_dir, base.data.split_seed,
                 {"variant": FROZEN, "seed": None, "commit": commit})
    write_grid_report(out, preset_name, preset, base, jobs, command, plots=False)

    def out_of_time() -> bool:
        if stop_after_minutes is not None and (time.time() - started) / 60 > stop_after_minutes:
            log.warning("stopping: the sitting's budget of %.0f minutes is spent; re-run to continue",
                        stop_after_minutes)
            return True
        return False

    for job in jobs:
        if job.eval_path.is_file():
            continue
        if out_of_time():
            break
        log.warning("grid: %s seed %d", job.variant.name, job.seed)
        train_job(job, keep_checkpoints=keep_checkpoints)
        summary = json.loads((job.run_dir / "summary.json").read_text())
        evaluate_job(str(job.run_dir / "model"), job.eval_path, preset, data_dir, job.config.data.split_seed,
                     {"variant": job.variant.name, "seed": job.seed, "commit": commit, "train_seconds": summary.get("seconds"),
                      "best_step": summary.get("best_step"), "best_dev_va_pearson": summary.get("best_dev_va_pearson")})
        write_grid_report(out, preset_name, preset, base, jobs, command, plots=False)
    if all(job.eval_path.is_file() for job in jobs):  # the probes of the whole grid come first
        finetune_stage(out, preset, base, jobs, data_dir, commit, keep_checkpoints=keep_checkpoints,
                       out_of_time=out_of_time)
    return write_grid_report(out, preset_name, preset, base, jobs, command, plots=plots)


# ------------------------------------------------------------------ report


def git_commit(root: pathlib.Path | None = None) -> str:
    """Short commit of the code checkout, flagged when code (not results) has uncommitted changes."""
    try:
        root = root or pathlib.Path(__file__).resolve().parents[2]
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


def collect(out: pathlib.Path, jobs: Sequence[Job]) -> list[tuple[str, dict, dict]]:
    """(label, result, record) of every finished evaluation, frozen first, in grid order."""
    found = []
    frozen = out / "evals" / FROZEN / "seed0.json"
    if frozen.is_file():
        record = json.loads(frozen.read_text())
        found.append((FROZEN_LABEL, record["result"], record))
    order = {v.name: i for i, v in enumerate(VARIANTS)}
    for job in sorted(jobs, key=lambda j: (order[j.variant.name], j.seed)):
        if job.eval_path.is_file():
            record = json.loads(job.eval_path.read_text())
            found.append((job.variant.label, record["result"], record))
    return found


def _mean_std(values: Sequence[float | None]) -> tuple[float, float | None] | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    mean = sum(values) / len(values)
    if len(values) == 1:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _stat_cell(values: Sequence[float], digits: int = 3) -> str:
    stats = _mean_std(values)
    if stats is None:
        return "–"
    mean, std = stats
    return f"{mean:.{digits}f}" if std is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


def headline_table(found: Sequence[tuple[str, dict, dict]], groups: Mapping[str, str]) -> str:
    """Rows: variants; columns: one headline metric per task (mean ± std over training seeds)."""
    tasks = [t for t in HEADLINE if any(t in res for _, res, _ in found)]
    geometry = any("geometry" in res for _, res, _ in found)
    labels = list(dict.fromkeys(label for label, _, _ in found))
    header = ["variant", "group", "seeds"] + [f"{t} {HEADLINE[t]}" for t in tasks]
    if geometry:
        header += [f"geometry {m} ↓" for m in GEOMETRY]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label in labels:
        results = [res for lab, res, _ in found if lab == label]
        cells = [label, groups.get(label, ""), str(len(results))]
        cells += [_stat_cell([r[t].get(HEADLINE[t]) for r in results if t in r]) for t in tasks]
        if geometry:
            cells += [_stat_cell([r["geometry"].get(m) for r in results if "geometry" in r]) for m in GEOMETRY]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def versus_table(found: Sequence[tuple[str, dict, dict]], reference: str) -> str:
    """Each variant against ``reference`` on the headline metrics (all higher-is-better).

    ``above`` / ``below``: tasks whose mean is higher / lower than the reference's mean.
    ``clearly``: the gap exceeds the combined sample std, sqrt(s1² + s2²) (needs ≥ 2 seeds on
    both sides; with one seed, no gap counts as clear). Δ: variant mean minus reference mean.
    """
    by_label: dict[str, list[dict]] = {}
    for label, res, _ in found:
        by_label.setdefault(label, []).append(res)
    if reference not in by_label:
        return ""
    tasks = [t for t in HEADLINE if any(t in r for r in by_label[reference])]

    def stats(label: str, task: str):
        return _mean_std([r[task].get(HEADLINE[task]) for r in by_label[label] if task in r])

    lines = [f"| variant | seeds | above {reference} | clearly above | below | clearly below | mean Δ | Δ emobank | Δ facebook-va |",
             "|---|---|---|---|---|---|---|---|---|"]
    for label, results in by_label.items():
        if label == reference:
            continue
        above = below = clear_above = clear_below = 0
        deltas: dict[str, float] = {}
        for task in tasks:
            ours, ref = stats(label, task), stats(reference, task)
            if ours is None or ref is None:
                continue
            delta = ours[0] - ref[0]
            deltas[task] = delta
            spread = math.hypot(ours[1], ref[1]) if ours[1] is not None and ref[1] is not None else None
            above += delta > 0
            below += delta < 0
            clear_above += spread is not None and delta > spread
            clear_below += spread is not None and -delta > spread
        if not deltas:
            continue
        fmt = lambda t: f"{deltas[t]:+.3f}" if t in deltas else "–"  # noqa: E731
        lines.append(f"| {label} | {len(results)} | {above} of {len(deltas)} | {clear_above} | {below} | {clear_below} | "
                     f"{sum(deltas.values()) / len(deltas):+.3f} | {fmt('emobank')} | {fmt('facebook-va')} |")
    return "\n".join(lines)


def against_every_baseline(found: Sequence[tuple[str, dict, dict]], contender: str, baselines: Sequence[str]) -> str:
    """Per task: ``contender``'s mean against the best baseline mean, and whether it is above every baseline.

    Rows: the headline tasks; a last row counts the tasks where the contender's mean is above
    the mean of every baseline (and clearly above: the gap to the best baseline exceeds their
    combined sample std, as in :func:`versus_table`).
    """
    by_label: dict[str, list[dict]] = {}
    for label, res, _ in found:
        by_label.setdefault(label, []).append(res)
    present = [b for b in baselines if b in by_label]
    if contender not in by_label or not present:
        return ""

    def stats(label: str, task: str):
        return _mean_std([r[task].get(HEADLINE[task]) for r in by_label[label] if task in r])

    lines = [f"| task | {contender} | best baseline | its mean | Δ | above every baseline |", "|---|---|---|---|---|---|"]
    above = clearly = counted = 0
    for task in HEADLINE:
        ours = stats(contender, task)
        theirs = {b: stats(b, task) for b in present}
        theirs = {b: v for b, v in theirs.items() if v is not None}
        if ours is None or not theirs:
            continue
        best = max(theirs, key=lambda b: theirs[b][0])
        delta = ours[0] - theirs[best][0]
        spread = math.hypot(ours[1], theirs[best][1]) if ours[1] is not None and theirs[best][1] is not None else None
        counted += 1
        above += delta > 0
        clear = spread is not None and delta > spread
        clearly += clear
        verdict = ("yes, clearly" if clear else "yes") if delta > 0 else "no"
        lines.append(f"| {task} {HEADLINE[task]} | {_stat_cell([r[task].get(HEADLINE[task]) for r in by_label[contender] if task in r])} "
                     f"| {best} | {theirs[best][0]:.3f} | {delta:+.3f} | {verdict} |")
    lines.append(f"| **tasks above every baseline** | **{above} of {counted}** (clearly: {clearly}) | | | | |")
    return "\n".join(lines)


def late_ptd_losses(jobs: Sequence[Job]) -> dict[str, list[tuple[int, float]]]:
    """``{variant: [(seed, mean loss_ptd over the last quarter of steps)]}`` of finished runs, from metrics.jsonl.

    Lets a reader compare how well the token discriminator learned under each ε / top-k / token
    rule; variants without PTD are left out.
    """
    out: dict[str, list[tuple[int, float]]] = {}
    for job in jobs:
        metrics = job.run_dir / "metrics.jsonl"
        if not (job.eval_path.is_file() and metrics.is_file()):
            continue
        rows = [json.loads(line) for line in metrics.read_text().splitlines() if '"loss_ptd"' in line]
        last = max((row["step"] for row in rows), default=0)
        late = [row["loss_ptd"] for row in rows if row["step"] > 0.75 * last]
        if late and any(value > 0 for value in late):
            out.setdefault(job.variant.name, []).append((job.seed, sum(late) / len(late)))
    return out


def write_grid_report(out: pathlib.Path, preset_name: str, preset: Preset, base: CarlConfig, jobs: Sequence[Job],
                      command: str, *, plots: bool) -> pathlib.Path:
    from carl.evaluation.report import machine_info, markdown_table, write_report
    from carl.io import atomic_write

    found = collect(out, jobs)
    groups = {FROZEN_LABEL: "reference", **{v.label: v.group for v in VARIANTS}}
    runs = [(label, res) for label, res, _ in found]
    finetuned = collect_finetune(out, preset, jobs) if preset.finetune_tasks else {}
    json_path, _, _ = write_report(out / "report.json", runs, command=command,
                                   arguments={"preset": preset_name, "preset_settings": dataclasses.asdict(preset),
                                              "base_config": base.to_dict(), "finetune": finetuned,
                                              "records": [{k: v for k, v in rec.items() if k != "result"}
                                                          for _, _, rec in found]})
    done = sum(job.eval_path.is_file() for job in jobs)
    machine = machine_info()
    figures = grid_plots(out, found, jobs) if plots and found else []
    train_seconds = {}
    for label, _, rec in found:
        if rec.get("train_seconds") is not None:
            train_seconds.setdefault(label, []).append(rec["train_seconds"])
    lines = [
        f"# CARL vs baselines and ablations: preset `{preset_name}`",
        "",
        f"- **Status:** {done} of {len(jobs)} training runs evaluated"
        + ("" if done == len(jobs) else " (incomplete: re-run the command to continue)") + ".",
        f"- **Command:** `{command}`",
        f"- **Date:** {datetime.datetime.now().astimezone().isoformat(timespec='minutes')}; **commits** that produced "
        f"the results: {', '.join(sorted({str(rec.get('commit')) for _, _, rec in found})) or 'none yet'}",
        f"- **Machine:** {machine.get('processor')}, {machine.get('cpu_count')} cores"
        + (f", {machine['gpu']}" if machine.get("gpu") else ", no GPU") + f"; torch threads {machine.get('torch_threads')}",
        f"- **Encoder:** `{base.model.name_or_path}`; **training data:** {', '.join(base.data.train)}; "
        f"**budget per run:** {base.train.max_steps or str(base.train.epochs) + ' epochs'} steps of batch "
        f"{base.train.batch_size}, max_length {base.data.max_length}, lr {base.train.learning_rate:g}; checkpoint "
        f"chosen by dev V-A Pearson (every {base.train.eval_every} steps), the same rule for every variant.",
        f"- **Seeds:** training seeds {sorted({j.seed for j in jobs})}; every model is probed with seed "
        f"{preset.eval_seed} on the same texts"
        + (f"; probes subsampled to at most {preset.max_train} train and {preset.max_eval} dev/test texts per task "
           "(CPU budget: not comparable with full-split numbers)" if preset.max_train or preset.max_eval else "")
        + ".",
        "- Cells: mean ± sample std over training seeds. The frozen encoder has no training seed: one value.",
        "",
        "## Summary (one metric per task; every metric is in the detail tables and report.json)",
        "",
        headline_table(found, groups),
        "",
    ]
    carl_label = VARIANT_BY_NAME["carl"].label
    against = versus_table(found, carl_label)
    if against:
        lines += [f"### Against {carl_label} (headline metrics above; geometry not counted)", "",
                  "Above/below: mean over seeds higher/lower than CARL's. Clearly: the gap is larger than "
                  "sqrt(std² + std²) of the two (needs 2+ seeds each). Δ: difference of means.", "", against, ""]
    baselines = [b for b in [FROZEN_LABEL] + [v.label for v in VARIANTS if v.group == "baseline"]
                 if any(label == b for label, _, _ in found)]
    for variant in VARIANTS:
        table = against_every_baseline(found, variant.label, baselines) if variant.group in ("CARL", "recipe") else ""
        if table:
            lines += [f"### {variant.label} against every baseline ({', '.join(baselines)})", "",
                      "Per task, the best baseline's mean; clearly: the gap exceeds sqrt(std² + std²) of the two.",
                      "", table, ""]
    leaders = dev_leader_table(jobs)
    if leaders:
        lines += ["### Dev V-A Pearson as training goes on (mean over seeds; bold: the leader at that step)", "",
                  "The checkpoint-selection signal (5-fold ridge on the training corpora's dev texts) at each dev check: "
                  "who wins as the budget grows, read on dev only. The test tables above use each run's dev-best step.",
                  "", leaders, ""]
    if train_seconds:
        lines += ["Training time per run (s, this machine): "
                  + "; ".join(f"{label} {sum(v) / len(v):.0f}" for label, v in train_seconds.items()), ""]
    ptd_losses = late_ptd_losses(jobs)
    if ptd_losses:
        lines += ["PTD discriminator loss late in training (focal loss, mean of the logged steps in the last quarter; "
                  "by training seed): " + "; ".join(f"{VARIANT_BY_NAME[name].label} "
                                                   + ", ".join(f"s{seed} {loss:.4f}" for seed, loss in losses)
                                                   for name, losses in ptd_losses.items()), ""]
    if finetuned:
        lines += [
            "## Fine-tuning protocol (encoder + linear head trained on the task)",
            "",
            f"`carl finetune` on {', '.join(preset.finetune_tasks)}: {preset.finetune_steps} steps of batch 32, "
            "encoder lr 3e-5, head lr 1e-3, the dev-best step scored on test; the same subsampled texts as the probes. "
            "Seed S fine-tunes the model of training seed S with seed S (the frozen encoder: fine-tuning seed S), so a "
            "row's spread covers training and fine-tuning randomness.",
            "",
            finetune_table(finetuned, preset.finetune_tasks),
            "",
        ]
    lines += ["## Variants", "", "| variant | group | what changes |", "|---|---|---|"]
    lines += [f"| {v.label} | {v.group} | {v.description} |" for v in VARIANTS if any(j.variant is v for j in jobs)]
    lines += ["", "## Detail: every reported metric", ""]
    for group in ("baseline", "ablation", "sweep"):
        members = {v.label for v in VARIANTS if v.group == group}
        subset = [(lab, res) for lab, res in runs if lab in members or lab in (FROZEN_LABEL, VARIANT_BY_NAME["carl"].label)]
        if any(lab in members for lab, _ in subset):
            lines += [f"### {group}s", "", markdown_table(subset), ""]
    if figures:
        lines += ["## Figures", ""] + [f"![{p.stem}]({p.name})" for p in figures] + [""]
    lines += ["Protocols: docs/evaluation.md; method and variants: docs/method.md. Raw numbers: report.json, "
              "evals/*/seed*.json.", ""]
    md = "\n".join(lines)
    atomic_write(out / "REPORT.md", lambda tmp: tmp.write_text(md, encoding="utf-8"))
    return out / "REPORT.md"


FINETUNE_HEADLINE = {"va_regression": ("pearson_mean", "pearson_v", "pearson_a"),
                     "classification": ("macro_f1", "accuracy")}


def collect_finetune(out: pathlib.Path, preset: Preset, jobs: Sequence[Job]) -> dict[str, list[dict]]:
    """``{label: [record, ...]}`` of finished fine-tuning results that match the preset, frozen first."""
    seeds = sorted({j.seed for j in jobs})
    names = [FROZEN] + [v for v in preset.finetune_variants if any(j.variant.name == v for j in jobs)]
    found: dict[str, list[dict]] = {}
    for name in names:
        label = FROZEN_LABEL if name == FROZEN else VARIANT_BY_NAME[name].label
        paths = [finetune_path(out, name, s) for s in seeds]
        records = [json.loads(p.read_text()) for p in paths if p.is_file()]
        records = [r for r in records if stale_finetune(r, preset) is None]
        if records:
            found[label] = records
    return found


def finetune_table(found: Mapping[str, list[dict]], tasks: Sequence[str]) -> str:
    """Rows: models; columns: each task's fine-tuned test metrics (mean ± std over seeds)."""
    from carl.evaluation.tasks import TASKS

    columns = [(t, m) for t in tasks for m in FINETUNE_HEADLINE[TASKS[t].kind]]
    lines = ["| model | seeds | " + " | ".join(f"{t} {m}" for t, m in columns) + " | best step |",
             "|---|---|" + "---|" * (len(columns) + 1)]
    for label, records in found.items():
        cells = [label, str(len(records))]
        cells += [_stat_cell([r["result"].get(t, {}).get(m) for r in records]) for t, m in columns]
        steps = sorted({r["result"][t]["_meta"]["best_step"] for r in records for t in tasks if t in r["result"]})
        cells.append(", ".join(map(str, steps)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def grid_plots(out: pathlib.Path, found, jobs) -> list[pathlib.Path]:
    from carl.evaluation.plots import plot_dev_curves, plot_variant_bars

    figures = [plot_variant_bars(found, HEADLINE, out / "summary-bars.png")]
    means = mean_dev_curves(jobs)
    if means:
        curves = {label: [{"step": step, DEV_KEY: value} for step, (value, _) in sorted(by_step.items())]
                  for label, by_step in means.items()}
        figures.append(plot_dev_curves(curves, out / "dev-curves.png",
                                       title="Dev V-A Pearson during training (mean over training seeds)"))
    return figures


DEV_KEY = "dev/va_pearson"


def mean_dev_curves(jobs: Sequence[Job]) -> dict[str, dict[int, tuple[float, int]]]:
    """``{variant label: {step: (mean dev V-A Pearson over seeds, number of seeds)}}`` from finished runs' metrics.

    Only runs whose evaluation is finished count, so a curve never mixes a half-trained seed in.
    """
    values: dict[str, dict[int, list[float]]] = {}
    for job in jobs:
        metrics = job.run_dir / "metrics.jsonl"
        if not (job.eval_path.is_file() and metrics.is_file()):
            continue
        for line in metrics.read_text().splitlines():
            row = json.loads(line) if DEV_KEY in line else None
            if row is not None:
                values.setdefault(job.variant.label, {}).setdefault(row["step"], []).append(row[DEV_KEY])
    return {label: {step: (sum(v) / len(v), len(v)) for step, v in by_step.items()} for label, by_step in values.items()}


def dev_leader_table(jobs: Sequence[Job], max_columns: int = 6) -> str:
    """Mean dev V-A Pearson of every variant at evenly spaced dev checks, and who leads at each.

    Answers "who wins as training gets longer" on dev, so no test split is read per step.
    """
    means = mean_dev_curves(jobs)
    steps = sorted({s for by_step in means.values() for s in by_step if s > 0})
    if not steps:
        return ""
    stride = max(1, math.ceil(len(steps) / max_columns))
    shown = steps[::-1][::stride][::-1]
    lines = ["| variant | " + " | ".join(f"step {s}" for s in shown) + " |", "|---|" + "---|" * len(shown)]
    leaders = {s: max((by[s][0], label) for label, by in means.items() if s in by)[1] for s in shown}
    for label, by_step in means.items():
        cells = []
        for s in shown:
            if s not in by_step:
                cells.append("–")
                continue
            value, seeds = by_step[s]
            cell = f"{value:.3f}" + (f" ({seeds} seeds)" if seeds != max(n for _, n in by_step.values()) else "")
            cells.append(f"**{cell}**" if leaders[s] == label else cell)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
