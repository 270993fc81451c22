"""Figures for reports: embedding maps, V-A circumplex, training curves.

Every function writes one PNG and returns its path. Figures are built with
:class:`matplotlib.figure.Figure` directly (no ``pyplot``), which renders with the Agg
backend without touching matplotlib's global backend or figure registry: safe on a
headless machine, inside a training process, and no figure leaks between calls.
Sizes are fixed (``layout="constrained"``, no tight bbox), so the image aspect is
predictable.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle
from scipy import stats
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from .probes import l2_normalise

__all__ = ["plot_dev_curves", "plot_embeddings_2d", "plot_training_curves", "plot_va_circumplex", "plot_variant_bars"]

_DPI = 120


def _save(fig: Figure, path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=_DPI, format="png")
    return out


# ------------------------------------------------------------------ embeddings 2-D


def _subsample(n: int, max_points: int, seed: int) -> np.ndarray:
    """The same rows for every model, so panels show the same sentences."""
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))


def _project(x: np.ndarray, method: str, seed: int) -> tuple[np.ndarray, tuple[str, str]]:
    """2-D coordinates and axis labels. Rows are L2-normalised first so Euclidean
    t-SNE/PCA reflect the cosine geometry embeddings are used with."""
    xn = l2_normalise(x)
    if method == "pca":
        pca = PCA(n_components=2, random_state=seed).fit(xn)
        ratio = pca.explained_variance_ratio_
        return pca.transform(xn), (f"PC 1 ({ratio[0]:.0%} var.)", f"PC 2 ({ratio[1]:.0%} var.)")
    # Perplexity must be < n; 30 is sklearn's default, shrunk for small samples.
    perplexity = max(1.0, min(30.0, (len(xn) - 1) / 3))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    return tsne.fit_transform(xn), ("t-SNE 1", "t-SNE 2")


def _categorical_colours(n_classes: int) -> list:
    name = "tab10" if n_classes <= 10 else "tab20" if n_classes <= 20 else "turbo"
    cmap = colormaps[name]
    if name == "turbo":
        return [cmap(v) for v in np.linspace(0, 1, n_classes)]
    return [cmap(i) for i in range(n_classes)]


def _check_embeddings(embeddings_by_model: Mapping[str, np.ndarray], n_labels: int) -> dict[str, np.ndarray]:
    if not embeddings_by_model:
        raise ValueError("embeddings_by_model is empty; pass at least one {name: embeddings}")
    checked = {}
    for name, emb in embeddings_by_model.items():
        arr = np.asarray(emb, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] < 2:
            raise ValueError(f"embeddings for {name!r} must be 2-D (n, dim >= 2); got shape {arr.shape}")
        if arr.shape[0] != n_labels:
            raise ValueError(f"embeddings for {name!r} have {arr.shape[0]} rows but colour_by has {n_labels}")
        checked[name] = arr
    if n_labels < 3:
        raise ValueError(f"need at least 3 points to draw a 2-D map; got {n_labels}")
    return checked


def plot_embeddings_2d(
    embeddings_by_model: Mapping[str, np.ndarray],
    *,
    colour_by: np.ndarray,
    colour_kind: Literal["categorical", "continuous"],
    colour_name: str,
    path,
    method: Literal["tsne", "pca"] = "tsne",
    seed: int = 0,
    max_points: int = 2000,
) -> Path:
    """Side-by-side 2-D maps of several models' embeddings of the same sentences.

    One panel per model (e.g. ``{"frozen MiniLM": a, "CARL": b}``), all coloured by the
    same ``colour_by`` (discrete emotion -> legend; valence or arousal -> shared
    colorbar), so a reader can see whether fine-tuning organised the space by affect.
    t-SNE (sklearn, ``init="pca"``, seeded) by default; ``method="pca"`` is a fast,
    deterministic, distance-faithful alternative. At most ``max_points`` rows, the same
    random subset for every model. t-SNE axes have no units, so their ticks are hidden.
    """
    if colour_kind not in ("categorical", "continuous"):
        raise ValueError(f"colour_kind must be 'categorical' or 'continuous'; got {colour_kind!r}")
    if method not in ("tsne", "pca"):
        raise ValueError(f"method must be 'tsne' or 'pca'; got {method!r}")
    colours = np.asarray(colour_by)
    if colours.ndim != 1:
        raise ValueError(f"colour_by must be 1-D (one value per row); got shape {colours.shape}")
    models = _check_embeddings(embeddings_by_model, len(colours))
    if colour_kind == "continuous":
        colours = colours.astype(np.float64)
        if not np.all(np.isfinite(colours)):
            raise ValueError("continuous colour_by contains NaN or infinite values")

    idx = _subsample(len(colours), int(max_points), seed)
    colours = colours[idx]
    k = len(models)
    fig = Figure(figsize=(4.6 * k + 2.2, 4.9), layout="constrained")
    axes = fig.subplots(1, k, squeeze=False)[0]
    norm = Normalize(vmin=colours.min(), vmax=colours.max()) if colour_kind == "continuous" else None
    classes = np.unique(colours) if colour_kind == "categorical" else None
    mappable = None
    for ax, (name, emb) in zip(axes, models.items()):
        xy, (xlabel, ylabel) = _project(emb[idx], method, seed)
        if classes is not None:
            for cls, colour in zip(classes, _categorical_colours(len(classes))):
                sel = colours == cls
                ax.scatter(xy[sel, 0], xy[sel, 1], s=9, alpha=0.75, color=colour, label=str(cls), linewidths=0)
        else:
            mappable = ax.scatter(xy[:, 0], xy[:, 1], s=9, alpha=0.8, c=colours, cmap="viridis", norm=norm,
                                  linewidths=0)
        ax.set_title(name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if method == "tsne":
            ax.set_xticks([])
            ax.set_yticks([])
    if classes is not None:
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, title=colour_name, loc="outside right center", markerscale=2,
                   ncols=1 if len(classes) <= 16 else 2, fontsize="small")
    else:
        fig.colorbar(mappable, ax=list(axes), label=colour_name, shrink=0.9)
    method_name = "t-SNE" if method == "tsne" else "PCA"
    fig.suptitle(f"{method_name} of sentence embeddings, coloured by {colour_name} (n = {len(idx)})")
    return _save(fig, path)


# ------------------------------------------------------------------ V-A circumplex

# Russell's circumplex, quadrant by quadrant (valence x, arousal y, centre 0.5).
_QUADRANTS = (
    (0.97, 0.97, "excited / happy", "right", "top"),
    (0.03, 0.97, "angry / afraid", "left", "top"),
    (0.03, 0.03, "sad / bored", "left", "bottom"),
    (0.97, 0.03, "calm / relaxed", "right", "bottom"),
)


def _check_va(arr, name: str) -> np.ndarray:
    va = np.asarray(arr, dtype=np.float64)
    if va.ndim != 2 or va.shape[1] != 2:
        raise ValueError(f"{name} must have shape (n, 2) (valence, arousal); got {va.shape}")
    if va.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(va)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return va


def _va_limits(*arrays: np.ndarray) -> tuple[float, float]:
    """[0, 1] plus a margin, widened if a (Ridge) prediction falls outside it."""
    lo = min(0.0, *(a.min() for a in arrays))
    hi = max(1.0, *(a.max() for a in arrays))
    return lo - 0.04, hi + 0.04


def _draw_circumplex(ax, pred: np.ndarray, gold: np.ndarray, max_arrows: int, seed: int) -> None:
    lims = _va_limits(pred, gold)
    ax.axhline(0.5, color="0.4", lw=0.9, zorder=0)
    ax.axvline(0.5, color="0.4", lw=0.9, zorder=0)
    for x, y, text, ha, va in _QUADRANTS:
        ax.text(x, y, text, transform=ax.transAxes, ha=ha, va=va, fontsize=9, color="0.2", style="italic",
                zorder=4, bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8})
    # The circumplex itself: a circle around the neutral centre.
    ax.add_patch(Circle((0.5, 0.5), 0.5, fill=False, ls=":", lw=0.9, color="0.5", zorder=0))
    arrows = _subsample(len(gold), max_arrows, seed)
    d = pred[arrows] - gold[arrows]
    ax.quiver(gold[arrows, 0], gold[arrows, 1], d[:, 0], d[:, 1], angles="xy", scale_units="xy", scale=1,
              width=0.003, headwidth=4, headlength=5, color="0.45", alpha=0.6, zorder=1)
    ax.scatter(gold[:, 0], gold[:, 1], s=12, color="tab:blue", alpha=0.7, label="gold", zorder=2, linewidths=0)
    ax.scatter(pred[:, 0], pred[:, 1], s=12, color="tab:orange", alpha=0.7, label="predicted", zorder=3,
               linewidths=0)
    ax.set_xlim(lims)
    ax.set_ylim(lims)
    ax.set_aspect("equal")
    ax.set_xlabel("valence (unpleasant -> pleasant)")
    ax.set_ylabel("arousal (calm -> activated)")
    ax.set_title("valence-arousal plane")
    handles, labels = ax.get_legend_handles_labels()
    # quiver has no legend artist of its own; a gray line stands in for the arrows.
    handles.append(Line2D([], [], color="0.45", lw=1.2, marker=">", markevery=[1], ms=5))
    labels.append(f"gold -> predicted ({len(arrows)} of {len(gold)} shown)")
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=3, fontsize="small",
              frameon=False)


def _draw_dimension(ax, pred: np.ndarray, gold: np.ndarray, name: str, lims: tuple[float, float]) -> None:
    """Per-dimension predicted-vs-gold scatter with the identity line and correlations."""
    ax.plot(lims, lims, color="0.4", lw=0.9, ls="--", label="perfect (y = x)")
    ax.scatter(gold, pred, s=9, alpha=0.6, color="tab:purple", linewidths=0)
    if len(gold) > 1 and np.ptp(gold) > 0 and np.ptp(pred) > 0:
        r, rho = stats.pearsonr(gold, pred)[0], stats.spearmanr(gold, pred)[0]
        ax.set_title(f"{name}: Pearson {r:.3f}, Spearman {rho:.3f}", fontsize=10)
    else:
        ax.set_title(f"{name} (correlation undefined)", fontsize=10)
    ax.set_xlim(lims)
    ax.set_ylim(lims)
    ax.set_aspect("equal")
    ax.set_xlabel(f"gold {name}")
    ax.set_ylabel(f"predicted {name}")
    ax.legend(loc="upper left", fontsize="small")


def plot_va_circumplex(
    pred_va: np.ndarray, gold_va: np.ndarray, *, path, title: str, max_arrows: int = 150, seed: int = 0
) -> Path:
    """Predicted vs gold valence-arousal on Russell's circumplex, plus V and A scatters.

    Left: the V-A plane (valence x, arousal y, both normalised to [0, 1], neutral
    centre 0.5) with the circumplex axes, quadrant names, gold and predicted points and
    gray arrows gold -> predicted for up to ``max_arrows`` random items (all of them
    would be unreadable). Right: predicted vs gold per dimension with y = x and the
    Pearson/Spearman r, so a reader sees regression to the mean at a glance.
    """
    pred, gold = _check_va(pred_va, "pred_va"), _check_va(gold_va, "gold_va")
    if pred.shape != gold.shape:
        raise ValueError(f"pred_va has {len(pred)} rows but gold_va has {len(gold)}; they must match")
    fig = Figure(figsize=(15, 5.6), layout="constrained")
    grid = fig.add_gridspec(1, 3, width_ratios=(1.25, 1, 1))
    _draw_circumplex(fig.add_subplot(grid[0]), pred, gold, int(max_arrows), seed)
    lims = _va_limits(pred, gold)
    _draw_dimension(fig.add_subplot(grid[1]), pred[:, 0], gold[:, 0], "valence", lims)
    _draw_dimension(fig.add_subplot(grid[2]), pred[:, 1], gold[:, 1], "arousal", lims)
    fig.suptitle(f"{title} (n = {len(gold)})")
    return _save(fig, path)


# ------------------------------------------------------------------ training curves


def _is_number(value) -> bool:
    """Finite real number, numpy scalars included; bools and strings are not metrics."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)


