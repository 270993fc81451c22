"""Frozen-embedding linear probes (SentEval / MTEB style).

The encoder is frozen; a linear model is fitted on its sentence embeddings and scored
on a held-out split. A probe therefore measures what is *linearly readable* from the
embedding geometry, which is what CARL's objectives try to shape, rather than what a
fine-tuned network can learn on top of it.

Protocol (decisions, see docs/METHOD.md, "Evaluation this project owns"):

* Every split is L2-normalised first. Sentence embeddings are compared by cosine, so
  their norm carries no intended information; normalising also puts every encoder on
  the same scale, so one hyper-parameter grid fits all of them.
* One hyper-parameter is tuned on the dev split only (Ridge ``alpha`` or logistic
  ``C``); the probe is then refitted on train alone with that value and scored once on
  test. Dev is never trained on, so the test score is not tuned on test.
* Ties in the dev score go to the **strongest regularisation** among the tied candidates
  (largest Ridge ``alpha``, smallest logistic ``C``), the conservative choice, whatever
  order the grid is given in. (Before issue #12 ties kept the first candidate of the grid,
  which for the default alphas (0.01 ... 100) was the *weakest* Ridge regularisation.)
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import Normalizer

from carl.inference.heads.base import l2_normalise  # one definition: a probe and a shipped head normalise alike

__all__ = [
    "ProbeResult",
    "classification_metrics",
    "classification_probe",
    "fit_va_regressor",
    "macro_f1_without",
    "l2_normalise",
    "va_metrics",
    "va_regression_probe",
]

_SPLITS = ("train", "dev", "test")


@dataclass
class ProbeResult:
    """What a probe reports.

    metrics: test-split scores (names documented on each probe).
    chosen: the hyper-parameters selected on dev, e.g. ``{"alpha": 1.0}``.
    dev_scores: the dev selection score of every candidate, keyed ``"alpha=0.1"`` /
        ``"C=10"``, so a report can show how flat or sharp the choice was.
    """

    metrics: dict[str, float]
    chosen: dict[str, float]
    dev_scores: dict[str, float] = field(default_factory=dict)
    test_predictions: np.ndarray | None = field(default=None, compare=False)  # arrays have no plain ==
    """The chosen model's prediction for each test row (V-A: (N, 2); classes: (N,) labels), for paired
    comparisons over test texts (:mod:`carl.evaluation.paired_bootstrap`); None without a test split."""


# --------------------------------------------------------------------------- helpers


def _has_missing(y: np.ndarray) -> bool:
    """True when labels hold NaN (numeric) or None / float NaN (object arrays)."""
    if y.dtype.kind in "fc":
        return bool(np.isnan(y).any())
    if y.dtype.kind == "O":
        return any(v is None or (isinstance(v, float) and math.isnan(v)) for v in y.ravel())
    return False


def _check_split(name: str, x, y, *, y_columns: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Validate one split and return it as arrays (x normalised).

    ``y_columns`` is the required number of target columns (2 for V-A) or ``None`` for
    a 1-D vector of class labels.
    """
    x_arr = np.asarray(x)
    y_arr = np.asarray(y)
    if x_arr.ndim != 2:
        raise ValueError(f"{name}_x must be 2-D (n_samples, dim); got shape {x_arr.shape}")
    if x_arr.shape[0] == 0:
        raise ValueError(f"the {name} split is empty (0 rows); every split needs examples")
    if y_columns is None:
        if y_arr.ndim != 1:
            raise ValueError(
                f"{name}_y must be a 1-D vector of class labels (single-label); got shape {y_arr.shape}"
            )
    elif y_arr.ndim != 2 or y_arr.shape[1] != y_columns:
        raise ValueError(
            f"{name}_y must have shape (n_samples, {y_columns}) (valence, arousal); got {y_arr.shape}"
        )
    if y_arr.shape[0] != x_arr.shape[0]:
        raise ValueError(
            f"{name}: {x_arr.shape[0]} embeddings but {y_arr.shape[0]} labels; they must match row for row"
        )
    if _has_missing(y_arr):
        raise ValueError(f"{name}_y contains NaN/None labels; drop or fill those rows before probing")
    if y_columns is not None:
        y_arr = y_arr.astype(np.float64)
        if not np.all(np.isfinite(y_arr)):
            raise ValueError(f"{name}_y contains infinite values")
    try:
        x_norm = l2_normalise(x_arr)
    except ValueError as err:
        raise ValueError(f"{name}_x: {err}") from None
    return x_norm, y_arr


