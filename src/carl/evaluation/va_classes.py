"""Where a model's V-A head places texts of known emotion (issue 43).

A V-A head that ranks EmoBank sentences well can still put "I am terrified" at low arousal: EmoBank's
arousal ratings crowd the middle of the scale. The class corpora say what a reader expects of the
circumplex (Russell 1980): anger and fear are aroused, sadness is not; joy is pleasant, sadness,
anger and fear are not. Two ROC AUCs on single-label texts of a class corpus measure it:

* **arousal AUC** (:func:`arousal_auc`): predicted arousal separating anger + fear (positive) from
  sadness, i.e. the probability that a random anger-or-fear text gets a higher arousal than a random
  sadness text;
* **valence AUC** (:func:`valence_auc`): predicted valence separating joy (positive) from sadness,
  anger and fear.

Labels are unified first (:func:`carl.data.emotion_classes.unified`: DailyDialog's "happiness" is joy).
The predictions are the model folder's own ``va_head.json`` (what ``carl.load(...).predict_va`` and
``/v1/affect`` answer), so these tasks score the head a user gets, not a probe refitted per task;
:func:`class_means` gives each class's mean predicted V-A, pictured by :func:`plot_class_means`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from carl.data.emotion_classes import unified
from carl.errors import CarlError

__all__ = ["AROUSED", "LOW_AROUSAL", "NEGATIVE", "POSITIVE", "arousal_auc", "class_means", "plot_class_means",
           "separation_metrics", "valence_auc"]

AROUSED = ("anger", "fear")
LOW_AROUSAL = ("sadness",)
POSITIVE = ("joy",)
NEGATIVE = ("sadness", "anger", "fear")


def _auc(scores: np.ndarray, labels: Sequence[str], positive: Sequence[str], negative: Sequence[str]) -> float:
    """ROC AUC of ``scores`` for ``positive`` against ``negative`` classes (other texts left out):
    the Mann-Whitney probability that a positive text scores above a negative one, ties counting half.
    NaN when either side has no text."""
    from sklearn.metrics import roc_auc_score  # lazy: sklearn only when scoring

    names = np.array([unified(label) for label in labels])
    keep = np.isin(names, [*positive, *negative])
    target = np.isin(names[keep], positive)
    if target.all() or not target.any():
        return float("nan")
    return float(roc_auc_score(target, np.asarray(scores, dtype=np.float64)[keep]))


def arousal_auc(arousal, labels: Sequence[str]) -> float:
    """AUC of predicted arousal separating anger + fear from sadness (:data:`AROUSED` vs :data:`LOW_AROUSAL`)."""
    return _auc(arousal, labels, AROUSED, LOW_AROUSAL)


def valence_auc(valence, labels: Sequence[str]) -> float:
    """AUC of predicted valence separating joy from sadness, anger and fear (:data:`POSITIVE` vs :data:`NEGATIVE`)."""
    return _auc(valence, labels, POSITIVE, NEGATIVE)


def class_means(va, labels: Sequence[str]) -> dict[str, dict[str, float]]:
    """Each (unified) class's mean predicted valence and arousal and its text count, in sorted class order."""
    va = np.asarray(va, dtype=np.float64)
    if va.ndim != 2 or va.shape[1] != 2 or len(va) != len(labels):
        raise CarlError(f"class_means needs (N, 2) V-A for N labels; got {va.shape} for {len(labels)} labels")
    names = np.array([unified(label) for label in labels])
    return {name: {"valence": float(va[names == name, 0].mean()), "arousal": float(va[names == name, 1].mean()),
                   "n": int((names == name).sum())} for name in sorted(set(names.tolist()))}


def separation_metrics(va, labels: Sequence[str]) -> dict[str, float]:
    """The two AUCs and the text counts they stand on."""
    names = [unified(label) for label in labels]
    va = np.asarray(va, dtype=np.float64)
    return {"arousal_auc": arousal_auc(va[:, 1], names), "valence_auc": valence_auc(va[:, 0], names),
            "n_aroused": sum(n in AROUSED for n in names), "n_low_arousal": sum(n in LOW_AROUSAL for n in names),
            "n_positive": sum(n in POSITIVE for n in names), "n": len(names)}


_MARKERS = "osD^vP*Xh"


def plot_class_means(means: Mapping[str, Mapping[str, Mapping[str, Mapping[str, float]]]], path) -> Path:
    """One panel per model: each class's mean predicted V-A per corpus on the circumplex.

    ``means``: model -> corpus -> class -> {"valence", "arousal", "n"} (:func:`class_means`).
    Colour is the class, marker the corpus; the dotted cross marks the scale's middle (0.5, 0.5).
    """
    from matplotlib import colormaps  # lazy: matplotlib only when plotting
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    models = list(means)
    if not models:
        raise CarlError("plot_class_means needs at least one model")
    corpora = sorted({c for m in models for c in means[m]})
    classes = sorted({k for m in models for c in means[m] for k in means[m][c]})
    palette = colormaps["tab10"]
    colour = {k: palette(i % 10) for i, k in enumerate(classes)}
    marker = {c: _MARKERS[i % len(_MARKERS)] for i, c in enumerate(corpora)}
    fig = Figure(figsize=(4.6 * len(models) + 1.8, 4.8), layout="constrained")
    axes = fig.subplots(1, len(models), squeeze=False)[0]
    for ax, model in zip(axes, models):
        ax.axhline(0.5, color="0.8", ls=":", lw=1)
        ax.axvline(0.5, color="0.8", ls=":", lw=1)
        for corpus in corpora:
            for name, point in means[model].get(corpus, {}).items():
                ax.scatter(point["valence"], point["arousal"], color=colour[name], marker=marker[corpus], s=46,
                           edgecolor="black", linewidth=0.4, zorder=3)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean predicted valence", ylabel="mean predicted arousal",
               title=model, aspect="equal")
    handles = [Line2D([], [], color=colour[k], marker="o", ls="", label=k) for k in classes]
    handles += [Line2D([], [], color="0.3", marker=marker[c], ls="", label=c) for c in corpora]
    fig.legend(handles=handles, loc="outside right center", fontsize=8, frameon=False)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    # bbox_inches="tight": with one panel, constrained layout left the y label partly off the left edge
    fig.savefig(out, dpi=120, format="png", bbox_inches="tight", pad_inches=0.1)
    return out
