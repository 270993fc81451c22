"""Embeddings of one model, computed once per (corpus, split, texts) and cached on disk.

:class:`EmbeddingStore` is what every evaluation embeds through (``run_tasks``, ``carl evaluate``'s
plots, the mteb adapter): the cache key is the model folder's fingerprint, the corpus, the split
and a hash of the texts, so a retrained model or a changed subsample is never served stale.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pathlib
import re
from collections.abc import Sequence

import numpy as np

from carl.errors import DataError, ModelError
from carl.inference.embedder import load, looks_like_hub_id
from carl.inference.encoders import resolve_model_path
from carl.io import atomic_write

log = logging.getLogger(__name__)

__all__ = ["EmbeddingStore", "default_cache_dir", "model_fingerprint", "texts_hash"]


def default_cache_dir() -> pathlib.Path:
    """``$CARL_CACHE_DIR/embeddings`` (default ``~/.cache/carl/embeddings``)."""
    base = os.environ.get("CARL_CACHE_DIR", pathlib.Path.home() / ".cache" / "carl")
    return pathlib.Path(base) / "embeddings"


_FINGERPRINT_SKIP = {"va_head.json", "emotion_head.json", "README.md"}


def model_fingerprint(model_path: str) -> str:
    """SHA-256 of a local model folder's absolute path and every file's (name, size, mtime):
    a retrained or re-exported model gets a new key, while the heads (``va_head.json``,
    ``emotion_head.json``) and the model card, which do not change embeddings, are ignored. A hub id is fingerprinted by its name."""
    path = pathlib.Path(model_path)
    h = hashlib.sha256()
    if path.is_dir():
        h.update(str(path.resolve()).encode())
        for f in sorted(p for p in path.rglob("*") if p.is_file() and p.name not in _FINGERPRINT_SKIP):
            st = f.stat()
            h.update(f"\0{f.relative_to(path).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    else:
        h.update(f"id:{model_path}".encode())
    return h.hexdigest()


def texts_hash(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def _slug(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z._-]+", "_", text).strip("_")[:60] or "model"



def read_cached(path, n_texts: int, *, mmap: bool = False) -> np.ndarray | None:
    """The (n_texts, H) embeddings stored at ``path``, or None (with a warning naming why) when the file is
    missing, unreadable or of another shape, so that the caller embeds again."""
    if not path.is_file():
        return None
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError) as exc:
        log.warning("unreadable embedding cache %s (%s); re-embedding", path, exc)
        return None
    if arr.ndim == 2 and arr.shape[0] == n_texts:
        return arr
    log.warning("cached embeddings %s have shape %s for %d texts; re-embedding", path, arr.shape, n_texts)
    return None

class EmbeddingStore:
    """Embeddings of one model, computed once per (corpus, split, texts) and cached.

    With ``cache_dir`` each embedding matrix is saved as ``.npy`` under
    ``cache_dir/<model>-<fingerprint>/<corpus>.<split>.<texts hash>.npy`` (written atomically),
    so a rerun reads it instead of re-embedding; the model itself is only loaded on the first
    miss. Counters: ``hits`` (read from disk), ``memory_hits`` (reused in this process),
    ``misses`` (embedded), ``embedded_texts``.
    """

    def __init__(self, model_ref: str, cache_dir: str | os.PathLike | None = None, *, batch_size: int = 64,
                 device: str | None = None):
        self.model_ref = str(model_ref)
        self.model_path = resolve_model_path(self.model_ref)
        local = pathlib.Path(self.model_path)
        if not local.exists() and not looks_like_hub_id(self.model_path):
            raise ModelError(f"model path {self.model_path} does not exist; give the folder that `carl train` wrote "
                             "(OUTPUT/model), a sentence-transformers folder, or a hub id")
        if local.is_dir() and not (local / "modules.json").is_file() and not (local / "config.json").is_file():
            raise ModelError(f"{local} is not a model folder (no modules.json or config.json)")
        self.fingerprint = model_fingerprint(self.model_path)
        self.cache_dir = pathlib.Path(cache_dir).expanduser() if cache_dir is not None else None
        self.batch_size = int(batch_size)
        self.device = device
        self._embedder = None
        self._memory: dict[str, np.ndarray] = {}
        self.hits = self.memory_hits = self.misses = self.embedded_texts = 0

    @property
    def embedder(self):
        if self._embedder is None:
            self._embedder = load(self.model_path, device=self.device)
        return self._embedder

    @property
    def metadata(self) -> dict:
        meta = pathlib.Path(self.model_path) / "carl.json"
        if meta.is_file():
            try:
                return json.loads(meta.read_text())
            except (OSError, json.JSONDecodeError):
                return {}
        return {}

    def _model_folder(self) -> pathlib.Path:
        name = pathlib.Path(self.model_path)
        label = "-".join(name.parts[-2:]) if len(name.parts) >= 2 else str(name)
        return self.cache_dir / f"{_slug(label)}-{self.fingerprint[:16]}"

    def path_for(self, corpus: str, split: str, texts: Sequence[str]) -> pathlib.Path | None:
        if self.cache_dir is None:
            return None
        return self._model_folder() / f"{_slug(corpus)}.{_slug(split)}.{texts_hash(texts)[:24]}.npy"

    def embed(self, corpus: str, split: str, texts: Sequence[str]) -> np.ndarray:
        """(N, H) float32 embeddings of ``texts`` in order (not normalised)."""
        texts = list(texts)
        key = f"{corpus}\0{split}\0{texts_hash(texts)}"
        if key in self._memory:
            self.memory_hits += 1
            return self._memory[key]
        path = self.path_for(corpus, split, texts)
        arr = read_cached(path, len(texts)) if path is not None else None
        if arr is not None:
            self.hits += 1
            self._memory[key] = arr
            return arr
        if not texts:
            raise DataError(f"{corpus} {split}: no texts to embed")
        arr = self.embedder.encode(texts, batch_size=self.batch_size).astype(np.float32)
        self.misses += 1
        self.embedded_texts += len(texts)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            info = path.parent / "model.json"
            if not info.is_file():
                atomic_write(info, lambda tmp: tmp.write_text(json.dumps(
                    {"model": self.model_ref, "model_path": self.model_path, "fingerprint": self.fingerprint}, indent=1)))
            atomic_write(path, lambda tmp: np.save(tmp, arr, allow_pickle=False))
        self._memory[key] = arr
        return arr

    def counters(self) -> dict[str, int]:
        return {"hits": self.hits, "memory_hits": self.memory_hits, "misses": self.misses,
                "embedded_texts": self.embedded_texts}
