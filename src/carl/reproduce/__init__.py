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

import functools
import json
import logging
import math
import os
import pathlib
import sys
import time
from collections.abc import Mapping, Sequence

from carl.errors import ConfigError
from carl.reproduce import lr_trial
from carl.reproduce.presets import (  # noqa: F401  (re-exported: users, scripts and tests import them from here)
    PACKAGED_CONFIGS,
    FROZEN,
    FROZEN_LABEL,
    CPU_VARIANTS,
    Variant,
    VARIANTS,
    VARIANT_BY_NAME,
    HEADLINE,
    GEOMETRY,
    AFFECT_TASKS,
    POLARITY_TASKS,
    UNION_VARIANTS,
    UNION_TRAIN,
    Preset,
    BUDGET_STUDY_VARIANTS,
    PRESETS,
)
from carl.reproduce.grid import (  # noqa: F401  (re-exported like the presets' names above)
    Job,
    plan,
    _comparable,
    train_job,
    evaluate_job,
    _write_record,
    finetune_job,
    finetune_path,
    stale_finetune,
    finetune_stage,
    git_commit,
)
from carl.reproduce.curves import (  # noqa: F401  (re-exported like the report's names below)
    late_ptd_losses,
    grid_plots,
    DEV_KEY,
    mean_dev_curves,
    dev_leader_table,
)
from carl.reproduce.report import (  # noqa: F401  (re-exported: users, scripts and tests import them from here)
    collect,
    _mean_std,
    _stat_cell,
    headline_table,
    versus_table,
    against_every_baseline,
    above_every_baseline_counts,
    thesis_table,
    write_grid_report,
    FINETUNE_HEADLINE,
    collect_finetune,
    finetune_table,
)

log = logging.getLogger("carl.reproduce")


def _relative_if_inside(path: pathlib.Path, cwd: pathlib.Path) -> pathlib.Path:
    try:
        return pathlib.Path(os.path.abspath(path)).relative_to(os.path.abspath(cwd))
    except ValueError:
        return path


def earlier_evaluated_jobs(preset: Preset, out: pathlib.Path, jobs: Sequence[Job], *, model: str | None,
                           data_dir: str | None, extra: Mapping[str, object] | None) -> list[Job]:
    """Jobs (any variant; seeds: the preset's and this sitting's) outside ``jobs`` whose evaluation is already
    in ``out``, run by an earlier sitting: the report keeps them, so a sitting on one variant does not drop
    the rest from REPORT.md."""
    asked = {(job.variant.name, job.seed) for job in jobs}
    seeds = sorted({*preset.seeds, *(job.seed for job in jobs)})
    # Every known variant, not only the preset's defaults: a sitting may name any of them.
    _, every = plan(preset, out, variants=[v.name for v in VARIANTS], seeds=seeds, model=model, data_dir=data_dir,
                    extra=extra)
    return [job for job in every if (job.variant.name, job.seed) not in asked and job.eval_path.is_file()]


