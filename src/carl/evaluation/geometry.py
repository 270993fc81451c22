"""Embedding geometry: alignment and uniformity (Wang & Isola, ICML 2020).

T. Wang and P. Isola, "Understanding Contrastive Representation Learning through
Alignment and Uniformity on the Hypersphere", ICML 2020, Sec. 4.1:

* Eq. (2)  L_align(f; alpha) = E_{(x, y) ~ p_pos} ||f(x) - f(y)||_2^alpha      (alpha > 0)
* Eq. (3)  L_uniform(f; t)   = log E_{x, y ~iid p_data} exp(-t ||f(x) - f(y)||_2^2)  (t > 0)

Both assume f maps onto the unit hypersphere, so embeddings are L2-normalised here.
Lower is better for both: alignment 0 means positives coincide; uniformity 0 means the
embeddings collapsed to one point, and more negative means more evenly spread.

Which pairs count as "positive" is this project's decision (the CARL paper does not say):
``positive_pairs_by_label`` (same discrete emotion label) and ``va_positive_pairs``
(continuous V-A labels within a radius). Report which rule a number used.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist
from scipy.special import logsumexp

__all__ = ["alignment", "positive_pairs_by_label", "uniformity", "va_positive_pairs"]

# Rows of the pairwise-distance matrix computed at once in ``uniformity``; bounds the
# memory to about _BLOCK * n floats so 10^5 embeddings do not need an n x n matrix.
_BLOCK = 1024


def _to_sphere(x, name: str) -> np.ndarray:
    """L2-normalise rows; the metrics are defined on the unit hypersphere, so a zero
    vector (which has no direction) or a non-finite value is an error, not a NaN."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_samples, dim); got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError(f"{name} has {int((norms == 0).sum())} all-zero rows, which cannot be normalised")
    return arr / norms


def alignment(x: np.ndarray, y: np.ndarray, alpha: float = 2) -> float:
    """Wang & Isola Eq. (2): mean ``||f(x_i) - f(y_i)||^alpha`` over positive pairs.

    ``x[i]`` and ``y[i]`` are the two embeddings of the i-th positive pair (e.g.
    ``emb[i_idx]`` and ``emb[j_idx]`` from :func:`positive_pairs_by_label`). Rows are
    L2-normalised inside. Range [0, 2**alpha]; 0 = every pair coincides.
    """
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0; got {alpha}")
    xs, ys = _to_sphere(x, "x"), _to_sphere(y, "y")
    if xs.shape != ys.shape:
        raise ValueError(f"x and y must hold the same number of paired rows; got {xs.shape} and {ys.shape}")
    if xs.shape[0] == 0:
        raise ValueError("alignment needs at least one positive pair; got none")
    return float(np.mean(np.linalg.norm(xs - ys, axis=1) ** alpha))


def uniformity(x: np.ndarray, t: float = 2) -> float:
    """Wang & Isola Eq. (3): ``log mean exp(-t ||f(x_i) - f(x_j)||^2)`` over pairs i < j.

    Like the authors' reference code (``torch.pdist``) the expectation is over distinct
    pairs, so a point is never paired with itself. Evaluated with ``logsumexp`` in row
    blocks: numerically stable and O(block * n) memory. Range [-4t, 0]; 0 = collapsed.
    """
    if not t > 0:
        raise ValueError(f"t must be > 0; got {t}")
    xs = _to_sphere(x, "x")
    n = xs.shape[0]
    if n < 2:
        raise ValueError(f"uniformity needs at least 2 embeddings; got {n}")
    log_terms = []
    for start in range(0, n - 1, _BLOCK):
        block = xs[start : start + _BLOCK]
        sq = cdist(block, xs[start:], metric="sqeuclidean")
        upper = np.triu(np.ones_like(sq, dtype=bool), k=1)  # column > row within xs[start:]
        log_terms.append(logsumexp(-t * sq[upper]))
    n_pairs = n * (n - 1) / 2
    return float(logsumexp(log_terms) - math.log(n_pairs))


# ------------------------------------------------------------------ positive pairs


def _check_pair_args(max_pairs: int) -> None:
    if int(max_pairs) < 1:
        raise ValueError(f"max_pairs must be >= 1; got {max_pairs}")


