"""The grid's report: REPORT.md and report.json from the finished evaluations (mean ± std over
training seeds), the per-task comparisons and the fine-tuning table (training curves:
carl.reproduce.curves)."""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import pathlib
from collections.abc import Mapping, Sequence

from carl.config import CarlConfig
from carl.evaluation.report import machine_info, machine_label, markdown_table, write_report
from carl.evaluation.task_specs import TASKS
from carl.io import atomic_write
from carl.reproduce.curves import dev_leader_table, grid_plots, late_ptd_losses
from carl.reproduce.grid import Job, finetune_path, stale_finetune
from carl.reproduce.presets import (AFFECT_TASKS, FROZEN, FROZEN_LABEL, GEOMETRY, HEADLINE, POLARITY_TASKS,
                                    THESIS_METRICS, VARIANT_BY_NAME, VARIANTS, Preset)


def _caps(value: int | Mapping[str, int], unit: str) -> str:
    """``data.max_*_per_corpus`` in words: "8000 texts each" or "2000 of carer, 2000 of goemotions-ekman"."""
    if isinstance(value, Mapping):
        return ", ".join(f"{cap} of {spec}" for spec, cap in value.items())
    return f"{value} {unit}"


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


@dataclasses.dataclass(frozen=True)
class BaselineGap:
    """One headline task: the contender's mean against the best baseline's."""

    task: str
    values: list[float]
    best: str
    best_mean: float
    delta: float
    clearly: bool


def baseline_gaps(found: Sequence[tuple[str, dict, dict]], contender: str, baselines: Sequence[str]) -> list[BaselineGap]:
    """Per headline task: ``contender``'s mean against the best baseline mean (clearly above: the
    gap exceeds the two's combined sample std, as in :func:`versus_table`). Empty when the
    contender or every baseline is missing."""
    by_label: dict[str, list[dict]] = {}
    for label, res, _ in found:
        by_label.setdefault(label, []).append(res)
    present = [b for b in baselines if b in by_label]
    if contender not in by_label or not present:
        return []

    def stats(label: str, task: str):
        return _mean_std([r[task].get(HEADLINE[task]) for r in by_label[label] if task in r])

    gaps = []
    for task in HEADLINE:
        ours = stats(contender, task)
        theirs = {b: stats(b, task) for b in present}
        theirs = {b: v for b, v in theirs.items() if v is not None}
        if ours is None or not theirs:
            continue
        best = max(theirs, key=lambda b: theirs[b][0])
        delta = ours[0] - theirs[best][0]
        spread = math.hypot(ours[1], theirs[best][1]) if ours[1] is not None and theirs[best][1] is not None else None
        gaps.append(BaselineGap(task, [r[task].get(HEADLINE[task]) for r in by_label[contender] if task in r],
                                best, theirs[best][0], delta, spread is not None and delta > spread))
    return gaps


def against_every_baseline(found: Sequence[tuple[str, dict, dict]], contender: str, baselines: Sequence[str]) -> str:
    """Per task: ``contender``'s mean against the best baseline mean, and whether it is above every baseline.

    Rows: the headline tasks; a last row counts the tasks where the contender's mean is above
    the mean of every baseline (and clearly above: the gap to the best baseline exceeds their
    combined sample std, as in :func:`versus_table`).
    """
    gaps = baseline_gaps(found, contender, baselines)
    if not gaps:
        return ""
    lines = [f"| task | {contender} | best baseline | its mean | Δ | above every baseline |", "|---|---|---|---|---|---|"]
    for gap in gaps:
        verdict = ("yes, clearly" if gap.clearly else "yes") if gap.delta > 0 else "no"
        lines.append(f"| {gap.task} {HEADLINE[gap.task]} | {_stat_cell(gap.values)} "
                     f"| {gap.best} | {gap.best_mean:.3f} | {gap.delta:+.3f} | {verdict} |")
    above = sum(g.delta > 0 for g in gaps)
    lines.append(f"| **tasks above every baseline** | **{above} of {len(gaps)}** (clearly: {sum(g.clearly for g in gaps)}) "
                 "| | | | |")
    return "\n".join(lines)


