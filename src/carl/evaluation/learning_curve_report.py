"""Learning curves, the report side: the Markdown table, the plot, the files, and ``carl evaluate
--learning-curve`` itself (:mod:`carl.evaluation.learning_curves` computes the curves)."""

from __future__ import annotations

import json
import os
import pathlib
import re
from collections.abc import Mapping, Sequence

import numpy as np

from carl.errors import CarlError
from carl.evaluation.embedding_store import EmbeddingStore
from carl.evaluation.learning_curves import CURVE_KINDS, learning_curve, parse_sizes
from carl.evaluation.plots import _save
from carl.evaluation.report import machine_info
from carl.evaluation.task_specs import task_spec
from carl.evaluation.tasks import package_versions
from carl.io import atomic_write

__all__ = ["curve_markdown", "learning_curves_command", "plot_learning_curve", "write_learning_curves"]

_METRIC_LABEL = {"macro_f1": "macro-F1", "accuracy": "accuracy", "pearson_mean": "mean Pearson r (V, A)"}


def _fmt(entry: Mapping, signed: bool = False) -> str:
    band = entry.get("interval") or entry.get("draw_interval")
    value = f"{entry['mean']:+.3f}" if signed else f"{entry['mean']:.3f}"
    if not band:
        return value
    lo, hi = (f"{v:+.3f}" if signed else f"{v:.3f}" for v in band)
    return f"{value} [{lo}, {hi}]"


def curve_markdown(curve: Mapping) -> str:
    """A Markdown section: one row per n, each model's metric and each gap with its interval."""
    metric = curve["metric"]
    ref = curve["reference"]
    names = [m["name"] for m in curve["models"]]
    others = [n for n in names if n != ref]
    pct = round(curve["confidence"] * 100)
    lines = [f"### Learning curve: {curve['task']}", "",
             f"{curve['description']}. Probe fitted on n train texts ({curve['draws']} seeded draws per n; the "
             f"full train split, {curve['n_train_pool']:,} texts, once), hyper-parameter chosen on dev "
             f"({curve['n_dev']:,} texts), scored on the fixed test split ({curve['n_test']:,} texts). "
             f"Test {_METRIC_LABEL.get(metric, metric)}: mean over draws [{pct} % interval: {curve['interval']}]; "
             f"gaps to **{ref}** on paired draws.", ""]
    header = ["n", "draws", *[f"{n} {_METRIC_LABEL.get(metric, metric)}" for n in names],
              *[f"{n} − {ref}" for n in others]]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for p in curve["points"]:
        n = f"{p['n']:,}" + (" (all)" if p["all_of_train"] else "")
        cells = [n, str(p["draws"]), *[_fmt(p["models"][m][metric]) for m in names],
                 *[_fmt(p["gap"][m], signed=True) for m in others]]
        lines.append("| " + " | ".join(cells) + " |")
    for name, s in curve["summary"].items():
        band = s["gap_interval_at_largest_n"]
        lines += ["", f"- **{name}** vs {ref}: the gap is highest at n = {s['largest_gap_n']:,} "
                      f"({s['largest_gap']:+.3f}); at the largest n ({s['largest_n']:,}) it is "
                      f"{s['gap_at_largest_n']:+.3f}" + (f" [{band[0]:+.3f}, {band[1]:+.3f}]" if band else "")
                      + f", {s['at_largest_n']}."]
    return "\n".join(lines) + "\n"


