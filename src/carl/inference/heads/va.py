"""The valence-arousal head that ships inside a model folder: ``va_head.json``.

A Ridge regression from L2-normalised sentence embeddings to (valence, arousal), fitted by
:mod:`carl.evaluation.head_fitting` with the same protocol as the V-A probe
(:func:`carl.evaluation.probes.va_regression_probe`): alpha is chosen on the dev split by mean
Pearson r of V and A, then the head is fitted on the train split alone, so the dev metrics it
records are honest. This module only reads, writes and applies it.

Stored as JSON only (:class:`carl.inference.heads.base.JsonHead`). Predictions are in the
per-corpus min-max normalised [0, 1] scale of carl's V-A labels (docs/data.md) and are
**clipped to [0, 1]** by default, since that scale's ends are the most extreme ratings seen in
the training corpora and a linear model's overshoot past them has no meaning; ``clip=False``
gives the raw Ridge output (which is what the probe metrics score).

    python -m carl.va_head runs/main/model               # fit on EmoBank + Facebook-VA, save
    carl.load("runs/main/model").predict_va(["I won", "I lost"])   # (2, 2) valence, arousal
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from carl.errors import ModelError
from carl.inference.heads.base import JsonHead, finite_or_none, l2_normalise

__all__ = ["FIT_COMMAND", "FORMAT", "HEAD_FILE", "VAHead"]

HEAD_FILE = "va_head.json"
FORMAT = "carl-va-head/1"
FIT_COMMAND = "python -m carl.va_head {model}"
"""How a user adds a head to a model folder (named in error messages)."""


@dataclass
class VAHead(JsonHead):
    """Ridge weights mapping L2-normalised embeddings to (valence, arousal).

    ``coef``: (2, H); ``intercept``: (2,); ``alpha``: the Ridge penalty chosen on dev;
    ``training_corpora``: where the labels came from; ``metrics``: dev scores of the fitted
    head (Pearson/Spearman of V and A); ``info``: anything else worth keeping (split sizes,
    dev score of every alpha, split seed, date).
    """

    coef: np.ndarray
    intercept: np.ndarray
    alpha: float
    training_corpora: tuple[str, ...] = ()
    metrics: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    FILE = HEAD_FILE
    FORMAT = FORMAT
    KIND = "V-A head"
    FIT_COMMAND = FIT_COMMAND

    def __post_init__(self):
        self.coef = np.asarray(self.coef, dtype=np.float64)
        self.intercept = np.asarray(self.intercept, dtype=np.float64)
        if self.coef.ndim != 2 or self.coef.shape[0] != 2:
            raise ModelError(f"V-A head weights must have shape (2, dim); got {self.coef.shape}")
        if self.intercept.shape != (2,):
            raise ModelError(f"V-A head intercept must have 2 values; got shape {self.intercept.shape}")
        if not (np.all(np.isfinite(self.coef)) and np.all(np.isfinite(self.intercept))):
            raise ModelError("V-A head weights contain NaN or infinite values")
        self.training_corpora = tuple(self.training_corpora)

    @property
    def dim(self) -> int:
        return int(self.coef.shape[1])

    def predict(self, embeddings, *, clip: bool = True) -> np.ndarray:
        """(N, 2) valence, arousal in the normalised [0, 1] scale (clipped unless ``clip=False``)."""
        x = np.asarray(embeddings)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ModelError(f"the V-A head expects embeddings of dimension {self.dim}; got shape {x.shape}. "
                             "Was va_head.json fitted for another model?")
        pred = l2_normalise(x) @ self.coef.T + self.intercept
        return np.clip(pred, 0.0, 1.0) if clip else pred

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "input": "sentence embedding of this model folder, L2-normalised",
            "output": ["valence", "arousal"],
            "scale": "per-corpus min-max normalised [0, 1] (docs/data.md); predictions clipped to [0, 1] by default",
            "alpha": float(self.alpha),
            "dim": self.dim,
            "training_corpora": list(self.training_corpora),
            "metrics": finite_or_none(self.metrics),
            "info": finite_or_none(self.info),
            "intercept": [float(v) for v in self.intercept],
            "coef": [[float(v) for v in row] for row in self.coef],
        }

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "V-A head") -> "VAHead":
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ModelError(f"{source}: not a carl V-A head (expected format {FORMAT!r})")
        try:
            return cls(coef=np.array(data["coef"], dtype=np.float64),
                       intercept=np.array(data["intercept"], dtype=np.float64), alpha=float(data["alpha"]),
                       training_corpora=tuple(data.get("training_corpora", ())), metrics=data.get("metrics", {}),
                       info=data.get("info", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{source}: malformed V-A head ({exc})") from None

    @classmethod
    def missing_message(cls, folder) -> str:
        return (f"{folder} has no V-A head ({HEAD_FILE}); fit one with `{FIT_COMMAND.format(model=folder)}` "
                "(Ridge on EmoBank + Facebook-VA, saved into the model folder)")
