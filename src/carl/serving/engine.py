"""The loaded model behind the API: encoder (torch or ONNX), tokenizer, V-A head, base encoder.

Everything slow or fallible happens in :meth:`Engine.load`, at start-up, so that a wrong path,
a missing ``va_head.json`` (when asked for) or a missing ONNX file stops ``carl serve`` with a
message before it binds a port.
"""

from __future__ import annotations

import copy
import logging
import pathlib
import threading
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from carl.errors import ModelError
from carl.inference import EmotionHead, VAHead, load
from carl.inference.heads.emotions import HEAD_FILE as EMOTION_HEAD_FILE
from carl.inference.encoders import resolve_model_path
from carl.inference.heads.va import HEAD_FILE
from carl.inference.streaming import CHARS_PER_TOKEN_READ
from carl.serving.batching import split_into_parts
from carl.serving.settings import ServeSettings

log = logging.getLogger("carl.serving")


@dataclass(frozen=True)
class Measured:
    """Token counts of a request's texts: ``tokens`` as embedded (truncated to the model's maximum),
    ``over`` the indices of texts that were longer than that maximum."""

    tokens: list[int]
    over: list[int]


class Engine:
    """One served model. Not thread-safe: :class:`carl.serving.batching.MicroBatcher` calls
    :meth:`forward` from its single worker thread."""

    def __init__(self, settings: ServeSettings, embedder, folder: pathlib.Path | None, va_head, base, base_name,
                 base_note: str | None):
        self.settings = settings
        self.embedder = embedder
        self.folder = folder
        self.va_head = va_head
        self.base = base
        self.base_name = base_name
        self.base_note = base_note
        self.emotion_head: EmotionHead | None = None
        self.emotion_problem: str | None = None
        """Why there are no emotions (no head, --affect off, a head of another encoder, a damaged file)."""
        # Counting tokens happens on request threads while the worker thread tokenises for the forward
        # pass. A fast tokenizer keeps its padding/truncation settings as mutable state, so sharing one
        # between threads mixes them up (ragged batches, "Already borrowed"): counting gets its own
        # copy, and a lock, since several requests count at once.
        self.tokenizer = copy.deepcopy(embedder.tokenizer)
        self._tokenizer_lock = threading.Lock()
        self.max_tokens = int(embedder.max_seq_length)
        self.max_chars_read = self.max_tokens * CHARS_PER_TOKEN_READ
        self.dimension = int(embedder.dimension)
        self.backend = embedder.backend
        self.name = settings.served_model_name or display_name(settings.model, folder)
        self.created = int(folder.stat().st_mtime) if folder is not None else int(time.time())

    @classmethod
    def load(cls, settings: ServeSettings) -> "Engine":
        settings.validate()
        if settings.threads:
            import torch

            torch.set_num_threads(settings.threads)
        resolved = resolve_model_path(settings.model)
        folder = pathlib.Path(resolved) if pathlib.Path(resolved).is_dir() else None
        has_head = folder is not None and (folder / HEAD_FILE).is_file()
        if settings.affect == "on" and not has_head:  # checked before the slow model load
            where = folder if folder is not None else settings.model
            raise ModelError(f"--affect on: {where} has no V-A head ({HEAD_FILE}); `carl train` saves one, or fit "
                             f"one with `python -m carl.va_head {where}`; or serve without V-A routes "
                             "(--affect auto / off)")
        va_head = VAHead.load(folder) if has_head and settings.affect != "off" else None
        embedder = load(resolved, backend=settings.backend, onnx_file=settings.onnx_file)
        if va_head is not None and va_head.dim != embedder.dimension:
            raise ModelError(f"{folder / HEAD_FILE} expects embeddings of dimension {va_head.dim}, the model "
                             f"gives {embedder.dimension}; refit it with `python -m carl.va_head {folder}`")
        base, base_name, note = cls._load_base(settings, embedder)
        engine = cls(settings, embedder, folder, va_head, base, base_name and display_name(base_name), note)
        engine.load_emotion_head()
        return engine

    def load_emotion_head(self) -> None:
        """Read the folder's ``emotion_head.json`` if any and check it against the served encoder. A head
        that cannot serve (damaged, fitted on another encoder) does not stop the server: the emotion routes
        answer 4xx with the reason, and the rest of the API works."""
        self.emotion_head, self.emotion_problem = None, None
        fit = f"fit one with `carl fit-heads {self.folder if self.folder is not None else 'MODEL'}` and restart"
        if self.settings.affect == "off":
            self.emotion_problem = "emotions are off (--affect off)"
        elif self.folder is None or not EmotionHead.exists(self.folder):
            self.emotion_problem = f"{self.name} has no emotion head ({EMOTION_HEAD_FILE}); {fit}"
        else:
            try:
                head = EmotionHead.load(self.folder)
                head.check_encoder(self.embedder.encode, where=str(self.folder))
                self.emotion_head = head
            except ModelError as exc:
                log.warning("emotion head not served: %s", exc)
                self.emotion_problem = f"{self.name}'s emotion head cannot be used: {exc}"

    @staticmethod
    def _load_base(settings: ServeSettings, embedder):
        """The frozen encoder the model was trained from, for side-by-side similarities.

        ``auto`` reads ``base_model`` from the folder's carl.json and gives up quietly (with a note
        the explorer shows) when it names nothing or cannot be loaded offline; a base model named
        on the command line must load.
        """
        choice = settings.base_model
        if choice in (None, "none"):
            return None, None, "no base model (--base-model none)"
        explicit = choice != "auto"
        name = choice if explicit else embedder.metadata.get("base_model")
        if not name:
            return None, None, "the model folder does not say what it was trained from (no base_model in carl.json)"
        try:
            return load(resolve_model_path(str(name))), str(name), None
        except Exception as exc:  # noqa: BLE001  (auto: a missing base only disables the comparison)
            if explicit:
                raise ModelError(f"--base-model {name}: cannot load it ({exc})") from None
            log.warning("base model %s not loadable, comparison disabled: %s", name, exc)
            return None, str(name), (f"base model {display_name(str(name))} could not be loaded here "
                                     f"({type(exc).__name__})")

    # ---------------------------------------------------------------- tokens

    def measure(self, texts: Sequence[str]) -> Measured:
        """Real token counts from the model's tokenizer (special tokens included), as the model sees them.

        Tokenised with truncation at the model's maximum + 1 (enough to know a text was cut), so a long
        text costs no more than the model will read of it."""
        with self._tokenizer_lock:
            ids = self.tokenizer(self.cut(texts), add_special_tokens=True, truncation=True,
                                 max_length=self.max_tokens + 1, return_attention_mask=False,
                                 return_token_type_ids=False, verbose=False)["input_ids"]
        lengths = [len(x) for x in ids]
        return Measured([min(n, self.max_tokens) for n in lengths],
                        [i for i, n in enumerate(lengths) if n > self.max_tokens])

    def cut(self, texts: Sequence[str]) -> list[str]:
        """Each text cut to the characters the model can read (see CHARS_PER_TOKEN_READ)."""
        return [t if len(t) <= self.max_chars_read else t[:self.max_chars_read] for t in texts]

    def keep_ends(self, texts: Sequence[str], over: Sequence[int]) -> list[str]:
        """``texts`` with each of ``over`` cut to its last tokens (as many as the model takes with its special
        tokens): TEI's truncation_direction "left"."""
        keep = self.max_tokens - self.tokenizer.num_special_tokens_to_add()
        out = [t if len(t) <= self.max_chars_read else t[-self.max_chars_read:] for t in texts]
        with self._tokenizer_lock:
            for i in over:
                offsets = self.tokenizer(out[i], add_special_tokens=False, return_offsets_mapping=True,
                                         verbose=False)["offset_mapping"]
                if len(offsets) > keep:
                    out[i] = out[i][offsets[-keep][0]:]
        return out

    # ---------------------------------------------------------------- forward passes

    def plan_chunks(self, tokens: Sequence[int]) -> list[list[int]]:
        """Texts (by index) in forward passes of at most ``max_batch_tokens`` padded tokens and
        ``max_batch_texts`` texts, as the batcher splits requests."""
        return split_into_parts(tokens, self.settings.max_batch_texts, self.settings.max_batch_tokens)

    def forward(self, texts: Sequence[str], tokens: Sequence[int]) -> np.ndarray:
        """(N, H) float32 embeddings, not normalised (routes normalise as asked)."""
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        texts = self.cut(texts)
        for chunk in self.plan_chunks(tokens):
            out[chunk] = self.embedder.encode([texts[i] for i in chunk], batch_size=len(chunk))
        return out

    def base_forward(self, texts: Sequence[str]) -> np.ndarray:
        """The base encoder's embeddings, each text cut first as :meth:`cut` cuts for the served model (at the
        base's own maximum tokens x CHARS_PER_TOKEN_READ): before, /v1/compare tokenised its texts whole."""
        if self.base is None:
            raise ModelError("no base model loaded")
        limit = int(getattr(self.base, "max_seq_length", 0) or self.max_tokens) * CHARS_PER_TOKEN_READ
        return self.base.encode([t if len(t) <= limit else t[:limit] for t in texts], batch_size=32)


def display_name(model: str, folder: pathlib.Path | None = None) -> str:
    """What the API calls a model: an alias as given ("minilm"), a folder by its name, never by its
    absolute path ("runs/main/model" -> "main/model": a folder called model says little alone)."""
    path = pathlib.Path(model)
    if not path.exists() and not path.is_absolute():
        return model  # an alias such as "minilm" names the model better than the cache folder it resolves to
    folder = folder if folder is not None else path
    if folder.name in ("model", "last-model") and folder.parent.name:
        return f"{folder.parent.name}/{folder.name}"
    return folder.name


def l2_normalise(x: np.ndarray) -> np.ndarray:
    return (x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)).astype(np.float32)
