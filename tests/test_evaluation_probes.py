"""Frozen-embedding linear probes: metrics, dev-based selection, input validation."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy import stats

from carl.evaluation.probes import (
    ProbeResult,
    classification_probe,
    fit_va_regressor,
    l2_normalise,
    va_regression_probe,
)

DIM = 16


def _va_split(rng: np.random.Generator, n: int, weights: np.ndarray, noise: float = 0.02):
    """Embeddings whose V-A is a (sigmoid of a) linear function of their direction."""
    x = rng.normal(size=(n, DIM))
    y = 1 / (1 + np.exp(-l2_normalise(x) @ weights)) + rng.normal(scale=noise, size=(n, 2))
    return x * rng.uniform(0.5, 5, size=(n, 1)), y  # random norms: the probe must not care


def _class_split(rng: np.random.Generator, n: int, labels=("no emotion", "joy", "anger")):
    x = rng.normal(size=(n, DIM))
    idx = np.argmax(x[:, : len(labels)] + np.r_[1.0, np.zeros(len(labels) - 1)], axis=1)
    return x, np.asarray(labels)[idx]


@pytest.fixture
def va_data():
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(DIM, 2)) * 3
    return [_va_split(rng, n, weights) for n in (200, 80, 80)]


@pytest.fixture
def class_data():
    rng = np.random.default_rng(1)
    return [_class_split(rng, n) for n in (300, 120, 120)]


def _flat(splits):
    return [a for split in splits for a in split]


# ------------------------------------------------------------------ l2_normalise


def test_l2_normalise_unit_rows_and_zero_row_stays_zero():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [-2.0, 0.0]])
    out = l2_normalise(x)
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0], [-1.0, 0.0]])


def test_l2_normalise_rejects_1d():
    with pytest.raises(ValueError, match="2-D"):
        l2_normalise(np.ones(3))


# ------------------------------------------------------------------ V-A probe


def test_va_probe_learns_linear_signal(va_data):
    result = va_regression_probe(*_flat(va_data))
    assert isinstance(result, ProbeResult)
    assert set(result.metrics) == {
        "pearson_v", "spearman_v", "pearson_a", "spearman_a", "pearson_mean", "spearman_mean",
    }
    assert result.metrics["pearson_mean"] > 0.9
    assert result.metrics["pearson_mean"] == pytest.approx(
        (result.metrics["pearson_v"] + result.metrics["pearson_a"]) / 2
    )
    assert set(result.chosen) == {"alpha"}
    assert result.chosen["alpha"] in (0.01, 0.1, 1, 10, 100)
    assert len(result.dev_scores) == 5


def test_va_probe_metrics_match_scipy_on_test(va_data):
    """The reported test metrics are scipy's, for the alpha chosen on dev."""
    (trx, try_), (dvx, dvy), (tex, tey) = va_data
    result = va_regression_probe(trx, try_, dvx, dvy, tex, tey)
    pred = fit_va_regressor(trx, try_, alpha=result.chosen["alpha"]).predict(tex)
    assert result.metrics["pearson_v"] == pytest.approx(stats.pearsonr(pred[:, 0], tey[:, 0])[0])
    assert result.metrics["spearman_a"] == pytest.approx(stats.spearmanr(pred[:, 1], tey[:, 1])[0])


def test_va_probe_selects_alpha_on_dev_not_test(va_data):
    """Selection uses dev: replacing test labels by noise must not change the choice."""
    (trx, try_), (dvx, dvy), (tex, tey) = va_data
    noisy = np.random.default_rng(5).uniform(size=tey.shape)
    a = va_regression_probe(trx, try_, dvx, dvy, tex, tey)
    b = va_regression_probe(trx, try_, dvx, dvy, tex, noisy)
    assert a.chosen == b.chosen
    assert a.dev_scores == b.dev_scores
    assert b.metrics["pearson_mean"] < 0.4


def test_va_probe_is_scale_invariant(va_data):
    (trx, try_), (dvx, dvy), (tex, tey) = va_data
    a = va_regression_probe(trx, try_, dvx, dvy, tex, tey)
    b = va_regression_probe(trx * 100, try_, dvx * 0.01, dvy, tex * 7, tey)
    assert a.chosen == b.chosen
    for key in a.metrics:
        assert a.metrics[key] == pytest.approx(b.metrics[key])