def reproduce(preset_name: str, out: str | pathlib.Path, *, variants: Sequence[str] | None = None,
              seeds: Sequence[int] | None = None, model: str | None = None, data_dir: str | None = None,
              extra: Mapping[str, object] | None = None, keep_checkpoints: bool = False, plots: bool = True,
              command: str | None = None, stop_after_minutes: float | None = None,
              trials_only: bool = False, trial_rates: Sequence[float] | None = None) -> pathlib.Path:
    """Run (or continue) the grid and write DIR/REPORT.md after every finished job.

    ``stop_after_minutes``: start no new job after this long (a sitting's budget); re-run
    the same command to continue. ``trials_only``: stop after the learning-rate trials (to
    choose between variants on dev before the grid trains any of them). ``trial_rates``: run
    only these of the preset's trial rates in this sitting (e.g. the middle rate of several
    variants first, to compare them on dev); implies ``trials_only``.
    """
    if preset_name not in PRESETS:
        raise ConfigError(f"unknown preset {preset_name!r}; presets: {', '.join(PRESETS)}")
    preset = PRESETS[preset_name]
    if trial_rates is not None:
        known = (*preset.lr_trial, *preset.lr_trial_beyond)
        unknown = [r for r in trial_rates if not any(math.isclose(r, lr) for lr in known)]
        if unknown or not trial_rates:
            raise ConfigError(f"--trial-rates {', '.join(f'{r:g}' for r in unknown) or '(none)'}: not among preset "
                              f"{preset_name}'s trial rates ({', '.join(f'{r:g}' for r in known) or 'none'})")
        trials_only = True
    out = _relative_if_inside(pathlib.Path(out), pathlib.Path.cwd())  # run configs then carry no machine path
    base, jobs = plan(preset, out, variants=variants, seeds=seeds, model=model, data_dir=data_dir, extra=extra)
    trained = list(dict.fromkeys(job.variant.name for job in jobs))
    trials = lr_trial.trial_jobs(preset, out, trained, model=model, data_dir=data_dir, extra=extra) if preset.lr_trial else []
    # The report covers this sitting's runs and every run an earlier sitting evaluated in the folder.
    earlier = earlier_evaluated_jobs(preset, out, jobs, model=model, data_dir=data_dir, extra=extra)
    shown = jobs + earlier
    shown_trials: list[lr_trial.Trial] = []
    labels = {v.name: v.label for v in VARIANTS}
    out.mkdir(parents=True, exist_ok=True)
    command = command or " ".join(["carl", *sys.argv[1:]])
    base.save(out / "base-config.yaml")
    started = time.time()
    commit = git_commit()  # the code this sitting runs; stored with every result it produces
    frozen_path = out / "evals" / FROZEN / "seed0.json"
    evaluate_job(base.model.name_or_path, frozen_path, preset, data_dir, base.data.split_seed,
                 {"variant": FROZEN, "seed": None, "commit": commit})

    def out_of_time() -> bool:
        if stop_after_minutes is not None and (time.time() - started) / 60 > stop_after_minutes:
            log.warning("stopping: the sitting's budget of %.0f minutes is spent; re-run to continue",
                        stop_after_minutes)
            return True
        return False

    if trials:  # equal tuning first: every contender's learning rate is chosen on dev before the grid trains it
        while True:  # a finished trial may call for one past the rates' ends (lr_trial.bracketing_rate)
            now = [t for t in trials
                   if trial_rates is None or any(math.isclose(t.learning_rate, r) for r in trial_rates)]
            trials_done = lr_trial.run_trials(now, preset, data_dir, commit, out_of_time)
            more = lr_trial.trial_jobs(preset, out, trained, model=model, data_dir=data_dir, extra=extra)
            if not trials_done or len(more) == len(trials):
                break
            trials = more
        shown_trials = lr_trial.trial_jobs(preset, out, [v.name for v in VARIANTS], model=model, data_dir=data_dir,
                                           extra=extra)  # the table's rows: every variant's trials with a score
        chosen = lr_trial.choose(trials, preset)
        table = lr_trial.trial_table(shown_trials, preset, labels)
        if trials_only or not trials_done or set(chosen) != set(trained):
            return write_grid_report(out, preset_name, preset, base, shown, command, plots=False, lr_trials=table)
        base, jobs = plan(preset, out, variants=variants, seeds=seeds, model=model, data_dir=data_dir, extra=extra,
                          learning_rates=chosen)
        shown = jobs + earlier
    report = functools.partial(write_grid_report, out, preset_name, preset, base, shown, command,
                               lr_trials=lr_trial.trial_table(shown_trials, preset, labels) if shown_trials else "")
    report(plots=False)

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
        report(plots=False)
    if all(job.eval_path.is_file() for job in jobs):  # the probes of the whole grid come first
        finetune_stage(out, preset, base, jobs, data_dir, commit, keep_checkpoints=keep_checkpoints,
                       out_of_time=out_of_time)
    return report(plots=plots)