def _check_splits(xs: Sequence, ys: Sequence, *, y_columns: int | None):
    """Validate train/dev/test together; embedding widths must agree across splits. A test
    split given as ``None, None`` (dev-only selection) comes back as ``(None, None)``."""
    if (xs[2] is None) != (ys[2] is None):
        raise ValueError("test_x and test_y must both be given or both be None")
    checked = [_check_split(n, x, y, y_columns=y_columns) if x is not None else (None, None)
               for n, x, y in zip(_SPLITS, xs, ys)]
    dims = {n: c[0].shape[1] for n, c in zip(_SPLITS, checked) if c[0] is not None}
    if len(set(dims.values())) != 1:
        raise ValueError(f"embedding dimensions differ between splits: {dims}")
    return checked


def _check_grid(name: str, values: Sequence[float]) -> list[float]:
    grid = [float(v) for v in values]
    if not grid or any(not (v > 0 and math.isfinite(v)) for v in grid):
        raise ValueError(f"{name} must be a non-empty sequence of positive numbers; got {values!r}")
    return grid


def _correlations(pred: np.ndarray, gold: np.ndarray) -> tuple[float, float]:
    """Pearson and Spearman r; NaN (not a warning) when either side is constant."""
    if np.ptp(pred) == 0 or np.ptp(gold) == 0 or len(gold) < 2:
        return float("nan"), float("nan")
    return float(stats.pearsonr(pred, gold)[0]), float(stats.spearmanr(pred, gold)[0])


def _score_for_selection(value: float) -> float:
    """NaN scores (constant predictions) must never win the selection."""
    return -math.inf if math.isnan(value) else value


def _strongest_best(scores: dict[float, float], *, strongest_first: Sequence[float]) -> float:
    """The candidate with the highest dev score; among tied ones the first of
    ``strongest_first`` (candidates ordered from strongest to weakest regularisation)."""
    return max(strongest_first, key=lambda value: scores[value])  # max keeps the first maximum


def macro_f1_without_name(label) -> str:
    """The metric name of macro-F1 without ``label``: "no emotion" -> "macro_f1_without_no_emotion"."""
    return f"macro_f1_without_{_metric_suffix(label)}"


def _metric_suffix(label) -> str:
    """Turn a label into a metric-name-safe suffix: "no emotion" -> "no_emotion"."""
    return re.sub(r"[^0-9A-Za-z]+", "_", str(label)).strip("_") or "label"


# ------------------------------------------------------------------ V-A regression


def fit_va_regressor(x: np.ndarray, y: np.ndarray, *, alpha: float) -> Pipeline:
    """Fit the V-A head that ships with a model: L2-normalise, then Ridge.

    Returns a :class:`sklearn.pipeline.Pipeline` (``Normalizer`` -> ``Ridge``), so it
    accepts raw embeddings and normalises inside, exactly as :func:`va_regression_probe`
    scored it. It contains only stock sklearn classes, so it pickles / joblib-dumps
    without importing carl. ``predict`` returns (n, 2) valence/arousal in the label scale
    it was trained on (normalised [0, 1] in this project); values may fall slightly
    outside that range, since Ridge is unbounded.
    """
    x_arr, y_arr = _check_split("train", x, y, y_columns=2)
    del x_arr  # validated; the pipeline normalises the raw input itself
    model = make_pipeline(Normalizer(norm="l2"), Ridge(alpha=float(alpha)))
    return model.fit(np.asarray(x, dtype=np.float64), y_arr)


