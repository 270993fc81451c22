"""What every ``carl plot-va`` figure shares: the circumplex panel (quadrant names, midlines), axis labels on
a grid of panels, the footnote of rows read and skipped, and the atomic PNG write."""

from __future__ import annotations

import pathlib

from carl.io import atomic_write

QUADRANTS = (("tense, angry", 0, 1), ("excited, happy", 1, 1), ("sad, bored", 0, 0), ("calm, content", 1, 0))
DPI = 120


def circumplex_axes(ax, lo: float, hi: float, labels: bool) -> None:
    mid = (lo + hi) / 2
    ax.axhline(mid, color="0.55", lw=0.8, zorder=2)
    ax.axvline(mid, color="0.55", lw=0.8, zorder=2)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    if labels:
        pad = 0.03 * (hi - lo)
        for text, right, top in QUADRANTS:
            ax.text(hi - pad if right else lo + pad, hi - pad if top else lo + pad, text, fontsize=7, color="0.25",
                    ha="right" if right else "left", va="top" if top else "bottom", zorder=4,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.7})


def label_panels(axes, n_shown: int, rows: int, cols: int) -> None:
    """Hide the unused panels of a rows x cols grid; name the axes on the bottom row and left column."""
    for ax in axes[n_shown:]:
        ax.set_visible(False)
    for ax in axes[(rows - 1) * cols:]:
        ax.set_xlabel("valence  (negative → positive)")
    for ax in axes[::cols]:
        ax.set_ylabel("arousal  (calm → excited)")


def footnote(result_rows: int, skipped: dict, extra: str = "") -> str:
    parts = [f"{result_rows:,} rows read"] + [f"{n:,} skipped ({why})" for why, n in skipped.items() if n]
    return "; ".join(parts) + (f"; {extra}" if extra else "")


def save_png(fig, path: pathlib.Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=DPI, format="png"))
