"""Pictures of a scored table (``carl plot-va``): V-A density per group, or V-A over time.

The input is what ``carl predict-va`` writes: a ``.parquet`` file (or a folder of them),
``.jsonl``, ``.csv`` or ``.tsv`` with float columns ``valence`` and ``arousal`` and the user's columns
carried through (``group``, ``date``...). Only the needed columns are read, in record batches
(pyarrow), and only aggregates are kept, so memory does not grow with the table:

* :func:`density_by_group`: per group a 2-D histogram of (valence, arousal) on a fixed grid,
  accumulated batch by batch, plus count and means; drawn as one circumplex panel per group.
* :func:`va_over_time`: per period (and group) the count, sum and sum of squares of V and A,
  from which the mean and its 95 % confidence interval (Student t) follow; drawn as lines with
  bands, and the number of texts per period below.
* :func:`scatter_by_emotion` (``--colour-by-emotion``): the texts as points on the circumplex,
  coloured by their dominant emotion (column ``emotion_1``, written by ``carl predict-va
  --emotions``), with each emotion's mean marked; a uniform sample of at most ``max_points`` rows
  is drawn (kept batch by batch with random keys), while counts and means use every row.

Rows without a score (null or NaN valence/arousal), or without a time, are not plotted and are
counted in the result (``skipped``) and the figure's footnote. Both functions return their
aggregates with the PNG's path, so a caller (or a test) can check the numbers drawn.
"""

from __future__ import annotations

import math
import os
import pathlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from carl.errors import DataError
from carl.io import atomic_write

__all__ = ["DEFAULT_MAX_GROUPS", "EMOTION_COLUMN", "FREQUENCIES", "DensityResult", "EmotionScatterResult",
           "GroupDensity", "PeriodStats", "TimeResult", "density_by_group", "iter_score_batches", "scatter_by_emotion",
           "va_over_time"]

BATCH_ROWS = 65_536
DEFAULT_MAX_GROUPS = 9
MAX_TRACKED_GROUPS = 1_000
"""Distinct values beyond which a column is no grouping column (an id, free text): refused."""
MAX_PERIODS = 5_000
MISSING_GROUP = "(missing)"
FREQUENCIES = {"D": "day", "W": "week", "M": "month", "Q": "quarter", "Y": "year", "H": "hour"}
"""--freq letters (pandas' period letters) -> pyarrow temporal unit; weeks start on Monday."""
EMOTION_COLUMN = "emotion_1"
"""The dominant emotion's column in a table `carl predict-va --emotions` wrote (its top label)."""
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
_QUADRANTS = (("tense, angry", 0, 1), ("excited, happy", 1, 1), ("sad, bored", 0, 0), ("calm, content", 1, 0))
_DPI = 120


# ------------------------------------------------------------------ reading


def _kind(path: pathlib.Path) -> str:
    if path.is_dir():
        return "parquet"
    suffix = path.suffix.lower()
    kinds = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv",
             ".tsv": "tsv"}
    if suffix not in kinds:
        raise DataError(f"cannot read a scored table from a {suffix or 'suffix-less'} file", path=path,
                        fix="give the .parquet, .jsonl, .csv or .tsv that `carl predict-va` wrote (or a folder of .parquet)")
    return kinds[suffix]


def _require_columns(path: pathlib.Path, available: Sequence[str], columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in available]
    if not missing:
        return
    if {"valence", "arousal"} & set(missing):
        hint = "score the texts first: `carl predict-va MODEL --input ... --output SCORES.parquet`"
    elif EMOTION_COLUMN in missing:
        raise DataError(f"no column {EMOTION_COLUMN!r} (the dominant emotion, which `carl predict-va --emotions` "
                        f"writes); the table has {', '.join(available) or 'none'}", path=path,
                        fix="score the texts with emotions: `carl predict-va MODEL --input ... --output "
                            f"SCORES.parquet --emotions` writes {EMOTION_COLUMN} (the model folder needs "
                            "emotion_head.json: `carl fit-heads MODEL`)")
    else:
        hint = "carry the column through scoring with `carl predict-va ... --keep-columns COLUMN`"
    raise DataError(f"no column {', '.join(map(repr, missing))}; the table has {', '.join(available) or 'none'}",
                    path=path, fix=hint)