def va_metrics(pred: np.ndarray, gold: np.ndarray) -> dict[str, float]:
    """Pearson and Spearman of predicted vs gold valence and arousal, and their means."""
    pv, sv = _correlations(pred[:, 0], gold[:, 0])
    pa, sa = _correlations(pred[:, 1], gold[:, 1])
    return {
        "pearson_v": pv,
        "spearman_v": sv,
        "pearson_a": pa,
        "spearman_a": sa,
        "pearson_mean": (pv + pa) / 2,
        "spearman_mean": (sv + sa) / 2,
    }


def va_regression_probe(
    train_x,
    train_y,
    dev_x,
    dev_y,
    test_x,
    test_y,
    *,
    alphas: Sequence[float] = (0.01, 0.1, 1, 10, 100),
    seed: int = 0,
) -> ProbeResult:
    """Ridge probe for valence and arousal on frozen embeddings.

    ``*_y`` have two columns (valence, arousal). One Ridge with a shared ``alpha`` fits
    both columns; ``alpha`` is the candidate with the highest mean dev Pearson r of V and
    A (Pearson because it is the headline metric the paper reports). Metrics, on test,
    via :mod:`scipy.stats`: ``pearson_v``, ``spearman_v``, ``pearson_a``, ``spearman_a``,
    ``pearson_mean``, ``spearman_mean`` (means over V and A). A correlation is NaN when
    the predictions are constant.

    ``seed`` is accepted for a uniform probe API; Ridge's closed-form solvers are
    deterministic, so it has no effect. ``test_x=test_y=None``: selection only (empty
    ``metrics``), for choosing methods on dev without reading a test split.
    """
    del seed
    grid = _check_grid("alphas", alphas)
    (tr_x, tr_y), (dv_x, dv_y), (te_x, te_y) = _check_splits(
        (train_x, dev_x, test_x), (train_y, dev_y, test_y), y_columns=2
    )
    dev_scores: dict[str, float] = {}
    by_alpha: dict[float, float] = {}
    for alpha in grid:
        model = Ridge(alpha=alpha).fit(tr_x, tr_y)
        score = va_metrics(model.predict(dv_x), dv_y)["pearson_mean"]
        dev_scores[f"alpha={alpha:g}"] = score
        by_alpha[alpha] = _score_for_selection(score)
    best_alpha = _strongest_best(by_alpha, strongest_first=sorted(by_alpha, reverse=True))
    if te_x is None:
        return ProbeResult(metrics={}, chosen={"alpha": best_alpha}, dev_scores=dev_scores)
    pred = Ridge(alpha=best_alpha).fit(tr_x, tr_y).predict(te_x)
    return ProbeResult(
        metrics=va_metrics(pred, te_y),
        chosen={"alpha": best_alpha},
        dev_scores=dev_scores,
        test_predictions=pred,
    )


# ------------------------------------------------------------------ classification


