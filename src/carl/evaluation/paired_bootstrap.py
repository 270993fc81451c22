"""Is model A clearly above model B on a test set? A bootstrap over test texts and training seeds together.

Issue 38, part 4: the grids' old rule ("the gap exceeds sqrt(std_A^2 + std_B^2) over seeds") ignores that
the test split is a sample too (Facebook-VA's 288 test texts give Pearson r a standard error near 0.02,
as large as most gaps). Here every replicate

1. draws the test rows with replacement, the same rows for both models (paired: both models are scored on
   the same texts, so text difficulty cancels), and
2. draws each model's training seeds with replacement (its runs are independent of the other model's),

and records  mean_{s in S_A} m(gold, A_s) - mean_{s in S_B} m(gold, B_s)  on those rows, for the task's
metric m. The percentile interval of the replicates is the gap's interval; A is *clearly above* B when its
lower end is above zero. With k comparisons at once, :func:`bonferroni` gives the confidence that keeps
the chance of any false "clearly" at 1 - confidence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats
from sklearn.metrics import f1_score

from carl.evaluation.curve_statistics import percentile_interval
from carl.evaluation.fast_metrics import macro_f1_codes
from carl.evaluation.fast_metrics import pearson_mean as fast_pearson_mean
from carl.evaluation.probes import macro_f1_without

__all__ = ["METRICS", "accuracy", "bonferroni", "macro_f1", "macro_f1_without_no_emotion", "paired_gap", "paired_gap_at",
           "pearson_mean", "resampled_metric"]


def pearson_mean(gold: np.ndarray, pred: np.ndarray) -> float:
    """Mean over valence and arousal of Pearson r (the V-A probes' ``pearson_mean``); NaN if constant."""
    values = []
    for column in range(gold.shape[1]):
        if np.ptp(pred[:, column]) == 0 or np.ptp(gold[:, column]) == 0:
            return float("nan")
        values.append(stats.pearsonr(pred[:, column], gold[:, column])[0])
    return float(np.mean(values))


def macro_f1(gold: np.ndarray, pred: np.ndarray) -> float:
    """Macro-F1 over the labels in gold or prediction (the classification probes' ``macro_f1``)."""
    return float(f1_score(gold, pred, average="macro", zero_division=0))


def accuracy(gold: np.ndarray, pred: np.ndarray) -> float:
    """Share of test rows whose predicted class is the gold one (the classification probes' ``accuracy``)."""
    return float(np.mean(np.asarray(gold) == np.asarray(pred)))


def macro_f1_without_no_emotion(gold: np.ndarray, pred: np.ndarray) -> float:
    """DailyDialog's headline: macro-F1 over the labels in gold or prediction except "no emotion", whose
    predictions still count as misses of the true class (the probes' ``macro_f1_without_no_emotion``)."""
    return macro_f1_without(gold, pred, "no emotion")


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "pearson_mean": pearson_mean, "macro_f1": macro_f1, "accuracy": accuracy,
    "macro_f1_without_no_emotion": macro_f1_without_no_emotion}


def bonferroni(confidence: float, comparisons: int) -> float:
    """The per-comparison confidence that keeps ``comparisons`` intervals jointly at ``confidence``."""
    if comparisons < 1:
        raise ValueError(f"comparisons must be >= 1, got {comparisons}")
    return 1 - (1 - confidence) / comparisons


def resampled_metric(metric: str, gold: np.ndarray, preds: Sequence[np.ndarray]):
    """(gold, preds, fn) for scoring ``metric`` on many resampled rows: class labels become integer codes
    over every label in gold and predictions, and ``fn(gold_rows, pred_rows)`` is the fast kernel of
    :mod:`carl.evaluation.fast_metrics` that equals :data:`METRICS`[metric] on the original labels."""
    if metric == "pearson_mean":
        return np.asarray(gold, dtype=np.float64), [np.asarray(p, dtype=np.float64) for p in preds], fast_pearson_mean
    labels, codes = np.unique(np.concatenate([np.asarray(gold), *map(np.asarray, preds)]), return_inverse=True)
    k = len(labels)
    gold_codes, pred_codes = codes[:len(gold)], np.split(codes[len(gold):], len(preds))
    if metric == "accuracy":
        return gold_codes, pred_codes, lambda g, p: float(np.mean(g == p))
    if metric == "macro_f1":
        return gold_codes, pred_codes, lambda g, p: macro_f1_codes(g, p, k)
    if metric == "macro_f1_without_no_emotion":
        without = int(np.flatnonzero(labels == "no emotion")[0]) if "no emotion" in labels else None
        return gold_codes, pred_codes, lambda g, p: macro_f1_codes(g, p, k, without)
    raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")


def paired_gap(gold, preds_a: Sequence, preds_b: Sequence, metric: str, *, replicates: int = 2000, seed: int = 0,
               confidence: float = 0.95) -> dict:
    """Gap A - B of ``metric`` on one test set, with its interval over test texts and training seeds.

    ``gold``: the test rows' labels ((N, 2) V-A or (N,) classes); ``preds_a`` / ``preds_b``: one prediction
    array per training seed of each model, every one on those N rows in the same order. Returns ``gap`` (mean
    over seeds of A minus mean over seeds of B on the full test set; both means as ``mean_a`` / ``mean_b``),
    ``interval`` (percentile, at ``confidence``), ``clearly_above`` / ``clearly_below`` (the interval excludes zero) and the sizes.
    """
    return paired_gap_at(gold, preds_a, preds_b, metric, (confidence,), replicates=replicates, seed=seed)[0]


def paired_gap_at(gold, preds_a: Sequence, preds_b: Sequence, metric: str, confidences: Sequence[float], *,
                  replicates: int = 2000, seed: int = 0) -> list[dict]:
    """:func:`paired_gap` at each of ``confidences``, read from one set of replicates (the same draws a
    call of :func:`paired_gap` with ``seed`` makes)."""
    score = METRICS[metric]
    gold = np.asarray(gold)
    a, b = [np.asarray(p) for p in preds_a], [np.asarray(p) for p in preds_b]
    n = len(gold)
    if not a or not b:
        raise ValueError("each model needs at least one seed's predictions")
    if any(len(p) != n for p in (*a, *b)):
        raise ValueError(f"every prediction array must have the test set's {n} rows")
    rng = np.random.default_rng(seed)
    mean_a, mean_b = float(np.mean([score(gold, p) for p in a])), float(np.mean([score(gold, p) for p in b]))
    gap = mean_a - mean_b
    fast_gold, fast_preds, fast = resampled_metric(metric, gold, [*a, *b])
    fast_a, fast_b = fast_preds[:len(a)], fast_preds[len(a):]
    draws = np.empty(replicates)
    for i in range(replicates):
        rows = rng.integers(0, n, n)
        seeds_a, seeds_b = rng.integers(0, len(a), len(a)), rng.integers(0, len(b), len(b))
        g = fast_gold[rows]
        draws[i] = (np.mean([fast(g, fast_a[s][rows]) for s in seeds_a])
                    - np.mean([fast(g, fast_b[s][rows]) for s in seeds_b]))
    draws = draws[np.isfinite(draws)]
    out = []
    for confidence in confidences:
        low, high = percentile_interval(draws, confidence)
        out.append({"gap": gap, "mean_a": mean_a, "mean_b": mean_b, "interval": [low, high], "confidence": confidence, "clearly_above": low > 0,
                    "clearly_below": high < 0, "n_test": n, "seeds": [len(a), len(b)], "replicates": int(len(draws))})
    return out
