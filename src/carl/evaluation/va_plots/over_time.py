"""V-A over time (``carl plot-va --time COLUMN``): per period (and group) the count, sum and sum of squares
of V and A, from which the mean and its 95 % confidence interval (Student t) follow; drawn as lines with
bands, and the number of texts per period below."""

from __future__ import annotations

import os
import pathlib
from dataclasses import dataclass, field

import numpy as np

from carl.errors import DataError
from carl.evaluation.va_plots.circumplex import footnote, save_png
from carl.evaluation.va_plots.table import (BATCH_ROWS, DEFAULT_MAX_GROUPS, iter_score_batches, read_groups,
                                            read_scores, refuse_many_groups)

MAX_PERIODS = 5_000
FREQUENCIES = {"D": "day", "W": "week", "M": "month", "Q": "quarter", "Y": "year", "H": "hour"}
"""--freq letters (pandas' period letters) -> pyarrow temporal unit; weeks start on Monday."""


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
        v, a, ok = read_scores(batch, path)
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
        labels = read_groups(batch, by)[keep] if by else np.full(int(keep.sum()), "all", dtype=object)
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
        refuse_many_groups(len(groups_seen), by, path)
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
    fig.supxlabel(footnote(result.rows, result.skipped, "bands: mean ± 95 % CI (Student t)"), x=0.01, ha="left",
                  fontsize=7, color="0.35")
    save_png(fig, result.path)
