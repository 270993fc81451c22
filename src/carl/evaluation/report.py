"""Evaluation reports: a JSON with every number, and a Markdown table (tasks x models).

A *run* is one :func:`carl.evaluation.tasks.run_tasks` result under a model name. Several
runs with the same name (several training seeds, or probe seeds) are summarised as
``mean ± std (n=k)``, std being the sample standard deviation (ddof = 1); a name with one
run shows its value alone. Nothing is dropped: the JSON keeps each run's full result.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import pathlib
import platform
import sys
from collections.abc import Mapping, Sequence

import numpy as np

from carl.evaluation.task_specs import TASKS, report_metrics_of
from carl.io import atomic_write
from carl.portable import portable, portable_text

__all__ = ["build_report", "machine_info", "markdown_report", "markdown_table", "merge_reports", "summarise",
           "write_report"]

Run = tuple[str, Mapping]


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), else what platform knows."""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    info = {"host": platform.node(), "platform": platform.platform(), "processor": cpu_model(),
            "cpu_count": os.cpu_count(), "python": platform.python_version()}
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except Exception:  # pragma: no cover - torch is a dependency, but a report must never fail on it
        pass
    return info


def machine_label(info: dict | None = None) -> str:
    """One line naming a machine: CPU model, core count and GPU (or "no GPU")."""
    info = machine_info() if info is None else info
    return f"{info.get('processor')}, {info.get('cpu_count')} cores, {info.get('gpu') or 'no GPU'}"


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _tasks_in(runs: Sequence[Run]) -> list[str]:
    seen = [t for _, res in runs for t in res if not t.startswith("_")]
    ordered = [t for t in TASKS if t in seen]
    return ordered + [t for t in dict.fromkeys(seen) if t not in TASKS]


def summarise(runs: Sequence[Run]) -> dict:
    """``{model: {task: {metric: {"mean", "std", "n", "values"}}}}`` over every numeric metric;
    std is the sample std (None for a single value); NaN values are kept in ``values`` and
    make the mean NaN, so a failed correlation is visible rather than averaged away."""
    out: dict = {}
    for name, res in runs:
        for task, metrics in res.items():
            if task.startswith("_") or not isinstance(metrics, Mapping):
                continue
            for metric, value in metrics.items():
                if _is_number(value):
                    out.setdefault(name, {}).setdefault(task, {}).setdefault(metric, []).append(float(value))
    summary: dict = {}
    for name, tasks in out.items():
        for task, metrics in tasks.items():
            for metric, values in metrics.items():
                arr = np.array(values, dtype=np.float64)
                summary.setdefault(name, {}).setdefault(task, {})[metric] = {
                    "mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if len(arr) > 1 else None,
                    "n": len(arr), "values": values}
    return summary


def _cell(stat: Mapping | None, digits: int) -> str:
    if stat is None:
        return "–"
    mean = stat["mean"]
    if math.isnan(mean):
        return "nan"
    if stat["n"] == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {stat['std']:.{digits}f} (n={stat['n']})"


def markdown_table(runs: Sequence[Run], *, digits: int = 3) -> str:
    """Rows: each task's report metrics (``TaskSpec.report_metrics``; ↓ = lower is better);
    columns: model names in first-seen order."""
    summary = summarise(runs)
    models = list(dict.fromkeys(name for name, _ in runs))
    lines = ["| task | metric | " + " | ".join(models) + " |", "|---|---|" + "---|" * len(models)]
    for task in _tasks_in(runs):
        spec = TASKS.get(task)
        present = {m for name in models for m in summary.get(name, {}).get(task, {})}
        metrics = report_metrics_of(task, sorted(present))
        for metric in metrics:
            arrow = " ↓" if spec and metric in spec.lower_is_better else ""
            cells = [_cell(summary.get(name, {}).get(task, {}).get(metric), digits) for name in models]
            lines.append(f"| {task} | {metric}{arrow} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _jsonable(obj):
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, (pathlib.Path,)):
        return str(obj)
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    return obj