def _series(rows: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) for rows holding a finite number under ``key``; others skipped."""
    steps, values = [], []
    for row in rows:
        value = row.get(key)
        if _is_number(value):
            steps.append(row["step"])
            values.append(float(value))
    order = np.argsort(steps, kind="stable")
    return np.asarray(steps, dtype=np.float64)[order], np.asarray(values)[order]


def _smooth(values: np.ndarray) -> np.ndarray:
    """Centred running mean over ~2 % of the points: shows the trend of noisy losses."""
    window = max(1, len(values) // 50) | 1  # odd
    if window == 1:
        return values
    padded = np.pad(values, window // 2, mode="edge")
    return np.convolve(padded, np.ones(window) / window, mode="valid")


def _check_rows(metrics_rows: Iterable[dict]) -> list[dict]:
    rows = list(metrics_rows)
    if not rows:
        raise ValueError("metrics_rows is empty; nothing to plot")
    for n, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"metrics_rows[{n}] is {type(row).__name__}, expected a dict")
        step = row.get("step")
        if not _is_number(step):
            raise ValueError(f"metrics_rows[{n}] has no numeric 'step' (got {step!r}); every row needs one")
    return rows


def plot_training_curves(
    metrics_rows: list[dict], *, path, keys: Iterable[str] = ("loss", "loss_mccl", "loss_ptd")
) -> Path:
    """Training losses over steps, and dev metrics (keys starting ``"dev/"``) beside them.

    ``metrics_rows`` are the JSONL log rows; each needs a numeric ``"step"``. A key may
    be missing (or non-numeric) in some rows, e.g. dev metrics logged every N steps;
    those rows are skipped for that key only. Losses are drawn faintly with a running
    mean on top when there are many points; dev metrics get their own panel (a different
    scale) with markers, since they are sparse.
    """
    rows = _check_rows(metrics_rows)
    loss_series = {k: _series(rows, k) for k in keys}
    loss_series = {k: s for k, s in loss_series.items() if len(s[0])}
    dev_keys = sorted({k for row in rows for k in row if isinstance(k, str) and k.startswith("dev/")})
    dev_series = {k: s for k in dev_keys if len((s := _series(rows, k))[0])}
    if not loss_series and not dev_series:
        raise ValueError(f"none of the keys {list(keys)} nor any 'dev/' metric holds a number in metrics_rows")

    panels = int(bool(loss_series)) + int(bool(dev_series))
    fig = Figure(figsize=(6.4 * panels, 4.6), layout="constrained")
    axes = list(fig.subplots(1, panels, squeeze=False)[0])
    if loss_series:
        ax = axes.pop(0)
        for n, (key, (steps, values)) in enumerate(loss_series.items()):
            colour = f"C{n}"
            smoothed = _smooth(values)
            if smoothed is values:
                ax.plot(steps, values, color=colour, lw=1.4, label=key)
            else:
                ax.plot(steps, values, color=colour, lw=0.7, alpha=0.3)
                ax.plot(steps, smoothed, color=colour, lw=1.6, label=f"{key} (running mean)")
        ax.set_title("training losses")
        ax.set_xlabel("optimiser step")
        ax.set_ylabel("loss")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    if dev_series:
        ax = axes.pop(0)
        for key, (steps, values) in dev_series.items():
            ax.plot(steps, values, marker="o", ms=4, lw=1.3, label=key.removeprefix("dev/"))
        ax.set_title("dev metrics")
        ax.set_xlabel("optimiser step")
        ax.set_ylabel("value")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle("Training curves")
    return _save(fig, path)


# ------------------------------------------------------------------ grids of variants


def plot_variant_bars(found, headline: Mapping[str, str], path) -> Path:
    """One panel per task: its headline metric for every variant, mean with a sample-std
    error bar over the variant's runs (``found``: ``(label, result, record)`` triples, as
    :func:`carl.reproduce.collect` returns them). A dashed line marks the first label
    (the frozen encoder), so gains and losses against it read at a glance."""
    return _save(variant_bars_figure(found, headline), path)


def variant_bars_figure(found, headline: Mapping[str, str]) -> Figure:
    """The figure :func:`plot_variant_bars` saves."""
    labels = list(dict.fromkeys(label for label, _, _ in found))
    tasks = [t for t in headline if any(t in res for _, res, _ in found)]
    if not labels or not tasks:
        raise ValueError("nothing to plot: no finished evaluation holds a headline task")
    cols = min(4, len(tasks))
    rows = math.ceil(len(tasks) / cols)
    fig = Figure(figsize=(4.2 * cols, 0.28 * len(labels) * rows + 1.6 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    y = np.arange(len(labels))
    for ax, task in zip(axes, tasks):
        metric = headline[task]
        means, stds = [], []
        for label in labels:
            values = [res[task][metric] for lab, res, _ in found if lab == label and task in res
                      and _is_number(res[task].get(metric))]
            means.append(np.mean(values) if values else np.nan)
            stds.append(np.std(values, ddof=1) if len(values) > 1 else 0.0)
        ax.barh(y, means, xerr=stds, color=[f"C{i % 10}" for i in range(len(labels))], alpha=0.8, capsize=2)
        if np.isfinite(means[0]):
            ax.axvline(means[0], color="k", ls="--", lw=0.8)
        finite = [m for m in means if np.isfinite(m)]
        if finite:
            spread = max(finite) - min(finite)
            ax.set_xlim(min(finite) - spread - 0.01, max(finite) + spread + 0.01)
        ax.set_yticks(y, labels, fontsize="small")
        ax.invert_yaxis()
        # two lines: "dailydialog: macro_f1_without_no_emotion" on one is wider than its panel and ran off the figure
        ax.set_title(f"{task}\n{metric.replace('_', ' ')}", fontsize="medium", wrap=True)
        ax.grid(axis="x", alpha=0.3)
    for ax in axes[len(tasks):]:
        ax.set_visible(False)
    fig.suptitle("Test metric per variant (mean ± std over training seeds; dashed: frozen encoder)")
    return fig


def plot_dev_curves(curves: Mapping[str, list[dict]], path, key: str = "dev/va_pearson",
                    title: str = "Dev V-A Pearson during training (first seed of each variant)") -> Path:
    """Dev V-A Pearson (the checkpoint-selection signal) over steps, one line per variant."""
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.subplots()
    drawn = 0
    for n, (label, rows) in enumerate(curves.items()):
        steps, values = _series(_check_rows(rows), key)
        if len(steps):
            ax.plot(steps, values, marker="o", ms=3, lw=1.2, color=f"C{n % 10}",
                    ls="-" if n < 10 else "--", label=label)
            drawn += 1
    if not drawn:
        raise ValueError(f"no run logged {key!r}; nothing to plot")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel(key.removeprefix("dev/"))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small", ncol=2)
    return _save(fig, path)


def plot_loss_curves(curves: Mapping[str, Mapping[int, Sequence[float]]], path,
                     title: str = "Training loss (line: mean over training seeds; band: their range)") -> Path:
    """Each variant's logged training loss over steps, one panel per variant: objectives differ in scale
    (a contrastive loss near 5, SimCSE's near 0.01), so each panel has its own y axis.

    ``curves``: ``{label: {step: [loss of each seed at that step]}}``.
    """
    drawn = {label: by_step for label, by_step in curves.items() if by_step}
    if not drawn:
        raise ValueError("no run logged a training loss; nothing to plot")
    columns = min(3, len(drawn))
    rows = -(-len(drawn) // columns)
    fig = Figure(figsize=(3.6 * columns, 2.6 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
    for n, (ax, (label, by_step)) in enumerate(zip(axes, drawn.items())):
        steps = np.array(sorted(by_step))
        values = [np.asarray(by_step[step], dtype=float) for step in steps]
        mean = np.array([v.mean() for v in values])
        ax.fill_between(steps, [v.min() for v in values], [v.max() for v in values], color=f"C{n % 10}", alpha=0.25,
                        lw=0)
        ax.plot(steps, mean, color=f"C{n % 10}", lw=1.2)
        seeds = max(len(v) for v in values)
        ax.set_title(f"{label} ({seeds} seed{'s' if seeds != 1 else ''})", fontsize="small")
        ax.set_xlabel("optimiser step", fontsize="small")
        ax.set_ylabel("loss", fontsize="small")
        ax.tick_params(labelsize="x-small")
        ax.grid(alpha=0.3)
    for ax in axes[len(drawn):]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize="medium")
    return _save(fig, path)

