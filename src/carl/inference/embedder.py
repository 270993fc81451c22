"""Loading the model users get: ``carl.load(path)`` -> an embedder (torch or ONNX Runtime).

    import carl
    model = carl.load("runs/main/model")       # the folder `carl train` wrote (OUTPUT/model)
    model.encode(["I won", "I lost"])           # (2, H) float32
    model.predict_va(["I won", "I lost"])       # (2, 2) valence, arousal from va_head.json

:class:`CarlEmbedder` runs the folder through sentence-transformers (torch);
:class:`carl.inference.onnx_backend.OnnxEmbedder` runs the graph ``carl export-onnx`` wrote. Both
get ``predict_va`` and the streaming ``iter_*`` methods from
:class:`carl.inference.streaming.StreamingMixin`. Writing such a folder: :mod:`carl.inference.export`.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Iterable, Sequence

import numpy as np
from safetensors import SafetensorError

from carl.errors import ModelError
from carl.inference.export import CARL_META
from carl.inference.heads.va import VAHead
from carl.inference.onnx_backend import OnnxEmbedder
from carl.inference.streaming import StreamingMixin

__all__ = ["BACKENDS", "CarlEmbedder", "OnnxEmbedder", "load", "looks_like_hub_id", "predict_va"]


class CarlEmbedder(StreamingMixin):
    """Embeddings from an exported carl model (or any sentence-transformers folder/id); ``predict_va``
    and the streaming ``iter_*`` methods come from :class:`carl.inference.streaming.StreamingMixin`."""

    backend = "torch"

    def __init__(self, path: str | os.PathLike, device: str | None = None):
        from sentence_transformers import SentenceTransformer

        self.path = pathlib.Path(path)
        if self.path.exists():
            if not (self.path / "modules.json").is_file() and not (self.path / "config.json").is_file():
                raise ModelError(f"{self.path} is not a model folder (no modules.json or config.json); "
                                 "give the folder that `carl train` wrote (OUTPUT/model)")
        elif not looks_like_hub_id(str(path)):
            raise ModelError(f"model path {path} does not exist; give the folder that `carl train` wrote (OUTPUT/model)")
        try:
            self.model = SentenceTransformer(str(path), device=device)
        except (OSError, ValueError, SafetensorError) as exc:
            raise ModelError(f"cannot load model {path}: {exc}") from None
        meta = self.path / CARL_META
        self.metadata = json.loads(meta.read_text()) if meta.is_file() else {}

    @property
    def tokenizer(self):
        return self.model.tokenizer

    @property
    def max_seq_length(self) -> int:
        """Longest input in tokens (special tokens included); longer texts are truncated."""
        return int(self.model.max_seq_length)

    @property
    def dimension(self) -> int:
        get = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(get())  # renamed in sentence-transformers 6

    def encode(self, texts: Iterable[str], *, batch_size: int = 64, normalize: bool = False,
               show_progress_bar: bool = False) -> np.ndarray:
        """(N, H) float32 embeddings, in input order: exactly ``SentenceTransformer(path).encode``
        (``texts``: any iterable of strings; :meth:`iter_encode` streams one that does not fit in memory).
        A model with a ``Normalize`` module (exports of a base that has one) returns unit vectors
        either way; ``normalize=True`` L2-normalises the output of any model."""
        return self.model.encode(list(texts), batch_size=batch_size, normalize_embeddings=normalize,
                                 convert_to_numpy=True, show_progress_bar=show_progress_bar).astype(np.float32)


def looks_like_hub_id(name: str) -> bool:
    """``owner/name`` that is not a relative or absolute path: a model-hub id."""
    return name.count("/") == 1 and not name.startswith((".", "/"))


BACKENDS = ("torch", "onnx")


def load(path: str | os.PathLike, device: str | None = None, *, backend: str = "torch",
         onnx_file: str | None = None):
    """Load an exported carl model: ``carl.load(path).encode(texts)``.

    ``backend="onnx"`` runs the graph written by ``carl export-onnx`` (``onnx_file``, relative to
    the folder, picks e.g. ``onnx/model_qint8.onnx``) through ONNX Runtime instead of torch.
    """
    if backend == "torch":
        if onnx_file:
            raise ModelError("--onnx-file is only used with --backend onnx")
        return CarlEmbedder(path, device=device)
    if backend == "onnx":
        return OnnxEmbedder(path, onnx_file)
    raise ModelError(f"backend {backend!r} is unknown; choose one of {', '.join(BACKENDS)}")


def predict_va(model_dir: str | os.PathLike, texts: Sequence[str], *, batch_size: int = 64,
               clip: bool = True) -> np.ndarray:
    """(N, 2) valence and arousal of ``texts`` from a model folder that holds ``va_head.json``
    (the head is read first, so a folder without one fails before the model loads)."""
    head = VAHead.load(model_dir)
    texts = list(texts)
    if not texts:
        return np.empty((0, 2))
    return head.predict(load(model_dir).encode(texts, batch_size=batch_size), clip=clip)
