"""The emotion head that ships inside a model folder: ``emotion_head.json``.

A logistic model on the folder's L2-normalised sentence embeddings that names emotions with a
probability each. Two label sets (:data:`LABEL_SETS`):

* ``ekman``: Ekman's 6 + neutral, as GoEmotions' official Ekman relabelling (the corpus
  ``goemotions-ekman``); single-label: a softmax over the 7 labels (multinomial logistic
  regression fitted on the single-label rows), scores sum to 1;
* ``goemotions``: GoEmotions' 28 labels; multi-label: one-vs-rest logistic regression, a sigmoid
  probability per label and a per-label threshold chosen on GoEmotions dev for F1
  (:meth:`EmotionHead.predicted`).

Fitted by :mod:`carl.evaluation.head_fitting` (``carl fit-heads MODEL``) with the V-A head's
protocol: C chosen on dev, fitted on train, dev metrics recorded in the file. This module only
reads, writes and applies it (JSON only, :class:`carl.inference.heads.base.JsonHead`).

The head records which encoder it was fitted on: the folder's ``base_model`` (``carl.json``),
the embedding dimension, and the embeddings of a few fixed probe sentences
(:data:`PROBE_TEXTS`). :meth:`EmotionHead.check_encoder` embeds the probes with the model at
hand and refuses it when any probe's cosine to the recorded one is below
:data:`PROBE_MIN_COSINE` (another encoder, or the same folder retrained after the head was fitted).

    carl fit-heads runs/main/model                     # V-A head + emotion head (ekman)
    carl.load("runs/main/model").predict_emotions(["I won"], top_k=2)
    # [[{"label": "joy", "score": 0.83}, {"label": "surprise", "score": 0.06}]]
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from carl.data.lexicon import EMOTION_VA_WORDS, GOEMOTIONS_LABELS
from carl.errors import ModelError
from carl.inference.heads.base import JsonHead, finite_or_none, l2_normalise

__all__ = ["DEFAULT_LABEL_SET", "FIT_COMMAND", "FORMAT", "HEAD_FILE", "LABEL_SETS", "PROBE_MIN_COSINE",
           "PROBE_TEXTS", "EmotionHead", "check_label_set", "probe_record"]

HEAD_FILE = "emotion_head.json"
FORMAT = "carl-emotion-head/1"
FIT_COMMAND = "carl fit-heads {model}"
"""How a user adds an emotion head (and a V-A head) to a model folder (named in error messages)."""

LABEL_SETS: dict[str, tuple[str, ...]] = {
    "ekman": tuple(EMOTION_VA_WORDS["goemotions-ekman"]),
    "goemotions": tuple(GOEMOTIONS_LABELS),
}
MULTI_LABEL = {"ekman": False, "goemotions": True}
DEFAULT_LABEL_SET = "ekman"
"""Why ekman: docs/evaluation.md, "The emotion head" (chosen on GoEmotions dev)."""

PROBE_TEXTS: tuple[str, ...] = (
    "I won the final and I can't stop smiling.",
    "Someone is breaking into the house and I am terrified.",
    "My grandmother died last night.",
    "This is the worst service I have ever had, I am furious.",
    "The meeting is at three o'clock in room 12.",
    "Wow, I did not expect that at all!",
    "That smell makes me want to throw up.",
    "Thank you so much for your help.",
)
"""Fixed sentences whose embeddings identify the encoder a head was fitted on."""
PROBE_MIN_COSINE = 0.92
"""Each probe's embedding must lie at least this close (cosine) to the recorded one. Measured on the
frozen MiniLM's head (2026-12-06): the same weights through ONNX Runtime give 1.000 (float graph)
and 0.970 (int8 graph, lowest probe), while MiniLM fine-tuned by carl (three lr-trial runs of the
union study) gives 0.43-0.83, and a perturbed copy far less (tests/test_emotion_head.py)."""


def check_label_set(name: str) -> str:
    if name not in LABEL_SETS:
        raise ModelError(f"unknown emotion label set {name!r}; choose one of {', '.join(sorted(LABEL_SETS))}")
    return name


def _unit(x) -> np.ndarray:
    return l2_normalise(np.asarray(x, dtype=np.float64))


def probe_record(encode: Callable[[list[str]], np.ndarray], base_model: str | None) -> dict:
    """What a head stores about its encoder: base model id, dimension, the probes' unit embeddings
    (rounded to 6 decimals) and a SHA-256 of them (a short name for the encoder in messages)."""
    vectors = np.round(_unit(encode(list(PROBE_TEXTS))), 6)
    digest = hashlib.sha256(np.ascontiguousarray(vectors, dtype="<f8").tobytes()).hexdigest()
    return {"base_model": base_model, "dim": int(vectors.shape[1]), "probe_texts": list(PROBE_TEXTS),
            "probe_sha256": digest, "probe_embeddings": vectors.tolist()}


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow warnings for large |z|


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class EmotionHead(JsonHead):
    """Logistic weights mapping L2-normalised embeddings to a probability per emotion label.

    ``coef``: (L, H); ``intercept``: (L,); ``C``: the inverse penalty chosen on dev;
    ``thresholds``: (L,) per-label decision thresholds (multi-label sets; 0.5 otherwise unused);
    ``encoder``: :func:`probe_record` of the encoder it was fitted on; ``metrics``: dev scores;
    ``info``: split sizes, dev score of every C, date.
    """

    label_set: str
    coef: np.ndarray
    intercept: np.ndarray
    C: float
    encoder: dict
    thresholds: np.ndarray | None = None
    metrics: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    FILE = HEAD_FILE
    FORMAT = FORMAT
    KIND = "emotion head"
    FIT_COMMAND = FIT_COMMAND

    def __post_init__(self):
        check_label_set(self.label_set)
        self.coef = np.asarray(self.coef, dtype=np.float64)
        self.intercept = np.asarray(self.intercept, dtype=np.float64)
        n = len(self.labels)
        if self.coef.ndim != 2 or self.coef.shape[0] != n:
            raise ModelError(f"emotion head weights must have shape ({n}, dim) for {self.label_set}; "
                             f"got {self.coef.shape}")
        if self.intercept.shape != (n,):
            raise ModelError(f"emotion head intercept must have {n} values; got shape {self.intercept.shape}")
        self.thresholds = (np.full(n, 0.5) if self.thresholds is None
                           else np.asarray(self.thresholds, dtype=np.float64))
        if self.thresholds.shape != (n,):
            raise ModelError(f"emotion head thresholds must have {n} values; got shape {self.thresholds.shape}")
        if not all(np.all(np.isfinite(a)) for a in (self.coef, self.intercept, self.thresholds)):
            raise ModelError("emotion head weights contain NaN or infinite values")
        if not isinstance(self.encoder, dict) or int(self.encoder.get("dim", -1)) != self.dim:
            raise ModelError("emotion head: its encoder record is missing or does not match its weights")
        self._checked: set = set()

    @property
    def labels(self) -> tuple[str, ...]:
        return LABEL_SETS[self.label_set]

    @property
    def multi_label(self) -> bool:
        return MULTI_LABEL[self.label_set]

    @property
    def dim(self) -> int:
        return int(self.coef.shape[1])

    def check_encoder(self, encode: Callable[[list[str]], np.ndarray], *, where: str = "this model") -> None:
        """Refuse an encoder other than the one the head was fitted on (see :data:`PROBE_MIN_COSINE`)."""
        key = id(encode.__self__) if hasattr(encode, "__self__") else id(encode)
        if key in self._checked:
            return
        refit = f"refit it for this model with `{FIT_COMMAND.format(model=where)}`"
        fitted_on = self.encoder.get("base_model") or "an unnamed encoder"
        got = np.asarray(encode(list(self.encoder.get("probe_texts", PROBE_TEXTS))))
        if got.ndim != 2 or got.shape[1] != self.dim:
            raise ModelError(f"the emotion head was fitted on another encoder ({fitted_on}, dimension {self.dim}); "
                             f"{where} gives dimension {got.shape[-1]}: {refit}")
        recorded = np.asarray(self.encoder.get("probe_embeddings"), dtype=np.float64)
        if recorded.shape != got.shape:
            raise ModelError(f"emotion head: its encoder record is damaged (probe embeddings of shape "
                             f"{recorded.shape}); {refit}")
        cosine = np.sum(_unit(got) * _unit(recorded), axis=1)
        if float(cosine.min()) < PROBE_MIN_COSINE:
            raise ModelError(f"the emotion head was fitted on another encoder ({fitted_on}, probes "
                             f"{str(self.encoder.get('probe_sha256', ''))[:12]}): {where} embeds its probe "
                             f"sentences differently (lowest cosine {cosine.min():.3f} < {PROBE_MIN_COSINE}); {refit}")
        self._checked.add(key)

    def logits(self, embeddings) -> np.ndarray:
        """(N, L) raw scores (log-odds) before the sigmoid / softmax."""
        x = np.asarray(embeddings)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ModelError(f"the emotion head expects embeddings of dimension {self.dim}; got shape {x.shape}. "
                             f"Was {HEAD_FILE} fitted for another model?")
        return l2_normalise(x) @ self.coef.T + self.intercept

    def predict(self, embeddings) -> np.ndarray:
        """(N, L) probabilities: a softmax over the labels (ekman) or a sigmoid per label (goemotions)."""
        z = self.logits(embeddings)
        return _sigmoid(z) if self.multi_label else _softmax(z)

    def predicted(self, probabilities) -> np.ndarray:
        """(N, L) booleans: the labels a text is given (multi-label: score >= the label's dev threshold;
        single-label: the highest score)."""
        p = np.asarray(probabilities, dtype=np.float64)
        if self.multi_label:
            return p >= self.thresholds
        out = np.zeros(p.shape, dtype=bool)
        if len(p):
            out[np.arange(len(p)), p.argmax(axis=1)] = True
        return out

    def check_top_k(self, top_k: int | None) -> int:
        n = len(self.labels)
        if top_k is None:
            return n
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or not 1 <= top_k <= n:
            raise ModelError(f"top_k must be an integer from 1 to {n} (the {self.label_set} labels); got {top_k!r}")
        return int(top_k)

    def top(self, probabilities, top_k: int | None = None) -> list[list[dict]]:
        """Per text, ``[{"label", "score"}]`` by descending score (ties: label-set order), ``top_k`` of them."""
        k = self.check_top_k(top_k)
        p = np.asarray(probabilities, dtype=np.float64)
        order = np.argsort(-p, axis=1, kind="stable")[:, :k]
        return [[{"label": self.labels[j], "score": float(row[j])} for j in idx] for row, idx in zip(p, order)]

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "input": "sentence embedding of this model folder, L2-normalised",
            "label_set": self.label_set,
            "labels": list(self.labels),
            "multi_label": self.multi_label,
            "output": "sigmoid per label (multi-label)" if self.multi_label else "softmax over the labels",
            "C": float(self.C),
            "dim": self.dim,
            "thresholds": [float(v) for v in self.thresholds],
            "metrics": finite_or_none(self.metrics),
            "info": finite_or_none(self.info),
            "encoder": finite_or_none(self.encoder),
            "intercept": [float(v) for v in self.intercept],
            "coef": [[float(v) for v in row] for row in self.coef],
        }

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "emotion head") -> "EmotionHead":
        refit = f"refit it with `{FIT_COMMAND.format(model='MODEL')}`"
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ModelError(f"{source}: not a carl emotion head (expected format {FORMAT!r}); {refit}")
        name = data.get("label_set")
        if name not in LABEL_SETS:
            raise ModelError(f"{source}: unknown emotion label set {name!r} (this carl knows "
                             f"{', '.join(sorted(LABEL_SETS))}); {refit}")
        if list(data.get("labels", ())) != list(LABEL_SETS[name]):
            raise ModelError(f"{source}: its labels differ from carl's {name} label set; {refit}")
        try:
            return cls(label_set=name, coef=np.array(data["coef"], dtype=np.float64),
                       intercept=np.array(data["intercept"], dtype=np.float64), C=float(data["C"]),
                       encoder=data["encoder"], thresholds=np.array(data["thresholds"], dtype=np.float64),
                       metrics=data.get("metrics", {}), info=data.get("info", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{source}: malformed emotion head ({exc}); {refit}") from None

    @classmethod
    def missing_message(cls, folder) -> str:
        return (f"{folder} has no emotion head ({HEAD_FILE}); fit one with `{FIT_COMMAND.format(model=folder)}` "
                "(logistic regression on GoEmotions, saved into the model folder)")


def label_columns(head: EmotionHead, top_k: int) -> Sequence[str]:
    """Column names of a table of ``top_k`` emotions: emotion_1, emotion_1_score, ..."""
    k = head.check_top_k(top_k)
    return [c for i in range(1, k + 1) for c in (f"emotion_{i}", f"emotion_{i}_score")]