def iter_score_batches(path: str | os.PathLike, columns: Sequence[str], *, batch_rows: int = BATCH_ROWS) -> Iterator:
    """``pyarrow.RecordBatch``es of ``columns`` only (valence/arousal as float64), read batch by batch."""
    import pyarrow as pa

    path = pathlib.Path(path)
    if not path.exists():
        raise DataError("no such file or folder", path=path)
    kind = _kind(path)
    block_bytes = max(1 << 16, 64 * batch_rows)  # text readers batch by bytes: ~64 bytes a scored row
    try:
        if kind == "parquet":
            import pyarrow.dataset as ds

            dataset = ds.dataset(path, format="parquet")
            _require_columns(path, dataset.schema.names, columns)
            batches = dataset.to_batches(columns=list(columns), batch_size=batch_rows)
        elif kind in ("csv", "tsv"):
            import pyarrow.csv as pcsv

            # Texts may hold quoted newlines (csv.writer keeps them): parse them as values.
            parse = pcsv.ParseOptions(delimiter="\t" if kind == "tsv" else ",", newlines_in_values=True)
            with pcsv.open_csv(path, parse_options=parse) as probe:
                _require_columns(path, probe.schema.names, columns)
            types = {c: pa.float64() for c in ("valence", "arousal") if c in columns}
            types.update({c: pa.string() for c in columns if c not in types})
            batches = pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=block_bytes), parse_options=parse,
                                    convert_options=pcsv.ConvertOptions(include_columns=list(columns), column_types=types))
        else:
            import pyarrow.json as pjson

            reader = pjson.open_json(path, read_options=pjson.ReadOptions(block_size=block_bytes))
            _require_columns(path, reader.schema.names, columns)
            batches = (batch.select(list(columns)) for batch in reader)
        for batch in batches:
            yield batch
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise DataError(f"cannot read the scored table ({exc})", path=path,
                        fix="check that it is the table `carl predict-va` wrote, with numeric valence/arousal") from None


def _scores(batch, path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """valence, arousal (float64) and the mask of rows with both finite."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out = []
    for name in ("valence", "arousal"):
        column = batch.column(name)
        if not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type) or pa.types.is_null(column.type)):
            raise DataError(f"column {name!r} holds {column.type}, not numbers", path=path,
                            fix="plot the table `carl predict-va` wrote (float valence and arousal)")
        out.append(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False))
    v, a = (np.asarray(x, dtype=np.float64) for x in out)
    return v, a, np.isfinite(v) & np.isfinite(a)


def _groups(batch, column: str) -> np.ndarray:
    """The group column as strings (object array), null as MISSING_GROUP."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pc.fill_null(pc.cast(batch.column(column), pa.string()), MISSING_GROUP)
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=object)


# ------------------------------------------------------------------ density per group


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


def _check_range(value_range) -> tuple[float, float]:
    lo, hi = (float(x) for x in value_range)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise DataError(f"value range {value_range!r}: expected LOW < HIGH, e.g. 0,1")
    return lo, hi


def density_by_group(scores: str | os.PathLike, by: str | None, output: str | os.PathLike | None, *, bins: int = 40,
                     max_groups: int = DEFAULT_MAX_GROUPS, value_range: Sequence[float] = (0.0, 1.0),
                     batch_rows: int = BATCH_ROWS) -> DensityResult:
    """Circumplex density of (valence, arousal) per value of column ``by`` (None: one panel for
    the whole table); the ``max_groups`` largest groups are drawn, the rest named in the title.
    ``output=None``: the aggregates only, no figure."""
    path = pathlib.Path(scores)
    lo, hi = _check_range(value_range)
    if bins < 2 or max_groups < 1:
        raise DataError(f"bins must be >= 2 and max_groups >= 1 (got {bins}, {max_groups})")
    columns = list(dict.fromkeys(["valence", "arousal"] + ([by] if by else [])))
    index: dict[str, int] = {}
    hist = np.zeros((0, bins, bins), dtype=np.int64)
    sums = np.zeros((0, 3))  # n, sum V, sum A
    rows = unscored = outside = 0
    for batch in iter_score_batches(path, columns, batch_rows=batch_rows):
        rows += batch.num_rows
        v, a, ok = _scores(batch, path)
        unscored += int((~ok).sum())
        labels = _groups(batch, by)[ok] if by else np.full(int(ok.sum()), "all", dtype=object)
        v, a = v[ok], a[ok]
        if not len(v):
            continue
        names, codes = np.unique(labels, return_inverse=True)
        for name in names:
            if name not in index:
                index[name] = len(index)
        if len(index) > MAX_TRACKED_GROUPS:
            raise DataError(f"column {by!r} has more than {MAX_TRACKED_GROUPS} distinct values: not a grouping "
                            "column (an id or free text?)", path=path,
                            fix="group by a column with few values (a category, a source, a label)")
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