def baselines_in(found: Sequence[tuple[str, dict, dict]]) -> list[str]:
    """The baselines every contender is compared with: the frozen encoder and each baseline-group
    variant that has at least one evaluation in ``found``, in grid order."""
    present = {label for label, _, _ in found}
    return [b for b in [FROZEN_LABEL] + [v.label for v in VARIANTS if v.group == "baseline"] if b in present]


def above_every_baseline_counts(found: Sequence[tuple[str, dict, dict]], contenders: Sequence[str],
                                baselines: Sequence[str]) -> str:
    """One row per contender (every trained variant that is not a baseline, ablations included):
    on how many headline tasks its mean is above the mean of every baseline, clearly or not,
    and the tasks where it is."""
    lines = ["| variant | seeds | above every baseline | clearly | affect tasks | polarity tasks | tasks |",
             "|---|---|---|---|---|---|---|"]
    for contender in contenders:
        gaps = baseline_gaps(found, contender, baselines)
        if not gaps:
            continue
        won = [g.task for g in gaps if g.delta > 0]
        split = [f"{sum(t in kind for t in won)} of {sum(g.task in kind for g in gaps)}"
                 for kind in (AFFECT_TASKS, POLARITY_TASKS)]
        lines.append(f"| {contender} | {len(gaps[0].values)} | {len(won)} of {len(gaps)} | "
                     f"{sum(g.clearly for g in gaps)} | {split[0]} | {split[1]} | {', '.join(won) or '–'} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def thesis_table(found: Sequence[tuple[str, dict, dict]], continuous: Sequence[str], discrete: Sequence[str]) -> str:
    """The paper's thesis checked directly: models trained with continuous V-A labels against models
    trained with discrete emotion classes on the same texts, on the emotion tasks and metrics of
    :data:`THESIS_METRICS` (mean ± std over seeds); the last column counts the cells where the row
    is above every discrete-label row. Empty unless rows of both kinds are present."""
    by_label: dict[str, list[dict]] = {}
    for label, res, _ in found:
        by_label.setdefault(label, []).append(res)
    continuous = [c for c in continuous if c in by_label]
    discrete = [d for d in discrete if d in by_label]
    if not continuous or not discrete:
        return ""
    cells = [(task, metric) for task, metrics in THESIS_METRICS.items() for metric in metrics]

    def values(label: str, task: str, metric: str) -> list[float]:
        return [r[task][metric] for r in by_label[label] if task in r and metric in r[task]]

    best_discrete = {cell: max((_mean_std(values(d, *cell)) or (float("-inf"), None))[0] for d in discrete)
                     for cell in cells}
    lines = ["| model | labels | " + " | ".join(f"{t} {m}" for t, m in cells) + " | above every discrete row |",
             "|---" * (len(cells) + 3) + "|"]
    for label in [*continuous, *discrete]:
        row = [_stat_cell(values(label, *cell)) for cell in cells]
        if label in continuous:
            means = [_mean_std(values(label, *cell)) for cell in cells]
            above = sum(m is not None and m[0] > best_discrete[cell] for m, cell in zip(means, cells))
            count = f"{above} of {len(cells)}"
        else:
            count = "–"
        kind = "continuous V-A" if label in continuous else "emotion classes"
        lines.append(f"| {label} | {kind} | " + " | ".join(row) + f" | {count} |")
    return "\n".join(lines)


UNRECORDED_MACHINE = "not recorded (records written before records named their machine)"


def machines_of_records(found: Sequence[tuple[str, dict, dict]], current: str) -> list[str]:
    """A report line naming the machine behind each result, when any result was produced on
    another machine than this sitting's (or does not say): nothing otherwise."""
    by_machine: dict[str, list[str]] = {}
    for label, _, record in found:
        labels = by_machine.setdefault(record.get("machine") or UNRECORDED_MACHINE, [])
        if label not in labels:
            labels.append(label)
    if set(by_machine) <= {current}:
        return []
    listed = "; ".join(f"{machine}: {', '.join(labels)}" for machine, labels in by_machine.items())
    return [f"- **Results by machine** (training times compare only within one machine): {listed}"]


def write_grid_report(out: pathlib.Path, preset_name: str, preset: Preset, base: CarlConfig, jobs: Sequence[Job],
                      command: str, *, plots: bool, lr_trials: str = "") -> pathlib.Path:
    """``lr_trials``: the learning-rate trial's table (carl.reproduce.lr_trial.trial_table), if the preset has one."""
    found = collect(out, jobs)
    groups = {FROZEN_LABEL: "reference", **{v.label: v.group for v in VARIANTS}}
    # Each probe's dev scores (_meta.details) stay in evals/*/seed*.json; repeating them for every
    # run made report.json about 1 MiB.
    runs = [(label, _without_details(res)) for label, res, _ in found]
    finetuned = collect_finetune(out, preset, jobs) if preset.finetune_tasks else {}
    json_path, _, _ = write_report(out / "report.json", runs, command=command,
                                   arguments={"preset": preset_name, "preset_settings": dataclasses.asdict(preset),
                                              "base_config": base.to_dict(), "finetune": finetuned,
                                              "records": [{k: v for k, v in rec.items() if k != "result"}
                                                          for _, _, rec in found]})
    done = sum(job.eval_path.is_file() for job in jobs)
    machine = machine_info()
    sitting = machine_label(machine)
    figures = grid_plots(out, found, jobs) if plots and found else []
    by_machine = machines_of_records(found, sitting)
    train_seconds = {}
    for label, _, rec in found:
        if rec.get("train_seconds") is not None:
            train_seconds.setdefault(label, []).append(rec["train_seconds"])
    lines = [
        f"# CARL vs baselines and ablations: preset `{preset_name}`",
        "",
        f"- **Status:** {done} of {len(jobs)} training runs evaluated"
        + ("" if done == len(jobs) else " (incomplete: re-run the command to continue)") + ".",
        f"- **Command** of the sitting that wrote this report: `{command}`; the report covers its runs and every run "
        "an earlier sitting evaluated in this folder (each sitting trains the variants and seeds its command names).",
        f"- **Date:** {datetime.datetime.now().astimezone().isoformat(timespec='minutes')}; **commits** that produced "
        f"the results: {', '.join(sorted({str(rec.get('commit')) for _, _, rec in found})) or 'none yet'}",
        # With results from several machines, the machine line names only the one that wrote this report.
        f"- **{'Machine of this sitting' if by_machine else 'Machine'}:** {sitting}; torch threads "
        f"{machine.get('torch_threads')}",
        *by_machine,
        f"- **Encoder:** `{base.model.name_or_path}`; **training data:** {', '.join(base.data.train)}"
        + (f" (train splits, at most {_caps(base.data.max_train_per_corpus, 'texts each')}, seeded sample)"
           if base.data.max_train_per_corpus else "") + "; "
        f"**budget per run:** {budget_text(base, preset)}; checkpoint "
        f"chosen by dev V-A Pearson (every {base.train.eval_every} steps"
        + (f"; at most {_caps(base.data.max_dev_per_corpus, 'dev texts per corpus')}" if base.data.max_dev_per_corpus else "")
        + "), the same rule for every variant.",
        f"- **Seeds:** training seeds {sorted({j.seed for j in jobs})}; every model is probed with seed "
        f"{preset.eval_seed} on the same texts"
        + (f"; probes subsampled to at most {preset.max_train} train and {preset.max_eval} dev/test texts per task "
           "(CPU budget: not comparable with full-split numbers)" if preset.max_train or preset.max_eval else "")
        + ".",
        "- Cells: mean ± sample std over training seeds. The frozen encoder has no training seed: one value.",
        *rescored_notes(found),
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
    baselines = baselines_in(found)
    counts = above_every_baseline_counts(found, [v.label for v in VARIANTS if v.group != "baseline"], baselines)
    if counts:
        lines += [f"### Tasks above every baseline ({', '.join(baselines)}), by variant", "",
                  "Per variant, the headline tasks where its mean is above the mean of every baseline; clearly: the gap "
                  "to the best baseline exceeds sqrt(std² + std²) of the two. The tables below give the gaps.", "",
                  counts, ""]
    emotion_rows = [v.label for v in VARIANTS if v.overrides.get("data.discrete_labels") == "emotion"]
    thesis = thesis_table(found, [v.label for v in VARIANTS if v.group in ("CARL", "recipe")
                                  or v.name == "online-only"], emotion_rows)
    if thesis:
        lines += ["### Continuous V-A labels against emotion classes on the same texts (the paper's thesis)", "",
                  "Emotion classification where the paper reports its gains; every row trained on the same texts and "
                  "steps. Last column: cells where the continuous-label row's mean is above the mean of every "
                  "emotion-class row.", "", thesis, ""]
    if lr_trials:
        lines += [f"### Learning-rate trial (seed 0, {preset.lr_trial_steps} steps; dev splits only)", "",
                  "Every trained contender tried each learning rate"
                  + (" and, where its best sat at an end, the next rate past it (a dash: not tried)"
                     if preset.lr_trial_beyond else "") + "; its score is the mean over the 12 probe tasks of "
                  "each task's dev selection score (the probe's best setting; no test split embedded; probes on at most "
                  f"{preset.lr_trial_max_train} train and {preset.lr_trial_max_eval} dev texts per task), in brackets the "
                  "training's own dev V-A Pearson. Every seed of the grid trains with the chosen (bold) rate.", "",
                  lr_trials, ""]
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
        lines += ["Training time per run (s, wall time on the machine that trained it): "
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
    lines += [f"| {v.label} | {v.group} | {preset.describe(v)} |" for v in VARIANTS if any(j.variant is v for j in jobs)]
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


def _without_details(result: Mapping) -> dict:
    meta = {k: v for k, v in result.get("_meta", {}).items() if k != "details"}
    return {**result, "_meta": meta} if "_meta" in result else dict(result)


def budget_text(base, preset) -> str:
    """The header's budget: steps or epochs, batch, max_length and the learning rate(s) the variants train with."""
    budget = f"{base.train.max_steps} steps" if base.train.max_steps else f"{base.train.epochs:g} epochs"
    if preset.lr_trial:
        lr = "lr: each variant's choice of the learning-rate trial below"
    elif preset.learning_rates:
        lr = "lr per variant: " + ", ".join(f"{name} {rate:g}" for name, rate in preset.learning_rates.items())
    else:
        lr = f"lr {base.train.learning_rate:g}"
    return f"{budget} of batch {base.train.batch_size}, max_length {base.data.max_length}, {lr}"


def rescored_notes(found: Sequence[tuple[str, dict, dict]]) -> list[str]:
    """One bullet per (variant, task) whose stored result was re-scored after its evaluation
    (``result._meta.rescored``, written by scripts such as scripts/mteb_output_check.py)."""
    changes: dict[tuple[str, str], dict] = {}
    for label, result, record in found:
        for task, note in (result.get("_meta", {}).get("rescored") or {}).items():
            entry = changes.setdefault((label, task), {"seeds": [], "note": note})
            entry["seeds"].append(record.get("seed"))
    return [f"- **Re-scored:** {task} of {label} (seeds {', '.join(map(str, sorted(s for s in c['seeds'] if s is not None)))})"
            f" on {c['note'].get('output', '?')}: {c['note'].get('why', '')} (`{c['note'].get('command', '?')}`, "
            f"commit {c['note'].get('commit', '?')})" for (label, task), c in changes.items()]


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
