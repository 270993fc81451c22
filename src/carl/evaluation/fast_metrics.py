"""The probes' headline metrics on integer class codes and plain arrays: the same numbers as the
sklearn / scipy versions (carl.evaluation.probes, carl.evaluation.paired_bootstrap), tens of times
faster, for the thousands of resampled test sets a bootstrap or a learning curve scores."""

from __future__ import annotations

import math

import numpy as np


def macro_f1_codes(gold: np.ndarray, pred: np.ndarray, k: int, without: int | None = None) -> float:
    """sklearn's macro-F1 (labels seen in gold or prediction, zero_division 0) on class codes 0..k-1:
    F1_c = 2 TP_c / (support_c + predicted_c), averaged over the classes present. ``without``: a class
    code whose own F1 is dropped (its predictions still count as misses, as in ``probes.macro_f1_without``)."""
    cm = np.bincount(gold * k + pred, minlength=k * k).reshape(k, k)
    tp = np.diag(cm).astype(np.float64)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    present = (support + predicted) > 0
    if without is not None:
        present[without] = False
    if not present.any():
        return 0.0
    f1 = np.divide(2 * tp, support + predicted, out=np.zeros(k), where=present)
    return float(f1[present].mean())


def pearson_mean(gold: np.ndarray, pred: np.ndarray) -> float:
    """Mean over the columns (valence, arousal) of Pearson r; NaN when a column is constant."""
    g = gold - gold.mean(axis=0)
    p = pred - pred.mean(axis=0)
    den = np.sqrt((g * g).sum(axis=0) * (p * p).sum(axis=0))
    if np.any(den == 0):
        return math.nan
    return float(((g * p).sum(axis=0) / den).mean())