def _circumplex_axes(ax, lo: float, hi: float, labels: bool) -> None:
    mid = (lo + hi) / 2
    ax.axhline(mid, color="0.55", lw=0.8, zorder=2)
    ax.axvline(mid, color="0.55", lw=0.8, zorder=2)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    if labels:
        pad = 0.03 * (hi - lo)
        for text, right, top in _QUADRANTS:
            ax.text(hi - pad if right else lo + pad, hi - pad if top else lo + pad, text, fontsize=7, color="0.25",
                    ha="right" if right else "left", va="top" if top else "bottom", zorder=4,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.7})


def _label_panels(axes, n_shown: int, rows: int, cols: int) -> None:
    """Hide the unused panels of a rows x cols grid; name the axes on the bottom row and left column."""
    for ax in axes[n_shown:]:
        ax.set_visible(False)
    for ax in axes[(rows - 1) * cols:]:
        ax.set_xlabel("valence  (negative → positive)")
    for ax in axes[::cols]:
        ax.set_ylabel("arousal  (calm → excited)")


def _footnote(result_rows: int, skipped: dict, extra: str = "") -> str:
    parts = [f"{result_rows:,} rows read"] + [f"{n:,} skipped ({why})" for why, n in skipped.items() if n]
    return "; ".join(parts) + (f"; {extra}" if extra else "")


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
        _circumplex_axes(ax, lo, hi, labels=True)
        ax.plot(group.mean_valence, group.mean_arousal, marker="X", ms=9, color="#1f77b4", mec="white", mew=1.2,
                zorder=5)
        title = group.group if result.column else "all texts"
        ax.set_title(f"{title}  (n={group.n:,})", fontsize=10)
    _label_panels(axes, len(shown), rows, cols)
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
    fig.supxlabel(_footnote(result.rows, result.skipped, extra), x=0.01, ha="left", fontsize=7, color="0.35")
    _save(fig, result.path)


# ------------------------------------------------------------------ points coloured by emotion


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
    lo, hi = _check_range(value_range)
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
        v, a, ok = _scores(batch, path)
        unscored += int((~ok).sum())
        emotions = _groups(batch, EMOTION_COLUMN)[ok]
        groups = _groups(batch, by)[ok] if by else np.full(int(ok.sum()), "all", dtype=object)
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
        if len({g for g, _ in sums}) > MAX_TRACKED_GROUPS:
            raise DataError(f"column {by!r} has more than {MAX_TRACKED_GROUPS} distinct values: not a grouping "
                            "column (an id or free text?)", path=path,
                            fix="group by a column with few values (a category, a source, a label)")
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
        _circumplex_axes(ax, lo, hi, labels=True)
        n_group = sum(counts.values())
        title = group if result.column else "all texts"
        drawn_here = f"; {int(in_group.sum()):,} drawn" if result.sampled else ""
        ax.set_title(f"{title}  (n={n_group:,}{drawn_here})", fontsize=10)
    _label_panels(axes, len(shown), rows, cols)
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
    fig.supxlabel(_footnote(result.rows, result.skipped, extra), x=0.01, ha="left", fontsize=7, color="0.35")
    _save(fig, result.path)


# ------------------------------------------------------------------ over time


@dataclass
class PeriodStats:
    """One period (of one group): its start, ``n`` scored rows, the means and the half-widths of
    their 95 % confidence intervals (Student t; NaN for n < 2)."""

    group: str
    period: np.datetime64
    n: int
    mean_valence: float
    ci_valence: float
    mean_arousal: float
    ci_arousal: float


@dataclass
class TimeResult:
    path: pathlib.Path | None
    time_column: str
    freq: str
    group_column: str
    periods: list[PeriodStats]
    """Every (group, period) with a row, by group (largest first) then time."""
    plotted: list[str]
    rows: int
    skipped: dict[str, int] = field(default_factory=dict)


