"""V-A density per group (``carl plot-va --by COLUMN``): a 2-D histogram per group on a fixed grid,
accumulated batch by batch, drawn as one circumplex panel per group."""

from __future__ import annotations

import math
import os
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from carl.errors import DataError
from carl.evaluation.va_plots.circumplex import circumplex_axes, footnote, label_panels, save_png
from carl.evaluation.va_plots.table import (BATCH_ROWS, DEFAULT_MAX_GROUPS, check_range, iter_score_batches, read_groups, read_scores,
                                            refuse_many_groups)


@dataclass
class GroupDensity:
    """One group's aggregates: ``n`` scored rows, mean V and A, and ``histogram`` (bins x bins,
    valence along axis 0) of the rows inside the plotted range."""

    group: str
    n: int
    mean_valence: float
    mean_arousal: float
    histogram: np.ndarray


@dataclass
class DensityResult:
    path: pathlib.Path | None
    column: str
    groups: list[GroupDensity]
    """Every group, largest first (the first ``max_groups`` are drawn)."""
    plotted: list[str]
    rows: int
    skipped: dict[str, int] = field(default_factory=dict)
    outside_range: int = 0
    value_range: tuple[float, float] = (0.0, 1.0)



def density_by_group(scores: str | os.PathLike, by: str | None, output: str | os.PathLike | None, *, bins: int = 40,
                     max_groups: int = DEFAULT_MAX_GROUPS, value_range: Sequence[float] = (0.0, 1.0),
                     batch_rows: int = BATCH_ROWS) -> DensityResult:
    """Circumplex density of (valence, arousal) per value of column ``by`` (None: one panel for
    the whole table); the ``max_groups`` largest groups are drawn, the rest named in the title.
    ``output=None``: the aggregates only, no figure."""
    path = pathlib.Path(scores)
    lo, hi = check_range(value_range)
    if bins < 2 or max_groups < 1:
        raise DataError(f"bins must be >= 2 and max_groups >= 1 (got {bins}, {max_groups})")
    columns = list(dict.fromkeys(["valence", "arousal"] + ([by] if by else [])))
    index: dict[str, int] = {}
    hist = np.zeros((0, bins, bins), dtype=np.int64)
    sums = np.zeros((0, 3))  # n, sum V, sum A
    rows = unscored = outside = 0
    for batch in iter_score_batches(path, columns, batch_rows=batch_rows):
        rows += batch.num_rows
        v, a, ok = read_scores(batch, path)
        unscored += int((~ok).sum())
        labels = read_groups(batch, by)[ok] if by else np.full(int(ok.sum()), "all", dtype=object)
        v, a = v[ok], a[ok]
        if not len(v):
            continue
        names, codes = np.unique(labels, return_inverse=True)
        for name in names:
            if name not in index:
                index[name] = len(index)
        refuse_many_groups(len(index), by, path)
        codes = np.array([index[n] for n in names])[codes]
        if len(index) > len(sums):
            grow = len(index) - len(sums)
            hist = np.concatenate([hist, np.zeros((grow, bins, bins), dtype=np.int64)])
            sums = np.concatenate([sums, np.zeros((grow, 3))])
        np.add.at(sums, codes, np.stack([np.ones_like(v), v, a], axis=1))
        inside = (v >= lo) & (v <= hi) & (a >= lo) & (a <= hi)
        outside += int((~inside).sum())
        ix = np.minimum(((v[inside] - lo) / (hi - lo) * bins).astype(np.int64), bins - 1)
        iy = np.minimum(((a[inside] - lo) / (hi - lo) * bins).astype(np.int64), bins - 1)
        flat = np.bincount((codes[inside] * bins + ix) * bins + iy, minlength=len(index) * bins * bins)
        hist += flat.reshape(len(index), bins, bins)
    if rows == 0:
        raise DataError("the scored table is empty: nothing to plot", path=path)
    if not index:
        raise DataError(f"none of the {rows} rows has a finite valence and arousal: nothing to plot", path=path)
    groups = [GroupDensity(name, int(sums[i, 0]), float(sums[i, 1] / sums[i, 0]), float(sums[i, 2] / sums[i, 0]),
                           hist[i]) for name, i in index.items()]
    groups.sort(key=lambda g: (-g.n, g.group))
    out = pathlib.Path(output) if output is not None else None
    result = DensityResult(out, by or "", groups, [g.group for g in groups[:max_groups]], rows,
                           {"no valence/arousal": unscored} if unscored else {}, outside, (lo, hi))
    if result.path is not None:
        _draw_density(result, bins)
    return result


def _draw_density(result: DensityResult, bins: int) -> None:
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    lo, hi = result.value_range
    shown = result.groups[:len(result.plotted)]
    cols = min(3, len(shown))
    rows = math.ceil(len(shown) / cols)
    fig = Figure(figsize=(3.3 * cols + 0.6, 3.3 * rows + 0.9), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)).ravel()
    from scipy.ndimage import gaussian_filter

    cmap = colormaps["magma_r"]
    centres = lo + (np.arange(bins) + 0.5) * (hi - lo) / bins
    levels = np.linspace(0.05, 1.0, 11)  # under 5 % of the panel's peak stays white
    mesh = None
    for ax, group in zip(axes, shown):
        # Share of the group's texts per cell (arousal on rows), smoothed by one bin: ratings
        # are averages of a few raters and fall on a lattice, which raw cells show as stripes.
        share = gaussian_filter(group.histogram.T / max(group.n, 1), sigma=1.0, mode="constant")
        peak = share.max() if share.max() > 0 else 1.0
        mesh = ax.contourf(centres, centres, share / peak, levels=levels, cmap=cmap, vmin=0, vmax=1, zorder=1,
                           extend="neither")
        circumplex_axes(ax, lo, hi, labels=True)
        ax.plot(group.mean_valence, group.mean_arousal, marker="X", ms=9, color="#1f77b4", mec="white", mew=1.2,
                zorder=5)
        title = group.group if result.column else "all texts"
        ax.set_title(f"{title}  (n={group.n:,})", fontsize=10)
    label_panels(axes, len(shown), rows, cols)
    if mesh is not None:
        fig.colorbar(mesh, ax=list(axes[:len(shown)]), shrink=0.6, label="density (share of the panel's peak, smoothed)",
                     ticks=[0.05, 0.25, 0.5, 0.75, 1.0])
    heading = f"Valence-arousal density by {result.column}" if result.column else "Valence-arousal density"
    if len(result.groups) > len(shown):
        heading += f": the {len(shown)} largest of {len(result.groups)} groups"
    fig.suptitle(heading, fontsize=12)
    extra = "× = group mean"
    if result.outside_range:
        extra += f"; {result.outside_range:,} points outside [{lo:g}, {hi:g}] left out of the density"
    fig.supxlabel(footnote(result.rows, result.skipped, extra), x=0.01, ha="left", fontsize=7, color="0.35")
    save_png(fig, result.path)