def test_va_probe_constant_predictions_give_nan_not_crash(va_data):
    (trx, _), (dvx, dvy), (tex, tey) = va_data
    constant = np.full((len(trx), 2), 0.5)
    result = va_regression_probe(trx, constant, dvx, dvy, tex, tey)
    assert np.isnan(result.metrics["pearson_v"])


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.__setitem__(1, d[1][:-1]), "must match"),
        (lambda d: d.__setitem__(3, d[3][:, :1]), r"shape \(n_samples, 2\)"),
        (lambda d: d.__setitem__(4, d[4][:0]) or d.__setitem__(5, d[5][:0]), "empty"),
        (lambda d: d[1].__setitem__((3, 0), np.nan), "NaN"),
        (lambda d: d.__setitem__(2, d[2][:, :-1]), "dimensions differ"),
        (lambda d: d.__setitem__(0, d[0][:, 0]), "2-D"),
    ],
    ids=["length-mismatch", "y-one-column", "empty-test", "nan-label", "dim-mismatch", "x-1d"],
)
def test_va_probe_rejects_bad_input(va_data, mutate, message):
    data = [a.copy() for a in _flat(va_data)]
    mutate(data)
    with pytest.raises(ValueError, match=message):
        va_regression_probe(*data)


def test_va_probe_rejects_bad_alphas(va_data):
    with pytest.raises(ValueError, match="alphas"):
        va_regression_probe(*_flat(va_data), alphas=())
    with pytest.raises(ValueError, match="alphas"):
        va_regression_probe(*_flat(va_data), alphas=(0, 1))


# ------------------------------------------------------------------ shipped V-A head


def test_fit_va_regressor_normalises_inside_and_pickles(va_data):
    (trx, try_), _, (tex, _) = va_data
    model = fit_va_regressor(trx, try_, alpha=1.0)
    pred = model.predict(tex)
    assert pred.shape == (len(tex), 2)
    np.testing.assert_allclose(model.predict(tex * 42.0), pred)  # raw input, any scale
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(restored.predict(tex), pred)


def test_fit_va_regressor_validates(va_data):
    (trx, try_), _, _ = va_data
    with pytest.raises(ValueError, match="must match"):
        fit_va_regressor(trx[:-1], try_, alpha=1.0)


# ------------------------------------------------------------------ classification probe


def test_classification_probe_metrics(class_data):
    result = classification_probe(*_flat(class_data), exclude_label_from_macro_f1="no emotion")
    assert set(result.metrics) == {"accuracy", "macro_f1", "weighted_f1", "macro_f1_without_no_emotion"}
    assert result.metrics["accuracy"] > 0.7
    assert all(0.0 <= v <= 1.0 for v in result.metrics.values())
    assert set(result.chosen) == {"C"}
    assert result.chosen["C"] in (0.01, 0.1, 1, 10, 100)


def test_classification_probe_macro_f1_without_label_matches_sklearn(class_data):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    (trx, try_), dev, (tex, tey) = class_data
    result = classification_probe(trx, try_, *dev, tex, tey, exclude_label_from_macro_f1="no emotion")
    clf = LogisticRegression(C=result.chosen["C"], max_iter=1000, random_state=0)
    pred = clf.fit(l2_normalise(trx), try_).predict(l2_normalise(tex))
    expected = f1_score(tey, pred, labels=["anger", "joy"], average="macro")
    assert result.metrics["macro_f1_without_no_emotion"] == pytest.approx(expected)
    assert result.metrics["macro_f1"] == pytest.approx(f1_score(tey, pred, average="macro"))


def test_classification_probe_is_deterministic(class_data):
    a = classification_probe(*_flat(class_data), seed=3)
    b = classification_probe(*_flat(class_data), seed=3)
    assert a == b
    assert a.test_predictions is not None and (a.test_predictions == b.test_predictions).all()


def test_classification_probe_chooses_c_by_dev_macro_f1(class_data):
    result = classification_probe(*_flat(class_data))
    best = max(result.dev_scores.values())
    assert result.dev_scores[f"C={result.chosen['C']:g}"] == best


