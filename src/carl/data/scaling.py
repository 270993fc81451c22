"""Per-corpus min-max normalisation of V-A ratings (the paper's Eq. 12)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from carl.errors import DataError


@dataclass(frozen=True)
class Scale:
    """A fixed linear map from a rating scale [low, high] onto [0, 1].

    Built once per corpus file, over all of its splits, and then applied to every
    record: a fixed linear map leaves Pearson and Spearman correlations unchanged, so
    using the test split's extremes leaks nothing into evaluation.
    """

    low: float
    high: float

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise DataError(f"a rating range needs low < high, got ({self.low}, {self.high})",
                            fix="pass a range such as (1, 5)")

    @classmethod
    def observed(cls, values: Iterable[float], what: str, path: Path) -> Scale:
        """The scale spanned by the observed minimum and maximum of ``values``."""
        values = list(values)
        if not values:
            raise DataError(f"no {what} ratings to normalise", path=path)
        low, high = min(values), max(values)
        if low == high:
            raise DataError(f"every {what} rating is {low}, so min-max normalisation is undefined",
                            path=path, fix=f"pass an explicit {what} range, e.g. (1, 5)")
        return cls(low, high)

    def __call__(self, value: float) -> float:
        return (value - self.low) / (self.high - self.low)

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high
