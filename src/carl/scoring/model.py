"""The model side of a scoring job: load once per process, score one chunk of texts.

Inside a chunk the texts run longest first, ``batch_size`` at a time
(:func:`carl.inference.streaming.length_sorted_batches`), so a batch pads to texts of similar length;
the results go back to input order. A text longer than the model's maximum tokens x 32 characters is
cut to that many characters before it is tokenised, as ``carl serve`` cuts
(:data:`carl.inference.streaming.CHARS_PER_TOKEN_READ`): a fast tokenizer encodes the whole string before
truncating (hundreds of bytes of memory per character), while the model reads only its first tokens.
The batches depend on the chunk's texts alone, and a text's vector depends (in its last bits) on
the batch it shares a forward pass with, so every engine that forms the same chunks writes the same
numbers.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from carl.inference import OnnxEmbedder, load
from carl.inference.streaming import CHARS_PER_TOKEN_READ, length_sorted_batches
from carl.io import check_finite

TASKS = ("embed", "predict-va")


@dataclass(frozen=True)
class ModelSpec:
    """What a worker needs to load and run the model (picklable; sent to every worker process)."""

    path: str
    task: str = "predict-va"
    backend: str = "torch"
    onnx_file: str | None = None
    batch_size: int = 64
    normalize: bool = False
    with_embedding: bool = False
    threads: int | None = None
    emotions_top_k: int = 0
    """predict-va: the top K emotions of the folder's emotion head per text (0: no emotion columns)."""

    @property
    def wants_embedding(self) -> bool:
        return self.task == "embed" or self.with_embedding

    def fingerprint(self) -> dict:
        """The settings that change the numbers written (threads do not enter: see docs/scoring.md)."""
        out = asdict(self)
        out.pop("threads")
        if not out["emotions_top_k"]:  # a run without emotion columns resumes as before they existed
            out.pop("emotions_top_k")
        return out


def load_embedder(spec: ModelSpec):
    """``carl.load`` with the job's backend; an ONNX session gets the job's thread count."""
    if spec.threads:
        import torch

        torch.set_num_threads(spec.threads)
    if spec.backend == "onnx":
        return OnnxEmbedder(spec.path, spec.onnx_file, threads=spec.threads)
    return load(spec.path, backend=spec.backend, onnx_file=spec.onnx_file)


class ChunkScorer:
    """The loaded model (and V-A head for ``predict-va``): ``score(texts)`` gives the chunk's columns."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self.embedder = load_embedder(spec)
        self.head = self.embedder.va_head if spec.task == "predict-va" else None
        self.emotion_head = (self.embedder.emotion_head if spec.task == "predict-va" and spec.emotions_top_k
                             else None)

    def score(self, texts: list[str], on_batch: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
        """{"embedding": (n, H) float32 when wanted, "va": (n, 2) float64 for predict-va, "emotion_labels" /
        "emotion_scores": (n, K) label names / probabilities with --emotions}, input order."""
        out: dict[str, np.ndarray] = {}
        vectors = None
        texts = self.cut(texts)
        for idx in length_sorted_batches(texts, self.spec.batch_size):
            batch = self.embedder.encode([texts[i] for i in idx], batch_size=len(idx), normalize=self.spec.normalize)
            if vectors is None:
                vectors = np.empty((len(texts), batch.shape[1]), dtype=np.float32)
            vectors[idx] = batch
            if on_batch is not None:
                on_batch(len(idx))
        if vectors is None:
            vectors = np.empty((0, self.dimension), dtype=np.float32)
        check_finite(vectors, "its text number(s) {} of a chunk; nothing of that chunk was written")
        if self.spec.wants_embedding:
            out["embedding"] = vectors
        if self.head is not None:
            out["va"] = self.head.predict(vectors) if len(vectors) else np.empty((0, 2))
        if self.emotion_head is not None:
            k = self.emotion_head.check_top_k(self.spec.emotions_top_k)
            probs = self.emotion_head.predict(vectors) if len(vectors) else np.empty((0, len(self.emotion_head.labels)))
            order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
            out["emotion_labels"] = np.asarray(self.emotion_head.labels, dtype=object)[order].reshape(-1, k)
            out["emotion_scores"] = np.take_along_axis(probs, order, axis=1).reshape(-1, k)
        return out

    def cut(self, texts: list[str]) -> list[str]:
        tokens = int(getattr(self.embedder, "max_seq_length", 0) or 0)
        if tokens <= 0:
            return texts
        limit = tokens * CHARS_PER_TOKEN_READ
        return [t if len(t) <= limit else t[:limit] for t in texts]

    @property
    def dimension(self) -> int:
        return int(getattr(self.embedder, "dimension", 0) or 0)


# ---------------------------------------------------------------- worker processes

_WORKER: ChunkScorer | None = None
_WORKER_ERROR: BaseException | None = None


def init_worker(spec: ModelSpec) -> None:
    """Process-pool initializer: load the model once per worker (an error is raised by its first task)."""
    global _WORKER, _WORKER_ERROR
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        _WORKER = ChunkScorer(spec)
    except BaseException as exc:  # noqa: BLE001 - handed to the parent by score_in_worker
        _WORKER_ERROR = exc


def score_in_worker(texts: list[str]) -> dict[str, np.ndarray]:
    if _WORKER is None:
        raise _WORKER_ERROR or RuntimeError("worker not initialised")
    return _WORKER.score(texts)