def test_classification_probe_integer_labels():
    rng = np.random.default_rng(2)
    splits = []
    for n in (200, 60, 60):
        x, y = _class_split(rng, n)
        splits.append((x, np.unique(y, return_inverse=True)[1]))
    result = classification_probe(*_flat(splits), exclude_label_from_macro_f1=0)
    assert "macro_f1_without_0" in result.metrics


def test_classification_probe_unknown_excluded_label(class_data):
    with pytest.raises(ValueError, match="not a training label"):
        classification_probe(*_flat(class_data), exclude_label_from_macro_f1="neutral")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.__setitem__(3, d[3][:-2]), "must match"),
        (lambda d: d.__setitem__(0, d[0][:0]) or d.__setitem__(1, d[1][:0]), "empty"),
        (lambda d: d.__setitem__(1, np.where(np.arange(len(d[1])) == 0, None, d[1]).astype(object)), "NaN/None"),
        (lambda d: d.__setitem__(5, np.stack([d[5], d[5]], axis=1)), "1-D"),
        (lambda d: d.__setitem__(1, np.full(len(d[1]), "joy")), "single class"),
    ],
    ids=["length-mismatch", "empty-train", "none-label", "multilabel-y", "one-class"],
)
def test_classification_probe_rejects_bad_input(class_data, mutate, message):
    data = [a.copy() for a in _flat(class_data)]
    mutate(data)
    with pytest.raises(ValueError, match=message):
        classification_probe(*data)


def test_classification_probe_nan_float_labels(class_data):
    (trx, _), dev, test = class_data
    y = np.zeros(len(trx))
    y[: len(y) // 2] = 1
    y[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        classification_probe(trx, y, *dev, *test)


# ------------------------------------------------------------------ ties: strongest regularisation


@pytest.mark.parametrize("alphas", [(0.01, 0.1, 1, 10, 100), (100, 1, 0.01, 10)])
def test_va_ties_go_to_the_largest_alpha_whatever_the_grid_order(va_data, alphas):
    """Constant training targets give constant predictions for every alpha: every dev score is
    NaN, a tie; the strongest Ridge regularisation (largest alpha) must win, not the first."""
    from carl.evaluation.head_fitting import fit_va_head

    (trx, _), (dvx, dvy), (tex, tey) = va_data
    constant = np.full((len(trx), 2), 0.5)
    result = va_regression_probe(trx, constant, dvx, dvy, tex, tey, alphas=alphas)
    assert all(np.isnan(v) for v in result.dev_scores.values())
    assert result.chosen["alpha"] == 100
    assert fit_va_head(trx, constant, alphas=alphas, dev_embeddings=dvx, dev_va=dvy).alpha == 100


@pytest.mark.parametrize("cs", [(0.01, 0.1, 1, 10, 100), (100, 10, 1, 0.1, 0.01)])
def test_classification_ties_go_to_the_smallest_c_whatever_the_grid_order(cs):
    """Widely separated classes: every C classifies dev perfectly (macro-F1 1.0, a tie); the
    strongest regularisation (smallest C) must win."""
    rng = np.random.default_rng(3)

    def split(n):
        y = rng.integers(0, 2, n)
        x = np.c_[np.where(y == 1, 10.0, -10.0), rng.normal(scale=0.1, size=(n, 3))]
        return x, np.where(y == 1, "pos", "neg")

    (trx, try_), (dvx, dvy), (tex, tey) = split(60), split(40), split(40)
    result = classification_probe(trx, try_, dvx, dvy, tex, tey, Cs=cs)
    assert set(result.dev_scores.values()) == {1.0}
    assert result.chosen["C"] == 0.01


# ------------------------------------------------------------------ selection only (no test split)


@pytest.mark.parametrize("probe, data", [(va_regression_probe, "va_data"), (classification_probe, "class_data")])
def test_probe_without_test_split_selects_the_same_setting_and_reports_no_metrics(probe, data, request):
    splits = request.getfixturevalue(data)
    full = probe(*_flat(splits))
    dev_only = probe(*_flat(splits[:2]), None, None)
    assert dev_only.metrics == {}
    assert dev_only.chosen == full.chosen
    assert dev_only.dev_scores == full.dev_scores


def test_probe_refuses_half_a_test_split(va_data):
    train, dev, test = va_data
    with pytest.raises(ValueError, match="both be given or both be None"):
        va_regression_probe(*train, *dev, test[0], None)