def build_report(runs: Sequence[Run], *, arguments: Mapping | None = None, command: str | None = None) -> dict:
    """Everything needed to trust and reproduce the numbers: the arguments, command, date,
    machine, each run (model name, path, full result incl. ``_meta``) and the summary.
    NaN / infinite values are written as ``null`` (JSON has no NaN); paths are written portably
    (carl.portable: no absolute path of this machine)."""
    return portable(_jsonable({
        "format": "carl-evaluation/1",
        "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": command if command is not None else " ".join(["carl", *sys.argv[1:]]),
        "arguments": dict(arguments or {}),
        "machine": machine_info(),
        "runs": [{"name": name, "model": res.get("_meta", {}).get("model"),
                  "model_path": res.get("_meta", {}).get("model_path"), "seed": res.get("_meta", {}).get("seed"),
                  "results": res} for name, res in runs],
        "summary": summarise(runs),
    }))


def runs_of(report: Mapping) -> list[Run]:
    """The (name, result) runs of a report written by :func:`build_report` (nulls read as NaN)."""
    def back(obj):
        if isinstance(obj, Mapping):
            return {k: back(v) for k, v in obj.items()}
        return math.nan if obj is None else obj

    return [(r["name"], {t: (back(m) if not t.startswith("_") else m) for t, m in r["results"].items()})
            for r in report.get("runs", [])]


def merge_reports(reports: Sequence[Mapping]) -> list[Run]:
    """All runs of several saved reports, e.g. one ``carl evaluate`` per training seed, to put
    in one table: ``markdown_table(merge_reports([json.load(f1), json.load(f2)]))``."""
    return [run for report in reports for run in runs_of(report)]


def shown_path(path: str | None, cwd: pathlib.Path | None = None) -> str | None:
    """``path`` relative to the working directory when it lies under it: a grid run from a
    worktree or with an absolute ``--output-dir`` stores absolute paths, and the committed
    table should name the models the way a reader's checkout holds them."""
    if not path or not os.path.isabs(path):
        return path
    return portable_text(os.path.normpath(path), cwd)


def markdown_report(runs: Sequence[Run], report: Mapping) -> str:
    metas = [res.get("_meta", {}) for _, res in runs]
    subsampled = sorted({(m.get("max_train"), m.get("max_eval")) for m in metas if m.get("subsampled")}, key=str)
    lines = ["# Evaluation (frozen-embedding probes, test splits)", "", markdown_table(runs), ""]
    lines.append("↓ lower is better. Several results under one model name: mean ± sample std (n results). "
                 "Protocols: docs/evaluation.md.")
    if subsampled:
        lines.append("")
        lines.append("**Subsampled** (CPU budget; not comparable to full-split numbers): "
                     + "; ".join(f"max_train={a}, max_eval={b}" for a, b in subsampled) + ".")
    split_seeds = sorted({m.get("split_seed") for m in metas}, key=str)
    if len(split_seeds) > 1:
        lines += ["", f"**Different split seeds in one table** ({', '.join(map(str, split_seeds))}): the models "
                      "were not scored on the same test rows of Facebook-VA, TEC, MR, CR and MPQA."]
    notes = list(dict.fromkeys(f"{name}: {m['split_seed_note']}" for (name, _), m in zip(runs, metas)
                               if m.get("split_seed_note")))
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    lines.append("")
    lines.append("| model | path | seed | split seed | trained with split seed |")
    lines.append("|---|---|---|---|---|")
    for (name, _), meta in zip(runs, metas):
        trained = meta.get("model_split_seed")
        lines.append(f"| {name} | `{shown_path(meta.get('model_path'))}` | {meta.get('seed')} | {meta.get('split_seed')} | "
                     f"{'–' if trained is None else trained} |")
    machine = report.get("machine", {})
    lines += ["", f"date: {report.get('created')}; machine: {machine.get('processor')}, "
                  f"{machine.get('cpu_count')} cores{', ' + machine['gpu'] if machine.get('gpu') else ''}; "
                  f"command: `{report.get('command')}`", ""]
    return "\n".join(lines)


def write_report(json_path: str | os.PathLike, runs: Sequence[Run], *, arguments: Mapping | None = None,
                 command: str | None = None) -> tuple[pathlib.Path, pathlib.Path, dict]:
    """Write ``json_path`` and the Markdown beside it (same name, ``.md``), atomically.
    Returns (json path, md path, report)."""
    json_path = pathlib.Path(json_path)
    md_path = json_path.with_suffix(".md")
    report = build_report(runs, arguments=arguments, command=command)
    text = json.dumps(report, indent=1, allow_nan=False)
    atomic_write(json_path, lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))
    md = markdown_report(runs, report)
    atomic_write(md_path, lambda tmp: tmp.write_text(md, encoding="utf-8"))
    return json_path, md_path, report