def _sorted_pairs(i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return pairs ordered by (i, j) so outputs are easy to compare and reproducible."""
    order = np.lexsort((j, i))
    return i[order].astype(np.int64), j[order].astype(np.int64)


def _unrank_triangle(k: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Map ranks ``k`` of the row-major upper triangle (a < b) of n items to (a, b).

    Lets us sample pairs uniformly without enumerating all n(n-1)/2 of them.
    """
    row_starts = np.concatenate(([0], np.cumsum(np.arange(n - 1, 0, -1))))[:-1]  # rank of (a, a+1)
    a = np.searchsorted(row_starts, k, side="right") - 1
    b = a + 1 + (k - row_starts[a])
    return a, b


def positive_pairs_by_label(labels, *, max_pairs: int = 10000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j), i < j, whose discrete labels are equal.

    This is the positive-pair rule for discrete corpora: same emotion label. If there are
    more than ``max_pairs`` such pairs, ``max_pairs`` are drawn uniformly without
    replacement from all of them (so big classes contribute in proportion to their pair
    count, as in Eq. (2)'s expectation over p_pos); otherwise all are returned. Output is
    sorted by (i, j) and depends only on ``labels``, ``max_pairs`` and ``seed``.
    """
    _check_pair_args(max_pairs)
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"labels must be 1-D (one discrete label per row); got shape {arr.shape}")
    if (arr.dtype.kind == "f" and np.isnan(arr).any()) or (
        arr.dtype.kind == "O" and any(v is None or (isinstance(v, float) and math.isnan(v)) for v in arr)
    ):
        raise ValueError("labels contain NaN/None; drop unlabelled rows first")
    if arr.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    _, inverse = np.unique(arr, return_inverse=True)
    groups = [np.flatnonzero(inverse == g) for g in range(inverse.max() + 1)]
    groups = [g for g in groups if len(g) >= 2]
    counts = np.array([len(g) * (len(g) - 1) // 2 for g in groups], dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)

    if total <= max_pairs:
        ranks = np.arange(total, dtype=np.int64)
    else:
        ranks = np.random.default_rng(seed).choice(total, size=int(max_pairs), replace=False)
    offsets = np.concatenate(([0], np.cumsum(counts)))
    group_of = np.searchsorted(offsets, ranks, side="right") - 1
    i_out, j_out = np.empty_like(ranks), np.empty_like(ranks)
    for g, members in enumerate(groups):
        mask = group_of == g
        if mask.any():
            a, b = _unrank_triangle(ranks[mask] - offsets[g], len(members))
            i_out[mask], j_out[mask] = members[a], members[b]
    return _sorted_pairs(i_out, j_out)


def va_positive_pairs(
    va: np.ndarray, *, radius: float = 0.1, max_pairs: int = 10000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j), i < j, whose V-A labels lie within ``radius`` (Euclidean, <=).

    The continuous counterpart of same-label positives, matching CARL's use of V-A
    labels. ``va`` must be in the per-corpus min-max normalised [0, 1] space (METHOD.md,
    Eq. 12), because ``radius`` is measured there; raw 1-5 or 1-9 ratings are rejected.
    Neighbours come from :meth:`scipy.spatial.cKDTree.query_pairs`; if more than
    ``max_pairs`` are found, ``max_pairs`` are sampled uniformly without replacement.
    Output is sorted by (i, j) and deterministic for a seed.
    """
    _check_pair_args(max_pairs)
    if not radius >= 0:
        raise ValueError(f"radius must be >= 0; got {radius}")
    arr = np.asarray(va, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise ValueError(f"va must be a 2-D array (n_samples, 2) of valence, arousal; got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("va contains NaN or infinite values; drop unlabelled rows first")
    if arr.size and (arr.min() < -1e-9 or arr.max() > 1 + 1e-9):
        raise ValueError(
            f"va values span [{arr.min():g}, {arr.max():g}] but must be min-max normalised to [0, 1] "
            "per corpus first; radius is measured in that space"
        )
    if arr.shape[0] < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    pairs = cKDTree(arr).query_pairs(r=float(radius), output_type="ndarray")
    if len(pairs) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    # query_pairs gives i < j in an unspecified order; sort before sampling so the
    # sample depends only on the seed, not on scipy's internal ordering.
    i, j = _sorted_pairs(pairs[:, 0], pairs[:, 1])
    if len(i) > max_pairs:
        keep = np.sort(np.random.default_rng(seed).choice(len(i), size=int(max_pairs), replace=False))
        i, j = i[keep], j[keep]
    return i, j