def plot_learning_curve(curve: Mapping, path: str | os.PathLike) -> pathlib.Path:
    """PNG: each model's metric against n (log scale) with its interval band; below it, each
    model's gap to the reference with its band and the zero line."""
    from matplotlib.figure import Figure


    metric = curve["metric"]
    ref = curve["reference"]
    names = [m["name"] for m in curve["models"]]
    others = [n for n in names if n != ref]
    ns = np.array([p["n"] for p in curve["points"]], dtype=float)
    fig = Figure(figsize=(7.5, 7.0 if others else 4.5), layout="constrained")
    axes = fig.subplots(2 if others else 1, 1, sharex=True, squeeze=False)[:, 0]
    colours = {name: f"C{i}" for i, name in enumerate(names)}

    def band(entries):
        lo = [(e.get("interval") or e.get("draw_interval") or [e["mean"]] * 2)[0] for e in entries]
        hi = [(e.get("interval") or e.get("draw_interval") or [e["mean"]] * 2)[1] for e in entries]
        return np.array(lo), np.array(hi)

    ax = axes[0]
    for name in names:
        entries = [p["models"][name][metric] for p in curve["points"]]
        mean = np.array([e["mean"] for e in entries])
        lo, hi = band(entries)
        ax.fill_between(ns, lo, hi, color=colours[name], alpha=0.2, linewidth=0)
        ax.plot(ns, mean, "o-", color=colours[name], label=name + (" (reference)" if name == ref else ""), ms=4)
    ax.set_ylabel(f"test {_METRIC_LABEL.get(metric, metric)}")
    pct = round(curve["confidence"] * 100)
    title = pathlib.Path(curve["table"]).name if curve.get("table") else curve["task"]
    ax.set_title(f"{title}: probe on n labelled texts ({curve['draws']} draws per n, test {curve['n_test']:,} "
                 f"texts)\nbands: {pct} % {curve['interval']}", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(True, which="both", alpha=0.3)
    if others:
        ax = axes[1]
        ax.axhline(0, color="black", linewidth=0.8)
        for name in others:
            entries = [p["gap"][name] for p in curve["points"]]
            mean = np.array([e["mean"] for e in entries])
            lo, hi = band(entries)
            ax.fill_between(ns, lo, hi, color=colours[name], alpha=0.2, linewidth=0)
            ax.plot(ns, mean, "o-", color=colours[name], label=f"{name} − {ref}", ms=4)
        ax.set_ylabel(f"gap in {_METRIC_LABEL.get(metric, metric)}")
        ax.legend(fontsize=8, loc="best")
        ax.grid(True, which="both", alpha=0.3)
    from matplotlib.ticker import FixedLocator, NullLocator

    axes[-1].set_xscale("log")
    axes[-1].xaxis.set_major_locator(FixedLocator(ns))
    axes[-1].xaxis.set_minor_locator(NullLocator())
    axes[-1].set_xticklabels(_tick_labels(ns))
    axes[-1].set_xlabel("labelled train texts n (log scale; the last point is the whole train split)")
    return _save(fig, path)


def _tick_labels(ns: Sequence[float]) -> list[str]:
    """Short labels for the sizes; the whole split drops to a second line when it sits within a factor 2 of the
    last drawn size (39.6k beside 30k), where the two labels would overlap on the log axis."""
    labels = [_short(int(n)) for n in ns]
    if len(ns) >= 2 and ns[-1] < 2 * ns[-2]:
        labels[-1] = "\n" + labels[-1]
    return labels


def _short(n: int) -> str:
    """100 -> "100", 3000 -> "3k", 79999 -> "80.0k", 1000000 -> "1M"."""
    for unit, div in (("M", 1_000_000), ("k", 1_000)):
        if n >= div:
            value = n / div
            return f"{value:g}{unit}" if value == int(value) else f"{value:.1f}{unit}"
    return str(n)


def _slug(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z._-]+", "_", pathlib.Path(text).name if "/" in text else text).strip("_")[:60] or "task"


def write_learning_curves(output: str | os.PathLike, curves: Sequence[Mapping], *, arguments: Mapping,
                          plots_dir: str | os.PathLike | None = None) -> tuple[pathlib.Path, pathlib.Path, list]:
    """``output`` (.json): every curve; beside it the Markdown (.md); one PNG per task, named
    ``<output stem>.<task>.png``, beside the JSON or in ``plots_dir``."""

    output = pathlib.Path(output)
    folder = pathlib.Path(plots_dir) if plots_dir is not None else output.parent
    plots = [plot_learning_curve(c, folder / f"{output.stem}.{_slug(c['task'])}.png") for c in curves]
    machine = {k: v for k, v in machine_info().items() if k != "host"}
    report = {"learning_curves": list(curves), "plots": [p.name for p in plots], "arguments": dict(arguments),
              "machine": machine, "versions": package_versions()}
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(output, lambda tmp: tmp.write_text(json.dumps(report, indent=1) + "\n"))
    links = [pathlib.Path(os.path.relpath(p, output.parent)).as_posix() for p in plots]
    md = "\n".join(curve_markdown(c) + f"\n![{c['task']}]({link})\n" for c, link in zip(curves, links))
    md_path = output.with_suffix(".md")
    atomic_write(md_path, lambda tmp: tmp.write_text(md))
    return output, md_path, plots


def learning_curves_command(models: Sequence[tuple[str, str]], tasks_arg: str, task_names: Sequence[str], *,
                            output: pathlib.Path, data_dir, seeds: Sequence[int], max_train, max_eval, split_seed: int,
                            plots_dir, cache, batch_size: int, sizes, draws: int, reference, bootstrap: int) -> None:
    """``carl evaluate --learning-curve``: one curve per task; JSON + Markdown + plots; prints the tables."""
    import sys

    import typer


    if tasks_arg.strip() == "all":
        raise CarlError("--learning-curve needs --tasks: one or more classification or V-A tasks, or your table, "
                        "e.g. --tasks sentiment140 or --tasks mine.csv:text=body,label=topic")
    wrong = [n for n in task_names if task_spec(n).kind not in CURVE_KINDS]
    if wrong:
        raise CarlError(f"--learning-curve: task(s) {', '.join(wrong)} have no learning curve; it takes "
                        "classification and V-A regression tasks (e.g. sentiment140, sst2, emobank) and your tables")
    if max_train is not None:
        raise CarlError("--max-train does not apply to --learning-curve: --sizes sets the train sizes")
    if len(seeds) > 1:
        raise CarlError("--learning-curve takes one --seed (the seed of its draws); --draws sets how many draws")
    if int(bootstrap) < 0:
        raise CarlError(f"--bootstrap must be 0 or more; got {bootstrap}")
    size_list = parse_sizes(sizes)
    stores = {}
    for _, path in models:
        if path not in stores:
            stores[path] = EmbeddingStore(path, cache, batch_size=batch_size)  # fails early on a bad path

    def say(message: str) -> None:
        typer.echo(message, err=True)

    curves = []
    for name in task_names:
        say(f"learning curve on {name}...")
        curves.append(learning_curve(models, name, data_dir, sizes=size_list, draws=draws, reference=reference,
                                     seed=seeds[0], split_seed=split_seed, max_eval=max_eval, bootstrap=bootstrap,
                                     cache_dir=cache, batch_size=batch_size, stores=stores, progress=say))
    arguments = {"command": "carl " + " ".join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith("carl") else None,
                 "models": [{"name": n, "path": p} for n, p in models], "tasks": list(task_names),
                 "sizes": size_list, "draws": int(draws), "reference": reference, "bootstrap": int(bootstrap),
                 "seed": seeds[0], "split_seed": split_seed, "max_eval": max_eval, "batch_size": batch_size,
                 "cache": cache is not None}
    json_path, md_path, plots = write_learning_curves(output, curves, arguments=arguments, plots_dir=plots_dir)
    typer.echo(md_path.read_text())
    typer.echo(f"written: {json_path}, {md_path}, " + ", ".join(str(p) for p in plots))
