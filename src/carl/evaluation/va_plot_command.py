"""``carl plot-va``: a plain function with typer-annotated parameters, registered by the CLI
(``app.command("plot-va")(plot_va_command)``). The work is in :mod:`carl.evaluation.va_plots`;
this module stays light to import (the CLI imports it at start-up)."""

from __future__ import annotations

import pathlib
from typing import Optional

import typer

from carl.errors import CarlError
from carl.evaluation.va_plots import (DEFAULT_MAX_POINTS, EMOTION_COLUMN, density_by_group, scatter_by_emotion,
                                     va_over_time)

__all__ = ["plot_va_command"]


def _value_range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise CarlError(f"--range {text!r}: expected LOW,HIGH, e.g. 0,1") from None
    return lo, hi


def plot_va_command(
    scores: pathlib.Path = typer.Argument(..., help="Scored table from `carl predict-va`: .parquet (or a folder of "
                                                    ".parquet), .jsonl, .csv or .tsv with valence and arousal columns."),
    by: Optional[str] = typer.Option(None, "--by", help="Column to group by: one circumplex panel per value "
                                                        "(with --time: one line per value)."),
    time: Optional[str] = typer.Option(None, "--time", help="Date/time column: valence and arousal over time with "
                                                            "95 % confidence bands instead of densities."),
    freq: str = typer.Option("W", "--freq", help="With --time: period of the means: D, W (Monday weeks), M, Q, Y or H "
                                                 "(or day, week, month, quarter, year, hour)."),
    output: Optional[pathlib.Path] = typer.Option(None, "--output", help="PNG to write (default: SCORES' name with "
                                                                         "-va-by-COLUMN.png or -va-over-TIME.png)."),
    max_groups: int = typer.Option(9, "--max-groups", help="Draw at most this many groups (the largest); the "
                                                           "figure says how many were left out."),
    bins: int = typer.Option(40, "--bins", help="Density grid: bins per axis."),
    value_range: str = typer.Option("0,1", "--range", help="Density axes LOW,HIGH (carl's V-A scale is 0,1)."),
    colour_by_emotion: bool = typer.Option(False, "--colour-by-emotion", help=f"Draw the texts as points coloured by "
                                           f"their dominant emotion ({EMOTION_COLUMN}, from `carl predict-va "
                                           "--emotions`) instead of densities; with --by, one panel per group."),
    max_points: int = typer.Option(DEFAULT_MAX_POINTS, "--max-points", help="With --colour-by-emotion: draw at most "
                                   "this many points (a uniform sample; counts and means use every row)."),
):
    """Picture a scored table: V-A circumplex density per group, V-A over time with confidence bands, or the
    texts as points coloured by emotion."""
    stem = scores.name.split(".")[0] if not scores.is_dir() else scores.name
    if colour_by_emotion and time:
        raise CarlError("--colour-by-emotion draws the texts on the circumplex; it does not combine with --time "
                        f"(for emotions over time: --time {time} --by {EMOTION_COLUMN})")
    if colour_by_emotion:
        out = output or pathlib.Path(f"{stem}-va{'-by-' + by if by else ''}-by-emotion.png")
        result = scatter_by_emotion(scores, out, by=by, max_groups=max_groups, max_points=max_points,
                                    value_range=_value_range(value_range))
        counts = result.counts()
        groups = len(result.groups)
        typer.echo(f"{sum(counts.values()):,} texts, {len(counts)} emotions ("
                   + ", ".join(f"{e} {n:,}" for e, n in list(counts.items())[:7])
                   + (", ..." if len(counts) > 7 else "") + ")" + (f", {groups} groups of {by}" if by else "")
                   + f" from {result.rows:,} rows -> {out}")
        if result.sampled:
            typer.echo(f"drew a uniform sample of {len(result.points['valence']):,} points (--max-points)")
        if result.outside_range:
            typer.echo(f"{result.outside_range:,} points outside the range {value_range} were not drawn (set --range)")
    elif time:
        out = output or pathlib.Path(f"{stem}-va-over-{time}{'-by-' + by if by else ''}.png")
        result = va_over_time(scores, time, out, freq=freq, by=by, max_groups=max_groups)
        groups = len({p.group for p in result.periods})
        periods = len({p.period for p in result.periods})
        typer.echo(f"{periods} periods of one {result.freq}" + (f", {groups} groups of {by}" if by else "")
                   + f" from {result.rows:,} rows -> {out}")
    else:
        out = output or pathlib.Path(f"{stem}-va{'-by-' + by if by else ''}.png")
        result = density_by_group(scores, by, out, bins=bins, max_groups=max_groups, value_range=_value_range(value_range))
        groups = len(result.groups)
        typer.echo(f"{groups} group{'s' if groups != 1 else ''}" + (f" of {by}" if by else "")
                   + f" from {result.rows:,} rows -> {out}")
        if result.outside_range:
            typer.echo(f"{result.outside_range:,} points outside the range {value_range} were left out of the "
                       "density (set --range)")
    if len(result.plotted) < groups:
        typer.echo(f"drew the {len(result.plotted)} largest of {groups} groups (--max-groups {max_groups})")
    for why, n in result.skipped.items():
        typer.echo(f"{n:,} row{'s' if n != 1 else ''} skipped: {why}")
