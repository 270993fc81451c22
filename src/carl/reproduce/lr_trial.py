"""Equal tuning: every trained contender of a grid tries the same learning rates on dev first.

A preset with ``lr_trial`` (e.g. ``cpu-union``: 3e-5 and 1e-4) trains each of its variants once per
learning rate (seed 0, ``lr_trial_steps`` steps, the preset's data and batch) and scores each trial
model on the dev split of every probe task (``run_tasks(dev_only=True)``: no test split is embedded).
Each variant's choice is the learning rate with the higher mean dev score over those tasks; the grid
then trains every seed of the variant with it. A variant whose best rate is at an end of the rates it
tried also tries the next of ``lr_trial_beyond`` past that end (:func:`bracketing_rate`), so that its
choice has a tried rate on each side. Layout under the grid's folder::

    lr-trial/lrLR/runs/VARIANT/seed0/     the trial run
    lr-trial/lrLR/evals/VARIANT/seed0.json  its dev-only evaluation (every task's dev score)

Resumable like the grid: a finished trial or evaluation is never recomputed.
"""

from __future__ import annotations

import json
import logging
import math
import pathlib
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from carl.config import CarlConfig
from carl.reproduce import grid
from carl.reproduce.grid import Job, plan
from carl.reproduce.presets import Preset

log = logging.getLogger("carl.reproduce")

TRIAL_DIR = "lr-trial"


@dataclass(frozen=True)
class Trial:
    learning_rate: float
    job: Job


def trial_jobs(preset: Preset, out: pathlib.Path, variants: Sequence[str], *, model: str | None,
               data_dir: str | None, extra: Mapping[str, object] | None) -> list[Trial]:
    """Every (learning rate, variant) trial, learning-rate-major, then each variant's trials past the ends
    (``preset.lr_trial_beyond``) that its finished trials in ``out`` call for (:func:`bracketing_rate`). The
    list grows as trials finish: call again after running them."""

    def at(lr: float, names: Sequence[str]) -> list[Trial]:
        _, jobs = plan(preset, out / TRIAL_DIR / f"lr{lr:g}", variants=names, seeds=(0,), model=model,
                       data_dir=data_dir, extra={**dict(extra or {}), **trial_budget(preset)},
                       learning_rates={name: lr for name in names})
        return [Trial(lr, job) for job in jobs]

    trials = [trial for lr in preset.lr_trial for trial in at(lr, variants)]
    for name in variants:
        while True:
            own = [trial for trial in trials if trial.job.variant.name == name]
            scores = {lr: dev_mean(record) for lr, record in trial_scores(own).get(name, {}).items()}
            lr = bracketing_rate(scores, preset.lr_trial, preset.lr_trial_beyond)
            if lr is None:
                break
            trials += at(lr, [name])
            if not trials[-1].job.eval_path.is_file():
                break  # the next one past it depends on this one's score
    return trials


def bracketing_rate(dev_means: Mapping[float, float], rates: Sequence[float], beyond: Sequence[float]) -> float | None:
    """The learning rate a variant tries next so that its choice has a tried rate on each side.

    ``dev_means``: its finished trials' dev means by rate. None while a rate of ``rates`` has no score, when
    the best (ties: the smaller rate) lies inside the tried rates, or when no rate of ``beyond`` lies past
    the end it sits at; else the nearest such rate.
    """
    if not rates or any(not any(math.isclose(rate, tried) for tried in dev_means) for rate in rates):
        return None
    tried = sorted(dev_means)
    best = max(tried, key=lambda lr: dev_means[lr])
    if len(tried) < 2 or tried[0] < best < tried[-1]:
        return None
    past = [lr for lr in beyond if (lr > best if best == tried[-1] else lr < best)]
    if not past:
        return None
    return min(past) if best == tried[-1] else max(past)


def trial_budget(preset: Preset) -> dict[str, object]:
    """The settings that make a grid run a trial: a short schedule of its own, or the grid's cut short."""
    if preset.lr_trial_cut_schedule:
        return {"train.stop_after": preset.lr_trial_steps}
    return {"train.max_steps": preset.lr_trial_steps}


def finish_cut_trial(run_dir: pathlib.Path) -> None:
    """A trial cut from the grid's schedule stops with a checkpoint and no summary: write the summary
    from its dev checks (the same best-step rule as a finished run), drop the checkpoints."""
    import shutil

    if (run_dir / "summary.json").is_file():
        return
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    best, best_step = None, None
    for row in rows:  # the trainer's rule: the first step with the highest dev V-A Pearson (step 0 is no candidate)
        if "dev/va_pearson" in row and row["step"] > 0 and (best is None or row["dev/va_pearson"] > best):
            best, best_step = row["dev/va_pearson"], row["step"]
    steps = max(row["step"] for row in rows)
    log_every = CarlConfig.load(run_dir / "config.yaml").train.log_every
    seconds = sum(row["seconds_per_step"] * log_every for row in rows if "seconds_per_step" in row)
    (run_dir / "summary.json").write_text(json.dumps({"steps": steps, "best_dev_va_pearson": best,
                                                      "best_step": best_step, "seconds": seconds,
                                                      "cut_from_schedule": True}, indent=1))
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)


