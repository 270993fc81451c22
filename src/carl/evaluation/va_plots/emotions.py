"""Points coloured by their dominant emotion (``carl plot-va --colour-by-emotion``): the texts on the
circumplex, coloured by column ``emotion_1`` (``carl predict-va --emotions``), each emotion's mean marked.
A uniform sample of at most ``max_points`` rows is drawn (kept batch by batch with random keys), while
counts and means use every row."""

from __future__ import annotations

import math
import os
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from carl.errors import DataError
from carl.evaluation.va_plots.circumplex import circumplex_axes, footnote, label_panels, save_png
from carl.evaluation.va_plots.table import (BATCH_ROWS, DEFAULT_MAX_GROUPS, EMOTION_COLUMN, check_range,
                                            iter_score_batches, read_groups, read_scores, refuse_many_groups)

DEFAULT_MAX_POINTS = 20_000
MAX_COLOURED_EMOTIONS = 10
"""Emotions with their own colour (the most frequent); the rest are drawn grey as "other"."""
EMOTION_COLOURS = {"anger": "#d62728", "disgust": "#2ca02c", "fear": "#9467bd", "joy": "#f2a900",
                   "sadness": "#1f77b4", "surprise": "#17becf", "neutral": "#8c8c8c", "love": "#e377c2"}
"""Fixed colours of Ekman's labels (and CARER's love); other labels take tab20's colours in turn."""
OTHER_EMOTIONS = "other"
MIN_MEAN_TEXTS = 5
"""An emotion's mean is marked in a panel only when it has at least this many texts there (one point's
"mean" would hide the point)."""


@dataclass
class EmotionStats:
    """One emotion within one group: ``n`` scored rows and their mean V and A (every row, not the sample)."""

    group: str
    emotion: str
    n: int
    mean_valence: float
    mean_arousal: float


@dataclass
class EmotionScatterResult:
    path: pathlib.Path | None
    column: str
    """The ``--by`` column ("" for one panel)."""
    stats: list[EmotionStats]
    """Every (group, emotion), by group (largest first) then emotion (most frequent first)."""
    groups: list[str]
    """Every group, largest first (the first ``max_groups`` are drawn)."""
    plotted: list[str]
    points: dict
    """The drawn sample: ``valence``, ``arousal`` (float arrays), ``emotion``, ``group`` (object arrays)."""
    rows: int
    skipped: dict[str, int] = field(default_factory=dict)
    outside_range: int = 0
    value_range: tuple[float, float] = (0.0, 1.0)
    max_points: int = DEFAULT_MAX_POINTS
    sampled: bool = False
    """True when more points were in range than ``max_points``: a uniform sample of them is drawn."""

    def counts(self, group: str | None = None) -> dict[str, int]:
        """Rows per emotion (of one group, or of the whole table), most frequent first."""
        out: dict[str, int] = {}
        for st in self.stats:
            if group is None or st.group == group:
                out[st.emotion] = out.get(st.emotion, 0) + st.n
        return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