def classification_metrics(gold: np.ndarray, pred: np.ndarray, exclude_label) -> dict[str, float]:
    """accuracy, macro-F1 and weighted-F1 over the labels seen in gold or prediction
    (sklearn's default label set), plus macro-F1 without ``exclude_label``."""
    metrics = {
        "accuracy": float(accuracy_score(gold, pred)),
        "macro_f1": float(f1_score(gold, pred, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(gold, pred, average="weighted", zero_division=0)),
    }
    if exclude_label is not None:
        metrics[macro_f1_without_name(exclude_label)] = macro_f1_without(gold, pred, exclude_label)
    return metrics


def macro_f1_without(gold: np.ndarray, pred: np.ndarray, exclude_label) -> float:
    """Macro-F1 over the labels in gold or prediction except ``exclude_label``. Predictions of the
    excluded class still count as false negatives for the true class, which is the usual
    DailyDialog convention; only its own F1 is dropped."""
    kept = [lab for lab in np.union1d(gold, pred) if lab != exclude_label]
    return float(f1_score(gold, pred, labels=kept, average="macro", zero_division=0)) if kept else 0.0


def classification_probe(
    train_x,
    train_y,
    dev_x,
    dev_y,
    test_x,
    test_y,
    *,
    Cs: Sequence[float] = (0.01, 0.1, 1, 10, 100),
    seed: int = 0,
    exclude_label_from_macro_f1=None,
    max_iter: int = 1000,
    tol: float = 1e-4,
) -> ProbeResult:
    """Single-label logistic-regression probe on frozen embeddings.

    ``C`` is chosen by **dev macro-F1**, not accuracy: the affective corpora are heavily
    imbalanced (DailyDialog is ~80 % "no emotion"), and accuracy rewards a strongly
    regularised probe that predicts the majority class, whereas macro-F1 weights every
    emotion equally, which is what the probe is meant to reveal. The seed is fixed
    (``random_state``) so repeated runs give identical numbers.

    Metrics, on test: ``accuracy``, ``macro_f1``, ``weighted_f1`` and, when
    ``exclude_label_from_macro_f1`` is given, ``macro_f1_without_<label>`` where
    ``<label>`` is the label with non-alphanumeric runs replaced by ``_``
    (``"no emotion"`` -> ``macro_f1_without_no_emotion``). That label must occur in the
    training labels, so a misspelt name fails loudly instead of silently excluding nothing.
    ``test_x=test_y=None``: selection only (empty ``metrics``), no test split read.

    ``tol`` (lbfgs's stopping tolerance) and ``max_iter`` are sklearn's defaults and every committed score's.
    At C ≥ 10 the fit stops short of its optimum where float summation order (BLAS threads) leads it: on the
    same embeddings, 1 and 2 threads give dev macro-F1 up to 0.0007 apart; float64 embeddings with
    ``tol=1e-8``, ``max_iter=10000`` give identical scores (``scripts/probe_numerics.py``, results/probe-numerics).
    """
    grid = _check_grid("Cs", Cs)
    (tr_x, tr_y), (dv_x, dv_y), (te_x, te_y) = _check_splits(
        (train_x, dev_x, test_x), (train_y, dev_y, test_y), y_columns=None
    )
    classes = np.unique(tr_y)
    if len(classes) < 2:
        raise ValueError(f"train_y holds a single class ({classes.tolist()}); a classifier needs at least 2")
    if exclude_label_from_macro_f1 is not None and exclude_label_from_macro_f1 not in set(classes.tolist()):
        raise ValueError(
            f"exclude_label_from_macro_f1={exclude_label_from_macro_f1!r} is not a training label; "
            f"labels are {classes.tolist()}"
        )

    def fit(c: float) -> LogisticRegression:
        return LogisticRegression(C=c, max_iter=max_iter, tol=tol, random_state=seed).fit(tr_x, tr_y)

    dev_scores: dict[str, float] = {}
    by_c: dict[float, float] = {}
    for c in grid:
        score = float(f1_score(dv_y, fit(c).predict(dv_x), average="macro", zero_division=0))
        dev_scores[f"C={c:g}"] = score
        by_c[c] = score
    best_c = _strongest_best(by_c, strongest_first=sorted(by_c))
    if te_x is None:
        return ProbeResult(metrics={}, chosen={"C": best_c}, dev_scores=dev_scores)
    pred = fit(best_c).predict(te_x)
    return ProbeResult(
        metrics=classification_metrics(te_y, pred, exclude_label_from_macro_f1),
        chosen={"C": best_c},
        dev_scores=dev_scores,
        test_predictions=pred,
    )
