"""The statistics of a learning curve (:mod:`carl.evaluation.learning_curves`): the metric a curve is drawn in,
the two-stage paired percentile bootstrap over draws and test rows, and the t-interval over draws. Pure
functions of arrays; the metric kernels are :mod:`carl.evaluation.fast_metrics`."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from carl.errors import CarlError
from carl.evaluation.fast_metrics import macro_f1_codes, pearson_mean
from carl.evaluation.probes import macro_f1_without_name

PRIMARY_METRIC = {"classification": "macro_f1", "va_regression": "pearson_mean"}
"""The metric a curve is drawn in: the probe's own selection metric; a task that excludes a label
from its macro-F1 (DailyDialog's "no emotion") is drawn in that macro-F1 instead, its headline."""


def curve_metric(kind: str, exclude_label) -> str:
    """The metric a curve of ``kind`` is drawn in (:data:`PRIMARY_METRIC`, or the macro-F1 without ``exclude_label``)."""
    return macro_f1_without_name(exclude_label) if kind == "classification" and exclude_label is not None \
        else PRIMARY_METRIC[kind]


def metric_fn(kind: str, metric: str, classes: np.ndarray | None,
               exclude_label=None) -> Callable[[np.ndarray, np.ndarray], float]:
    """``metric`` as a fast function of (gold, predicted) arrays, for the bootstrap's replicates."""
    if kind == "va_regression":
        if metric != "pearson_mean":
            raise CarlError(f"bootstrap of {metric} is not implemented; the curve of a V-A task uses pearson_mean")
        return pearson_mean
    k = len(classes)
    if metric == "macro_f1":
        return lambda g, p: macro_f1_codes(g, p, k)
    if exclude_label is not None and metric == macro_f1_without_name(exclude_label):
        without = int(np.searchsorted(classes, exclude_label))
        return lambda g, p: macro_f1_codes(g, p, k, without)
    if metric == "accuracy":
        return lambda g, p: float((g == p).mean())
    raise CarlError(f"bootstrap of {metric} is not implemented; use macro_f1 or accuracy")


def paired_bootstrap(preds: Mapping[str, list[np.ndarray]], gold: np.ndarray, metric_fn, reference: str, *,
               replicates: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Replicates of each model's draw-mean metric, and of its gap to ``reference``: draws and
    test rows resampled with replacement, the same resample for every model (paired)."""
    names = list(preds)
    n_draws = len(preds[names[0]])
    n_test = len(gold)
    values = {name: np.empty(replicates) for name in names}
    for b in range(replicates):
        chosen = rng.integers(0, n_draws, n_draws) if n_draws > 1 else np.zeros(1, dtype=int)
        rows = rng.integers(0, n_test, n_test)
        draws, counts = np.unique(chosen, return_counts=True)
        g = gold[rows]
        for name in names:
            scores = [metric_fn(g, preds[name][d][rows]) for d in draws]
            values[name][b] = float(np.dot(scores, counts) / counts.sum())
    gaps = {name: values[name] - values[reference] for name in names}
    return values, gaps


def percentile_interval(values: np.ndarray, confidence: float) -> list[float]:
    """The central ``confidence`` interval of bootstrap replicates (percentile method; NaNs ignored)."""
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.nanpercentile(values, [tail, 100 - tail])
    return [float(lo), float(hi)]


def t_interval(values: Sequence[float], confidence: float) -> list[float] | None:
    """mean ± t_{(1+confidence)/2, n-1} · s / sqrt(n) over the draws (Student t); None for fewer than two."""
    from scipy import stats

    arr = np.asarray(values, dtype=np.float64)
    if len(arr) < 2:
        return None
    half = stats.t.ppf(0.5 + confidence / 2, len(arr) - 1) * arr.std(ddof=1) / math.sqrt(len(arr))
    return [float(arr.mean() - half), float(arr.mean() + half)]


def summarise(values: Sequence[float], boot: np.ndarray | None, confidence: float) -> dict:
    """One point's entry: mean and std over draws, the draws, their t-interval and (with replicates) the
    bootstrap interval."""
    arr = np.asarray(values, dtype=np.float64)
    out = {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0,
           "draw_values": [float(v) for v in arr], "draw_interval": t_interval(arr, confidence)}
    if boot is not None:
        out["interval"] = percentile_interval(boot, confidence)
    return out