def scatter_by_emotion(scores: str | os.PathLike, output: str | os.PathLike | None, *, by: str | None = None,
                       max_groups: int = DEFAULT_MAX_GROUPS, max_points: int = DEFAULT_MAX_POINTS,
                       value_range: Sequence[float] = (0.0, 1.0), seed: int = 0,
                       batch_rows: int = BATCH_ROWS) -> EmotionScatterResult:
    """The texts of a scored table as (valence, arousal) points coloured by :data:`EMOTION_COLUMN`;
    one panel, or one per value of ``by`` (its ``max_groups`` largest). At most ``max_points``
    points are drawn, a uniform sample (seeded random keys, the smallest kept batch by batch);
    counts and per-emotion means use every scored row. A null emotion is ``(missing)``.
    ``output=None``: the aggregates and the sample only, no figure."""
    path = pathlib.Path(scores)
    lo, hi = check_range(value_range)
    if max_groups < 1 or max_points < 1:
        raise DataError(f"max_groups and max_points must be >= 1 (got {max_groups}, {max_points})")
    columns = list(dict.fromkeys(["valence", "arousal", EMOTION_COLUMN] + ([by] if by else [])))
    rng = np.random.default_rng(seed)
    sums: dict[tuple[str, str], np.ndarray] = {}
    keys = np.zeros(0)
    sample = {"valence": np.zeros(0), "arousal": np.zeros(0), "emotion": np.zeros(0, dtype=object),
              "group": np.zeros(0, dtype=object)}
    rows = unscored = outside = drawable = 0
    for batch in iter_score_batches(path, columns, batch_rows=batch_rows):
        rows += batch.num_rows
        v, a, ok = read_scores(batch, path)
        unscored += int((~ok).sum())
        emotions = read_groups(batch, EMOTION_COLUMN)[ok]
        groups = read_groups(batch, by)[ok] if by else np.full(int(ok.sum()), "all", dtype=object)
        v, a = v[ok], a[ok]
        if not len(v):
            continue
        group_names, group_codes = np.unique(groups, return_inverse=True)
        emotion_names, emotion_codes = np.unique(emotions, return_inverse=True)
        totals = np.zeros((len(group_names) * len(emotion_names), 3))
        np.add.at(totals, group_codes * len(emotion_names) + emotion_codes, np.stack([np.ones_like(v), v, a], axis=1))
        for code in np.flatnonzero(totals[:, 0]):
            pair = (str(group_names[code // len(emotion_names)]), str(emotion_names[code % len(emotion_names)]))
            sums[pair] = sums.get(pair, np.zeros(3)) + totals[code]
        refuse_many_groups(len({g for g, _ in sums}), by, path)
        inside = (v >= lo) & (v <= hi) & (a >= lo) & (a <= hi)
        outside += int((~inside).sum())
        drawable += int(inside.sum())
        batch_keys = rng.random(int(inside.sum()))
        keys = np.concatenate([keys, batch_keys])
        for name, values in (("valence", v), ("arousal", a), ("emotion", emotions), ("group", groups)):
            sample[name] = np.concatenate([sample[name], values[inside]])
        if len(keys) > max_points:
            keep = np.sort(np.argpartition(keys, max_points - 1)[:max_points])
            keys = keys[keep]
            sample = {name: values[keep] for name, values in sample.items()}
    if rows == 0:
        raise DataError("the scored table is empty: nothing to plot", path=path)
    if not sums:
        raise DataError(f"none of the {rows} rows has a finite valence and arousal: nothing to plot", path=path)
    group_n: dict[str, int] = {}
    for (group, _), total in sums.items():
        group_n[group] = group_n.get(group, 0) + int(total[0])
    order = sorted(group_n, key=lambda g: (-group_n[g], g))
    rank = {g: i for i, g in enumerate(order)}
    stats = sorted((EmotionStats(g, e, int(t[0]), float(t[1] / t[0]), float(t[2] / t[0]))
                    for (g, e), t in sums.items()), key=lambda st: (rank[st.group], -st.n, st.emotion))
    out = pathlib.Path(output) if output is not None else None
    result = EmotionScatterResult(out, by or "", stats, order, order[:max_groups], sample, rows,
                                  {"no valence/arousal": unscored} if unscored else {}, outside, (lo, hi), max_points,
                                  sampled=drawable > max_points)
    if result.path is not None:
        _draw_scatter(result)
    return result


def emotion_colours(emotions: Sequence[str]) -> dict[str, str]:
    """A colour per emotion of ``emotions`` (most frequent first): Ekman's fixed ones, then tab20's;
    beyond :data:`MAX_COLOURED_EMOTIONS` emotions the rest are :data:`OTHER_EMOTIONS`, grey."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    spare = iter([to_hex(c) for c in colormaps["tab20"].colors if to_hex(c) not in EMOTION_COLOURS.values()])
    return {e: EMOTION_COLOURS.get(e) or next(spare) for e in emotions[:MAX_COLOURED_EMOTIONS]}


def _draw_scatter(result: EmotionScatterResult) -> None:
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    lo, hi = result.value_range
    shown = result.plotted
    cols = min(3, len(shown))
    rows = math.ceil(len(shown) / cols)
    size = 5.2 if len(shown) == 1 else 3.6
    fig = Figure(figsize=(size * cols + 2.4, size * rows + 1.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)).ravel()
    overall = result.counts()
    colours = emotion_colours(list(overall))
    pts = result.points
    drawn = len(pts["valence"])
    marker_size = 16 if drawn <= 2_000 else 7 if drawn <= 10_000 else 3
    alpha = 0.75 if drawn <= 2_000 else 0.45
    for ax, group in zip(axes, shown):
        in_group = pts["group"] == group
        counts = result.counts(group)
        # the most frequent emotion first, so the rarer ones are drawn on top of it
        for emotion in sorted(counts, key=lambda e: -counts[e]):
            colour = colours.get(emotion, "#c7c7c7")
            mine = in_group & (pts["emotion"] == emotion)
            ax.scatter(pts["valence"][mine], pts["arousal"][mine], s=marker_size, color=colour, alpha=alpha,
                       linewidths=0, zorder=3)
        for st in (st for st in result.stats if st.group == group and st.emotion in colours
                   and st.n >= MIN_MEAN_TEXTS):
            ax.plot(st.mean_valence, st.mean_arousal, marker="X", ms=11, color=colours[st.emotion], mec="black",
                    mew=1.0, zorder=6)
        circumplex_axes(ax, lo, hi, labels=True)
        n_group = sum(counts.values())
        title = group if result.column else "all texts"
        drawn_here = f"; {int(in_group.sum()):,} drawn" if result.sampled else ""
        ax.set_title(f"{title}  (n={n_group:,}{drawn_here})", fontsize=10)
    label_panels(axes, len(shown), rows, cols)
    handles = [Line2D([], [], ls="", marker="o", ms=7, color=colour, label=f"{emotion}  ({overall[emotion]:,})")
               for emotion, colour in colours.items()]
    rest = sum(n for e, n in overall.items() if e not in colours)
    if rest:
        handles.append(Line2D([], [], ls="", marker="o", ms=7, color="#c7c7c7",
                              label=f"{OTHER_EMOTIONS}  ({rest:,})"))
    handles.append(Line2D([], [], ls="", marker="X", ms=9, color="white", mec="black",
                          label=f"its mean (≥ {MIN_MEAN_TEXTS} texts)"))
    fig.legend(handles=handles, loc="outside right center", fontsize=8, title=EMOTION_COLUMN, title_fontsize=8,
               frameon=False)
    heading = "Valence-arousal of each text, coloured by its dominant emotion"
    if result.column:
        heading += f", by {result.column}"
        if len(result.groups) > len(shown):
            heading += f": the {len(shown)} largest of {len(result.groups)} groups"
    fig.suptitle(heading, fontsize=12)
    extra = (f"{drawn:,} points drawn (a uniform sample); counts and means: every row" if result.sampled
             else "every point drawn")
    if result.outside_range:
        extra += f"; {result.outside_range:,} points outside [{lo:g}, {hi:g}] not drawn"
    fig.supxlabel(footnote(result.rows, result.skipped, extra), x=0.01, ha="left", fontsize=7, color="0.35")
    save_png(fig, result.path)