def _as_timestamps(column, name: str, path):
    """The time column as a pyarrow timestamp array; a clear error for anything that is not a date."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_timestamp(kind):
        return column
    if pa.types.is_date(kind):
        return pc.cast(column, pa.timestamp("s"))
    fix = "give a column of dates or ISO date strings (2024-05-31, 2024-05-31T12:00:00)"
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)):
        raise DataError(f"column {name!r} holds {kind}, not dates", path=path, fix=fix)
    for target in (pa.timestamp("us"), pa.timestamp("us", tz="UTC")):
        try:
            return pc.cast(column, target)
        except pa.ArrowInvalid:
            continue
    for position, value in enumerate(column.to_pylist()):
        if value is None:
            continue
        try:
            pc.cast(pa.array([value]), pa.timestamp("us"))
        except pa.ArrowInvalid:
            try:
                pc.cast(pa.array([value]), pa.timestamp("us", tz="UTC"))
            except pa.ArrowInvalid:
                raise DataError(f"column {name!r} value {value!r} is not a date", path=path, fix=fix) from None
    raise DataError(f"column {name!r} mixes times with and without a time zone", path=path,
                    fix="write every time with a zone offset (…Z, +02:00) or none")


def _t_half_width(n: np.ndarray, sum_: np.ndarray, sumsq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from scipy import stats

    mean = sum_ / n
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.maximum(sumsq - n * mean**2, 0) / (n - 1)
        half = stats.t.ppf(0.975, n - 1) * np.sqrt(var / n)
    return mean, np.where(n >= 2, half, np.nan)


def va_over_time(scores: str | os.PathLike, time_column: str, output: str | os.PathLike | None, *, freq: str = "W",
                 by: str | None = None, max_groups: int = DEFAULT_MAX_GROUPS,
                 batch_rows: int = BATCH_ROWS) -> TimeResult:
    """Mean valence and arousal per period of ``time_column`` (``freq``: D, W, M, Q, Y or H) with
    95 % confidence bands; one line per value of ``by`` (its ``max_groups`` largest) if given.
    ``output=None``: the aggregates only, no figure."""
    import pyarrow as pa
    import pyarrow.compute as pc

    path = pathlib.Path(scores)
    unit = FREQUENCIES.get(freq.upper()) or (freq.lower() if freq.lower() in FREQUENCIES.values() else None)
    if unit is None:
        raise DataError(f"--freq {freq!r}: choose one of {', '.join(FREQUENCIES)} "
                        "(day, week, month, quarter, year, hour)")
    if max_groups < 1:
        raise DataError(f"max_groups must be >= 1 (got {max_groups})")
    columns = list(dict.fromkeys(["valence", "arousal", time_column] + ([by] if by else [])))
    # (group, period as int64 microseconds) -> [n, sum V, sum V², sum A, sum A²]
    acc: dict[tuple[str, int], np.ndarray] = {}
    groups_seen: set[str] = set()
    all_ticks: set[int] = set()
    rows = unscored = untimed = 0
    for batch in iter_score_batches(path, columns, batch_rows=batch_rows):
        rows += batch.num_rows
        v, a, ok = _scores(batch, path)
        stamps = _as_timestamps(batch.column(time_column), time_column, path)
        floored = pc.floor_temporal(stamps, unit=unit, week_starts_monday=True)
        period = pc.cast(pc.cast(floored, pa.timestamp("us", tz=floored.type.tz)), pa.int64())
        has_time = np.asarray(pc.is_valid(period).to_numpy(zero_copy_only=False))
        unscored += int((~ok).sum())
        untimed += int((ok & ~has_time).sum())
        keep = ok & has_time
        if not keep.any():
            continue
        ticks = np.asarray(pc.fill_null(period, 0).to_numpy(zero_copy_only=False), dtype=np.int64)[keep]
        labels = _groups(batch, by)[keep] if by else np.full(int(keep.sum()), "all", dtype=object)
        v, a = v[keep], a[keep]
        label_names, label_codes = np.unique(labels, return_inverse=True)
        tick_values, tick_codes = np.unique(ticks, return_inverse=True)
        combined, inverse = np.unique(label_codes.ravel() * len(tick_values) + tick_codes.ravel(), return_inverse=True)
        summed = np.zeros((len(combined), 5))
        np.add.at(summed, inverse.ravel(), np.stack([np.ones_like(v), v, v * v, a, a * a], axis=1))
        for code, values in zip(combined, summed):
            key = (str(label_names[code // len(tick_values)]), int(tick_values[code % len(tick_values)]))
            acc[key] = acc[key] + values if key in acc else values
            groups_seen.add(key[0])
            all_ticks.add(key[1])
        if len(groups_seen) > MAX_TRACKED_GROUPS:
            raise DataError(f"column {by!r} has more than {MAX_TRACKED_GROUPS} distinct values: not a grouping "
                            "column (an id or free text?)", path=path,
                            fix="group by a column with few values (a category, a source, a label)")
        if len(all_ticks) > MAX_PERIODS:
            raise DataError(f"more than {MAX_PERIODS:,} periods of one {unit}: too many points to draw", path=path,
                            fix="choose a coarser --freq (W, M, Q or Y)")
    if rows == 0:
        raise DataError("the scored table is empty: nothing to plot", path=path)
    if not acc:
        raise DataError(f"none of the {rows} rows has a time and a finite valence and arousal: nothing to plot",
                        path=path)
    totals: dict[str, float] = {}
    for (label, _), values in acc.items():
        totals[label] = totals.get(label, 0) + values[0]
    order = sorted(totals, key=lambda g: (-totals[g], g))
    plotted = order[:max_groups]
    periods = []
    for label in order:
        ticks = sorted(t for g, t in acc if g == label)
        stats = np.array([acc[(label, t)] for t in ticks])
        mean_v, ci_v = _t_half_width(stats[:, 0], stats[:, 1], stats[:, 2])
        mean_a, ci_a = _t_half_width(stats[:, 0], stats[:, 3], stats[:, 4])
        for i, tick in enumerate(ticks):
            periods.append(PeriodStats(label, np.datetime64(tick, "us"), int(stats[i, 0]), float(mean_v[i]),
                                       float(ci_v[i]), float(mean_a[i]), float(ci_a[i])))
    skipped = {k: n for k, n in (("no valence/arousal", unscored), ("no time", untimed)) if n}
    out = pathlib.Path(output) if output is not None else None
    result = TimeResult(out, time_column, unit, by or "", periods, plotted, rows, skipped)
    if result.path is not None:
        _draw_time(result, len(order))
    return result


def _draw_time(result: TimeResult, n_groups: int) -> None:
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 7), layout="constrained")
    ax_v, ax_a, ax_n = fig.subplots(3, 1, sharex=True, height_ratios=[3, 3, 1.2])
    colours = colormaps["tab10"].colors
    single = len(result.plotted) == 1
    width = {"hour": 1 / 24, "day": 1, "week": 7, "month": 30, "quarter": 91, "year": 365}[result.freq]
    for i, label in enumerate(result.plotted):
        rows = [p for p in result.periods if p.group == label]
        x = np.array([p.period for p in rows], dtype="datetime64[us]").astype("datetime64[s]").astype(object)
        colour = colours[i % len(colours)]
        name = "all texts" if not result.group_column else label
        for ax, mean, half in ((ax_v, "mean_valence", "ci_valence"), (ax_a, "mean_arousal", "ci_arousal")):
            m = np.array([getattr(p, mean) for p in rows])
            h = np.array([getattr(p, half) for p in rows])
            ax.plot(x, m, color=colour, lw=1.6, marker="o" if len(rows) < 60 else None, ms=3, label=name)
            ax.fill_between(x, m - h, m + h, color=colour, alpha=0.2, lw=0)
        counts = np.array([p.n for p in rows])
        if single:
            ax_n.bar(x, counts, width=width * 0.8, color=colour, alpha=0.8)
        else:
            ax_n.plot(x, counts, color=colour, lw=1.2, marker="o" if len(rows) < 60 else None, ms=2.5)
    ax_v.set_ylabel("valence (mean, 95 % CI)")
    ax_a.set_ylabel("arousal (mean, 95 % CI)")
    ax_n.set_ylabel("texts")
    ax_n.set_ylim(bottom=0)
    ax_n.set_xlabel(f"{result.time_column} (per {result.freq})")
    for ax in (ax_v, ax_a, ax_n):
        ax.grid(alpha=0.3)
    if not single or result.group_column:
        ax_v.legend(fontsize=8, ncol=min(3, len(result.plotted)), loc="best")
    heading = f"Valence and arousal per {result.freq}"
    if result.group_column:
        heading += f" by {result.group_column}"
        if n_groups > len(result.plotted):
            heading += f": the {len(result.plotted)} largest of {n_groups} groups"
    fig.suptitle(heading, fontsize=12)
    fig.supxlabel(_footnote(result.rows, result.skipped, "bands: mean ± 95 % CI (Student t)"), x=0.01, ha="left",
                  fontsize=7, color="0.35")
    _save(fig, result.path)


def _save(fig, path: pathlib.Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=_DPI, format="png"))
