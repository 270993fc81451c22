"""Dev-set signal for checkpoint selection, computed without touching any test split."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.stats import pearsonr
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, cross_val_predict

from carl.network.embedding import encode_texts


def dev_score(encoder, tokenizer, records: Sequence, *, pooling: str, max_length: int, seed: int = 0,
              folds: int = 5) -> dict[str, float]:
    """Cross-validated V-A probe on the dev texts: how linearly V and A can be read off.

    A ridge regressor on L2-normalised embeddings, ``folds``-fold cross-validated inside the
    dev split; returns Pearson r for valence, arousal and their mean (``va_pearson``).
    """
    x = encode_texts(encoder, tokenizer, [r.text for r in records], pooling=pooling, max_length=max_length)
    x /= np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12)
    y = np.array([[r.valence, r.arousal] for r in records], dtype=np.float64)
    predicted = cross_val_predict(Ridge(alpha=1.0), x, y, cv=KFold(folds, shuffle=True, random_state=seed))
    valence = float(pearsonr(predicted[:, 0], y[:, 0])[0])
    arousal = float(pearsonr(predicted[:, 1], y[:, 1])[0])
    return {"va_pearson": (valence + arousal) / 2, "valence_pearson": valence, "arousal_pearson": arousal}
