"""What every head shipped in a model folder has in common: one JSON file, read and written here.

A head maps the folder's sentence embeddings to something a user asks for (valence and arousal
today: :class:`carl.inference.heads.va.VAHead`). It is stored as JSON only (weights as lists of
floats, which round-trip float64 exactly), never pickle, so loading a head executes no code. A
head class names its file (``FILE``), its format tag (``FORMAT``, checked on load), what it is
called in messages (``KIND``) and the command that fits one (``FIT_COMMAND``), and implements
``to_dict`` / ``from_dict`` / ``predict``; :class:`JsonHead` gives it ``save``, ``load`` and
``exists``. Fitting a head is not done here: it needs corpora and probes
(:mod:`carl.evaluation.head_fitting`).
"""

from __future__ import annotations

import json
import math
import os
import pathlib
from typing import ClassVar, TypeVar

import numpy as np

from carl.errors import ModelError
from carl.io import atomic_write

H = TypeVar("H", bound="JsonHead")


def l2_normalise(x) -> np.ndarray:
    """Return ``x`` with every row scaled to unit Euclidean norm (float64).

    Thin wrapper over :func:`sklearn.preprocessing.normalize`; the evaluation's probes use this
    very function, so a probe and a shipped head normalise identically. An all-zero row stays zero
    rather than becoming NaN.
    """
    from sklearn.preprocessing import normalize  # lazy: sklearn only when a head predicts (fast `import carl`)

    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array (n_samples, dim); got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("embeddings contain NaN or infinite values; check the encoder output")
    return normalize(arr, norm="l2")


def finite_or_none(obj):
    """JSON has no NaN: NaN/inf become null (e.g. a correlation of constant predictions)."""
    if isinstance(obj, dict):
        return {str(k): finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


class JsonHead:
    """Base of the heads that live in a model folder as ``FILE`` (JSON, ``"format": FORMAT``)."""

    FILE: ClassVar[str]
    FORMAT: ClassVar[str]
    KIND: ClassVar[str] = "head"
    FIT_COMMAND: ClassVar[str] = ""
    """How a user adds this head to a model folder, with ``{model}`` for the folder (error messages)."""

    def to_dict(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_dict(cls: type[H], data: dict, *, source: str) -> H:
        raise NotImplementedError

    def predict(self, embeddings, **options) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    def missing_message(cls, folder: pathlib.Path) -> str:
        """The error for a folder without this head: what is missing and how to make it."""
        return f"{folder} has no {cls.KIND} ({cls.FILE}); fit one with `{cls.FIT_COMMAND.format(model=folder)}`"

    @classmethod
    def exists(cls, model_dir: str | os.PathLike) -> bool:
        return (pathlib.Path(model_dir) / cls.FILE).is_file()

    def save(self, model_dir: str | os.PathLike) -> pathlib.Path:
        """Write ``model_dir/FILE`` atomically; returns its path."""
        folder = pathlib.Path(model_dir)
        if not folder.is_dir():
            raise ModelError(f"{folder} is not a folder; a {self.KIND} is saved inside a model folder")
        path = folder / self.FILE
        text = json.dumps(self.to_dict(), indent=1, allow_nan=False)
        atomic_write(path, lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))
        return path

    @classmethod
    def load(cls: type[H], model_dir: str | os.PathLike) -> H:
        """Read ``model_dir/FILE``; a :class:`ModelError` says how to make one if absent."""
        folder = pathlib.Path(model_dir)
        path = folder / cls.FILE
        if not path.is_file():
            raise ModelError(cls.missing_message(folder))
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"{path}: cannot read the {cls.KIND} ({exc}); refit it with "
                             f"`{cls.FIT_COMMAND.format(model=folder)}`") from None
        return cls.from_dict(data, source=str(path))
