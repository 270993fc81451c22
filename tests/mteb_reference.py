"""carl's former hand-written re-implementation of MTEB's classification protocol, kept as an
independent reference for tests: ``carer-mteb`` now runs through the ``mteb`` library
(carl.evaluation.mteb_tasks), and tests/test_mteb_library.py checks that the library's numbers
equal this re-implementation's on the same embeddings.

It follows mteb's ``AbsTaskClassification`` (v1.x and v2): for each experiment, a list of
indices that persists across experiments is shuffled in place by a fresh
``np.random.RandomState(seed)``, the first ``samples_per_label`` indices of every label form
the training set, and ``LogisticRegression(max_iter=100, random_state=seed)`` fitted on the raw
embeddings predicts the whole test split.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

MTEB_N_EXPERIMENTS = 10
MTEB_SAMPLES_PER_LABEL = 16
MTEB_SEED = 42
MTEB_MAX_ITER = 100


def mteb_undersample(labels: Sequence, *, n_experiments: int = MTEB_N_EXPERIMENTS,
                     samples_per_label: int = MTEB_SAMPLES_PER_LABEL, seed: int = MTEB_SEED) -> list[list[int]]:
    """Training indices of each MTEB experiment (``AbsTaskClassification._undersample_data``).

    One index list ``idxs = [0 .. n-1]`` lives across experiments; before each experiment it
    is shuffled in place by a fresh ``np.random.RandomState(seed)`` (so each experiment sees
    a new permutation, and the sequence is fixed by the seed), then the first
    ``samples_per_label`` indices of every label in that order are taken.
    """
    if n_experiments < 1 or samples_per_label < 1:
        raise ValueError("n_experiments and samples_per_label must be >= 1")
    labels = list(labels)
    idxs = list(range(len(labels)))
    experiments = []
    for _ in range(n_experiments):
        np.random.RandomState(seed).shuffle(idxs)
        counter: dict = defaultdict(int)
        chosen = []
        for i in idxs:
            if counter[labels[i]] < samples_per_label:
                chosen.append(i)
                counter[labels[i]] += 1
        experiments.append(chosen)
    return experiments


def mteb_classification(train_x: np.ndarray, train_y: Sequence, test_x: np.ndarray, test_y: Sequence, *,
                        n_experiments: int = MTEB_N_EXPERIMENTS, samples_per_label: int = MTEB_SAMPLES_PER_LABEL,
                        seed: int = MTEB_SEED, max_iter: int = MTEB_MAX_ITER,
                        experiments: Sequence[Sequence[int]] | None = None) -> dict[str, float]:
    """MTEB's classification protocol (``AbsTaskClassification``, mteb v1.x and v2).

    For each of ``n_experiments``: undersample the train split to ``samples_per_label``
    examples per label (:func:`mteb_undersample`), fit
    ``LogisticRegression(max_iter=100, random_state=seed)`` (sklearn defaults otherwise:
    L2, C=1, lbfgs) on the **raw** (not normalised) embeddings, predict the whole test split,
    and score accuracy, macro/weighted F1, precision and recall. Scores are the means over
    experiments (MTEB's main score is ``accuracy``); ``accuracy_std`` / ``macro_f1_std`` are
    the population std over experiments (mteb v1's ``*_stderr``). MTEB's ``f1`` is
    ``macro_f1`` here. ``experiments`` may give precomputed row indices into ``train_x``
    (e.g. when only the sampled rows were embedded).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

    train_x = np.asarray(train_x)
    test_x = np.asarray(test_x)
    train_y = np.asarray(train_y)
    test_y = np.asarray(test_y)
    if experiments is None:
        experiments = mteb_undersample(train_y.tolist(), n_experiments=n_experiments,
                                       samples_per_label=samples_per_label, seed=seed)
    rows = []
    for chosen in experiments:
        chosen = np.asarray(chosen, dtype=np.int64)
        if len(np.unique(train_y[chosen])) < 2:
            raise ValueError("an MTEB experiment drew a single class; the train split needs at least 2 labels")
        clf = LogisticRegression(max_iter=max_iter, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=100 is MTEB's setting
            clf.fit(train_x[chosen], train_y[chosen])
        pred = clf.predict(test_x)
        rows.append({
            "accuracy": accuracy_score(test_y, pred),
            "macro_f1": f1_score(test_y, pred, average="macro", zero_division=0),
            "weighted_f1": f1_score(test_y, pred, average="weighted", zero_division=0),
            "macro_precision": precision_score(test_y, pred, average="macro", zero_division=0),
            "weighted_precision": precision_score(test_y, pred, average="weighted", zero_division=0),
            "macro_recall": recall_score(test_y, pred, average="macro", zero_division=0),
            "weighted_recall": recall_score(test_y, pred, average="weighted", zero_division=0),
        })
    out = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    out["accuracy_std"] = float(np.std([r["accuracy"] for r in rows]))
    out["macro_f1_std"] = float(np.std([r["macro_f1"] for r in rows]))
    return out
