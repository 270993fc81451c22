"""What every loaded model (``carl.load(path)``: torch or ONNX) offers beyond ``encode``: valence and
arousal from the folder's V-A head, and streaming over an iterable too large to hold.

    model = carl.load("runs/main/model")
    model.predict_va(texts)                            # (N, 2) valence, arousal; any iterable of str
    model.predict_emotions(texts, top_k=3)             # per text [{"label", "score"}] (emotion_head.json)
    for va in model.iter_predict_va(open("huge.txt")): # one (n, 2) array per chunk, bounded memory
        ...

An iterable handed to the ``iter_*`` methods may yield strings (grouped into chunks of
``chunk_size``) or chunks themselves (lists, tuples, NumPy arrays or pandas Series of strings, e.g.
``pd.read_csv(..., chunksize=N)["text"]`` batches): one result array per chunk, in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Sequence

import numpy as np

from carl.inference.heads.base import JsonHead
from carl.inference.heads.emotions import EmotionHead
from carl.inference.heads.va import VAHead

DEFAULT_CHUNK = 4096
CHARS_PER_TOKEN_READ = 32
"""Characters read per token of a model's maximum before a text is cut: a fast tokenizer encodes the
whole string before truncating (hundreds of bytes of memory per character), while the model reads
only its first tokens, and no natural text averages more than a few characters per token. The
server (carl.serving.engine) and the scoring job (carl.scoring.model) cut with it."""


def length_sorted_batches(texts: Sequence[str], batch_size: int) -> list[np.ndarray]:
    """Index arrays of ``texts``, longest first, ``batch_size`` at a time: batches whose texts pad
    to similar lengths. Ties keep input order, so the batches depend on the texts alone."""
    order = np.argsort(np.fromiter((-len(t) for t in texts), dtype=np.int64, count=len(texts)), kind="stable")
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def chunks_of(texts: Iterable, chunk_size: int) -> Iterator[list[str]]:
    """Lists of at most ``chunk_size`` strings from an iterable of strings; an item that is itself a
    sequence of strings (a chunk) passes through as its own list."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    if isinstance(texts, str):
        raise TypeError("texts must be an iterable of strings, not one string; wrap it in a list")
    pending: list[str] = []
    for item in texts:
        if isinstance(item, str):
            pending.append(item)
            if len(pending) == chunk_size:
                yield pending
                pending = []
            continue
        if pending:
            yield pending
            pending = []
        chunk = list(item)
        if not all(isinstance(t, str) for t in chunk):
            bad = next(t for t in chunk if not isinstance(t, str))
            raise TypeError(f"a chunk holds a {type(bad).__name__}, not a string: {bad!r:.60}")
        yield chunk
    if pending:
        yield pending


class StreamingMixin:
    """``predict_va``, ``predict_emotions``, ``iter_encode``, ``iter_predict_va`` and ``iter_predict_emotions``
    on top of a class's ``encode`` and ``path``."""

    _heads: dict | None = None

    def head(self, kind: type[JsonHead]):
        """The folder's head of class ``kind`` (its JSON file, :mod:`carl.inference.heads`), loaded once."""
        if self._heads is None:
            self._heads = {}
        if kind not in self._heads:
            self._heads[kind] = kind.load(self.path)
        return self._heads[kind]

    @property
    def va_head(self) -> VAHead:
        """The folder's ``va_head.json`` (:class:`carl.inference.heads.va.VAHead`), loaded once."""
        return self.head(VAHead)

    def predict_va(self, texts: Iterable[str], *, batch_size: int = 64, clip: bool = True) -> np.ndarray:
        """(N, 2) valence and arousal in the head's [0, 1] scale (clipped unless ``clip=False``)."""
        head = self.va_head
        texts = list(texts)
        if not texts:
            return np.empty((0, 2))
        return head.predict(self.encode(texts, batch_size=batch_size), clip=clip)

    def iter_encode(self, texts: Iterable, *, chunk_size: int = DEFAULT_CHUNK, batch_size: int = 64,
                    normalize: bool = False) -> Iterator[np.ndarray]:
        """One (n, H) float32 array per chunk of ``texts`` (see the module docstring), in order."""
        for chunk in chunks_of(texts, chunk_size):
            yield self.encode(chunk, batch_size=batch_size, normalize=normalize)

    def iter_predict_va(self, texts: Iterable, *, chunk_size: int = DEFAULT_CHUNK, batch_size: int = 64,
                        clip: bool = True) -> Iterator[np.ndarray]:
        """One (n, 2) valence-arousal array per chunk of ``texts``, in order."""
        head = self.va_head
        for chunk in chunks_of(texts, chunk_size):
            yield head.predict(self.encode(chunk, batch_size=batch_size), clip=clip) if chunk else np.empty((0, 2))

    @property
    def emotion_head(self) -> EmotionHead:
        """The folder's ``emotion_head.json`` (:class:`carl.inference.heads.emotions.EmotionHead`), loaded
        once and checked against this model's encoder (a head fitted on another encoder is refused)."""
        head = self.head(EmotionHead)
        head.check_encoder(self.encode, where=str(self.path))
        return head

    def predict_emotion_scores(self, texts: Iterable[str], *, batch_size: int = 64) -> np.ndarray:
        """(N, L) probabilities of the emotion head's labels (``model.emotion_head.labels``)."""
        head = self.emotion_head
        texts = list(texts)
        if not texts:
            return np.empty((0, len(head.labels)))
        return head.predict(self.encode(texts, batch_size=batch_size))

    def predict_emotions(self, texts: Iterable[str], *, top_k: int | None = None,
                         batch_size: int = 64) -> list[list[dict]]:
        """Per text, ``[{"label": str, "score": float}]`` by descending score, ``top_k`` of them (default:
        every label of the head's set). ``top_k`` outside 1..number of labels is a ModelError."""
        head = self.emotion_head
        head.check_top_k(top_k)
        return head.top(self.predict_emotion_scores(texts, batch_size=batch_size), top_k)

    def iter_predict_emotions(self, texts: Iterable, *, top_k: int | None = None, chunk_size: int = DEFAULT_CHUNK,
                              batch_size: int = 64) -> Iterator[list[list[dict]]]:
        """One list of per-text emotions (as :meth:`predict_emotions`) per chunk of ``texts``, in order."""
        head = self.emotion_head
        head.check_top_k(top_k)
        for chunk in chunks_of(texts, chunk_size):
            yield head.top(head.predict(self.encode(chunk, batch_size=batch_size)), top_k) if chunk else []
