"""Alignment / uniformity (Wang & Isola 2020) and the positive-pair rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import pdist

import carl.evaluation.geometry as geometry
from carl.evaluation.geometry import alignment, positive_pairs_by_label, uniformity, va_positive_pairs


def _circle(n: int) -> np.ndarray:
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


# ------------------------------------------------------------------ alignment


def test_alignment_identical_embeddings_is_zero():
    x = np.random.default_rng(0).normal(size=(20, 8))
    assert alignment(x, x.copy()) == 0.0
    assert alignment(x, 3 * x) == pytest.approx(0.0, abs=1e-12)  # normalised inside


def test_alignment_known_values():
    x = np.array([[1.0, 0.0], [0.0, 2.0]])
    opposite = -x
    orthogonal = np.array([[0.0, 1.0], [5.0, 0.0]])
    assert alignment(x, opposite) == pytest.approx(4.0)  # ||2u||^2
    assert alignment(x, orthogonal) == pytest.approx(2.0)  # ||u - v||^2 = 2
    assert alignment(x, orthogonal, alpha=1) == pytest.approx(math.sqrt(2))


@pytest.mark.parametrize(
    "x, y, message",
    [
        (np.ones((3, 2)), np.ones((4, 2)), "same number"),
        (np.ones((0, 2)), np.ones((0, 2)), "at least one"),
        (np.zeros((2, 2)), np.ones((2, 2)), "all-zero"),
        (np.ones(3), np.ones(3), "2-D"),
    ],
)
def test_alignment_rejects_bad_input(x, y, message):
    with pytest.raises(ValueError, match=message):
        alignment(x, y)


# ------------------------------------------------------------------ uniformity


def test_uniformity_collapsed_is_zero_spread_is_negative():
    collapsed = np.tile([[0.3, 0.4]], (12, 1))
    assert uniformity(collapsed) == pytest.approx(0.0, abs=1e-12)
    spread = uniformity(_circle(12))
    assert spread < -1.0
    # More points evenly on the circle approach the continuous value log E exp(-2||u-v||^2)
    # = log(e^-4 I0(4)) for t=2 (uniform distribution on S^1).
    from scipy.special import i0

    assert uniformity(_circle(2000)) == pytest.approx(math.log(math.exp(-4) * i0(4)), abs=1e-2)


def test_uniformity_matches_reference_implementation(monkeypatch):
    """Same value as the authors' `pdist(x).pow(2).mul(-t).exp().mean().log()`, also
    when the computation is split into several row blocks."""
    x = np.random.default_rng(1).normal(size=(50, 5))
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    for t in (1.0, 2.0):
        expected = math.log(np.mean(np.exp(-t * pdist(xn, "sqeuclidean"))))
        assert uniformity(x, t=t) == pytest.approx(expected)
        monkeypatch.setattr(geometry, "_BLOCK", 7)
        assert uniformity(x, t=t) == pytest.approx(expected)


def test_uniformity_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 2"):
        uniformity(np.ones((1, 3)))
    with pytest.raises(ValueError, match="t must be"):
        uniformity(np.ones((3, 3)), t=0)
    with pytest.raises(ValueError, match="NaN"):
        uniformity(np.array([[1.0, np.nan], [1.0, 0.0]]))


# ------------------------------------------------------------------ label pairs


def test_label_pairs_all_when_few():
    labels = np.array(["joy", "anger", "joy", "joy", "sad"])
    i, j = positive_pairs_by_label(labels)
    assert list(zip(i.tolist(), j.tolist())) == [(0, 2), (0, 3), (2, 3)]
    assert i.dtype == np.int64


def test_label_pairs_respect_rule_and_sample_without_replacement():
    labels = np.random.default_rng(0).integers(0, 4, size=400)
    i, j = positive_pairs_by_label(labels, max_pairs=500, seed=1)
    assert len(i) == 500
    assert np.all(labels[i] == labels[j])
    assert np.all(i < j)
    assert len(set(zip(i.tolist(), j.tolist()))) == 500


def test_label_pairs_cover_classes_in_proportion():
    """Sampling is uniform over all positive pairs, so a class's share ~ its pair count."""
    labels = np.array([0] * 200 + [1] * 100)  # 19900 vs 4950 pairs -> 80 % / 20 %
    i, _ = positive_pairs_by_label(labels, max_pairs=4000, seed=0)
    share = np.mean(labels[i] == 0)
    assert 0.77 < share < 0.83


def test_label_pairs_deterministic_for_seed():
    labels = np.random.default_rng(0).integers(0, 3, size=300)
    a = positive_pairs_by_label(labels, max_pairs=100, seed=7)
    b = positive_pairs_by_label(labels, max_pairs=100, seed=7)
    c = positive_pairs_by_label(labels, max_pairs=100, seed=8)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not (np.array_equal(a[0], c[0]) and np.array_equal(a[1], c[1]))


def test_label_pairs_none_when_all_distinct():
    i, j = positive_pairs_by_label([1, 2, 3])
    assert len(i) == len(j) == 0


def test_label_pairs_reject_missing_labels():
    with pytest.raises(ValueError, match="NaN/None"):
        positive_pairs_by_label(np.array([1.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match="1-D"):
        positive_pairs_by_label(np.zeros((3, 2)))


# ------------------------------------------------------------------ V-A pairs


def test_va_pairs_respect_radius_and_are_complete():
    va = np.random.default_rng(0).uniform(size=(150, 2))
    i, j = va_positive_pairs(va, radius=0.1)
    dist = np.linalg.norm(va[i] - va[j], axis=1)
    assert np.all(dist <= 0.1) and np.all(i < j)
    # Complete: every pair within the radius is found (brute force check).
    all_d = np.linalg.norm(va[:, None] - va[None], axis=-1)
    expected = int(np.sum(np.triu(all_d <= 0.1, k=1)))
    assert len(i) == expected


def test_va_pairs_sampled_and_deterministic():
    va = np.random.default_rng(0).uniform(size=(300, 2))
    a = va_positive_pairs(va, radius=0.2, max_pairs=200, seed=3)
    b = va_positive_pairs(va, radius=0.2, max_pairs=200, seed=3)
    assert len(a[0]) == 200
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert len(set(zip(a[0].tolist(), a[1].tolist()))) == 200


def test_va_pairs_reject_unnormalised_labels():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        va_positive_pairs(np.array([[1.0, 5.0], [3.0, 2.0]]))  # raw EmoBank 1-5 scale
    with pytest.raises(ValueError, match="NaN"):
        va_positive_pairs(np.array([[0.1, np.nan], [0.3, 0.2]]))


def test_alignment_on_sampled_pairs_end_to_end():
    """Embeddings that encode V-A align their V-A neighbours better than random ones."""
    rng = np.random.default_rng(0)
    va = rng.uniform(size=(300, 2))
    good = np.c_[va - 0.5, np.full(300, 0.3)]
    bad = rng.normal(size=(300, 3))
    i, j = va_positive_pairs(va, radius=0.1)
    assert alignment(good[i], good[j]) < alignment(bad[i], bad[j])