def dev_mean(record: Mapping) -> float:
    """Mean over the probe tasks of each task's dev selection score (a dev-only evaluation record)."""
    result = record["result"]
    return statistics.mean(metrics["dev_score"] for task, metrics in result.items() if task != "_meta")


def run_trials(trials: Sequence[Trial], preset: Preset, data_dir: str | None, commit: str,
               out_of_time: Callable[[], bool]) -> bool:
    """Train and dev-score every trial not done yet; False when the sitting's time ran out first."""
    from carl.evaluation.tasks import dev_scored_tasks, run_tasks  # lazy: keeps carl --help fast

    for trial in trials:
        job = trial.job
        if job.eval_path.is_file():
            continue
        if out_of_time():
            return False
        log.warning("lr trial: %s at lr %g", job.variant.name, trial.learning_rate)
        grid.train_job(job)
        if preset.lr_trial_cut_schedule:
            finish_cut_trial(job.run_dir)
        summary = json.loads((job.run_dir / "summary.json").read_text())
        result = run_tasks(str(job.run_dir / "model"), dev_scored_tasks(), data_dir, seed=preset.eval_seed,
                           max_train=preset.lr_trial_max_train, max_eval=preset.lr_trial_max_eval,
                           split_seed=job.config.data.split_seed,
                           dev_only=True)
        grid._write_record(job.eval_path, {"variant": job.variant.name, "seed": job.seed,
                                           "learning_rate": trial.learning_rate, "commit": commit,
                                           "train_seconds": summary.get("seconds"), "best_step": summary.get("best_step"),
                                           "best_dev_va_pearson": summary.get("best_dev_va_pearson"), "result": result})
    return True


def trial_scores(trials: Sequence[Trial]) -> dict[str, dict[float, dict]]:
    """variant -> learning rate -> its finished trial's record (trials not evaluated yet are absent)."""
    scores: dict[str, dict[float, dict]] = {}
    for trial in trials:
        if trial.job.eval_path.is_file():
            record = json.loads(trial.job.eval_path.read_text())
            scores.setdefault(trial.job.variant.name, {})[trial.learning_rate] = record
    return scores


def choose(trials: Sequence[Trial], preset: Preset) -> dict[str, float]:
    """variant -> the learning rate with the higher dev mean, for variants whose every trial finished and
    that need none past the ends (:func:`bracketing_rate`). A tie keeps the smaller learning rate (the
    smaller change to the pretrained encoder)."""
    chosen = {}
    for name, records in trial_scores(trials).items():
        means = {lr: dev_mean(record) for lr, record in records.items()}
        if set(preset.lr_trial) <= set(records) and bracketing_rate(means, preset.lr_trial,
                                                                    preset.lr_trial_beyond) is None:
            chosen[name] = max(sorted(records), key=lambda lr: means[lr])
    return chosen


def edge_note(chosen: Mapping[str, float], tried: Mapping[str, Sequence[float]], labels: Mapping[str, str]) -> str:
    """A sentence naming the variants whose choice is the largest or the smallest rate they tried
    (``tried``: variant -> its rates): for them the trial did not bracket an optimum (a rate beyond the
    edge was never tried). Empty when no choice sits at an edge; a variant that tried one rate chose nothing."""
    parts = []
    for pick, word, beyond in ((max, "largest", "above"), (min, "smallest", "below")):
        at_edge = {name: lr for name, lr in chosen.items()
                   if len(set(tried.get(name, ()))) >= 2 and lr == pick(tried[name])}
        if at_edge:
            who = "every variant" if len(at_edge) == len(chosen) else ", ".join(labels.get(n, n) for n in at_edge)
            edges = ", ".join(f"{lr:g}" for lr in sorted(set(at_edge.values())))
            parts.append(f"{who} chose the {word} rate tried ({edges}): a rate {beyond} it was not tried, "
                         "so the optimum may lie beyond it")
    return ("At the trial's edge: " + "; ".join(parts) + ".") if parts else ""


def trial_table(trials: Sequence[Trial], preset: Preset, labels: Mapping[str, str]) -> str:
    """Markdown: per variant, each learning rate's dev mean (and dev V-A Pearson of its training
    check), the choice in bold, then :func:`edge_note`; empty before any trial finished."""
    scores = trial_scores(trials)
    if not scores:
        return ""
    chosen = choose(trials, preset)
    rates = sorted({*preset.lr_trial, *(lr for records in scores.values() for lr in records)})
    lines = ["| variant | " + " | ".join(f"lr {lr:g}: dev mean (dev V-A r)" for lr in rates) + " | chosen |",
             "|---" * (len(rates) + 2) + "|"]
    for name, records in scores.items():
        cells = []
        for lr in rates:
            if lr not in records:
                cells.append("–")
                continue
            cell = f"{dev_mean(records[lr]):.4f} ({records[lr].get('best_dev_va_pearson') or float('nan'):.3f})"
            cells.append(f"**{cell}**" if chosen.get(name) == lr else cell)
        lines.append(f"| {labels.get(name, name)} | " + " | ".join(cells) + f" | {chosen.get(name, '–')} |")
    note = edge_note(chosen, {name: sorted(records) for name, records in scores.items()}, labels)
    return "\n".join(lines + (["", note] if note else []))
