"""The model users get: a sentence-transformers folder (encoder + pooling), and loading it.

The exported folder is at once
  * a sentence-transformers model: ``SentenceTransformer(path)`` (no trust_remote_code),
  * a plain Hugging Face model: ``AutoModel.from_pretrained(path)`` (config.json and
    model.safetensors sit at its root), and
  * a carl model: ``carl.load(path)``, which also reads ``carl.json`` (how it was trained).
Heads, the target branch and the discriminator are training-only and are not exported.

The module list follows the base model's: Transformer -> Pooling, plus ``Normalize`` when the
base model has one (all-MiniLM-L6-v2 and all-mpnet-base-v2 do), so ``SentenceTransformer(path)
.encode`` returns unit vectors exactly when the base model's does (``carl.json``:
``"normalize"``). Training itself contrasts the pooled embedding through its own heads and is
unaffected; carl's probes L2-normalise anyway.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import tempfile
from typing import Callable, Iterable

import numpy as np
from safetensors import SafetensorError

from carl.errors import ModelError
from carl.model.streaming import StreamingMixin

CARL_META = "carl.json"


def _st_modules():
    try:  # sentence-transformers >= 6
        from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    except ImportError:  # older releases
        from sentence_transformers.models import Normalize, Pooling, Transformer
    return Transformer, Pooling, Normalize


def base_normalizes(name_or_path: str) -> bool:
    """Whether a base model's sentence-transformers module list ends in ``Normalize`` (unit
    vectors out). Reads ``modules.json`` of the local folder the name resolves to (aliases such
    as ``minilm`` resolve to the packaged copy); a plain Hugging Face model or a hub id with no
    local folder has no Normalize module: False."""
    from carl.model.encoder import resolve_model_path

    modules = pathlib.Path(resolve_model_path(str(name_or_path))) / "modules.json"
    if not modules.is_file():
        return False
    try:
        entries = json.loads(modules.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return any(str(e.get("type", "")).rsplit(".", 1)[-1] == "Normalize" for e in entries if isinstance(e, dict))


def export_sentence_transformer(encoder, tokenizer, path: str | os.PathLike, *, pooling: str, max_seq_length: int,
                                metadata: dict | None = None, normalize: bool = False) -> pathlib.Path:
    """Write encoder + pooling (+ ``Normalize`` when ``normalize``) as a sentence-transformers
    folder, atomically (tmp dir + rename). The trainer passes ``normalize=base_normalizes(base)``
    so the export keeps the base model's module list."""
    from sentence_transformers import SentenceTransformer

    Transformer, Pooling, Normalize = _st_modules()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as tmp:
        hf_dir = pathlib.Path(tmp) / "hf"
        encoder.save_pretrained(hf_dir, safe_serialization=True)
        tokenizer.save_pretrained(hf_dir)
        transformer = Transformer(str(hf_dir), max_seq_length=max_seq_length)
        pool = Pooling(encoder.config.hidden_size, pooling_mode=pooling)
        staged = pathlib.Path(tmp) / "model"
        modules = [transformer, pool] + ([Normalize()] if normalize else [])
        SentenceTransformer(modules=modules, device="cpu").save(str(staged), create_model_card=False)
        (staged / CARL_META).write_text(json.dumps({"pooling": pooling, "max_seq_length": max_seq_length,
                                                    "normalize": bool(normalize), **(metadata or {})},
                                                   indent=1, default=str))
        (staged / "README.md").write_text(_model_card(metadata or {}))
        if path.exists():
            os.replace(path, pathlib.Path(tmp) / "old")
        os.replace(staged, path)
    return path


def _model_card(metadata: dict) -> str:
    base = metadata.get("base_model", "unknown")
    return (
        "---\nlibrary_name: sentence-transformers\ntags: [sentence-transformers, emotion, valence-arousal, carl]\n---\n"
        f"# CARL emotion-aware sentence encoder\n\nFine-tuned from `{base}` with CARL "
        "(momentum continuous contrastive learning on valence-arousal labels + perturbed token detection; "
        "Son et al. 2025, arXiv:2502.20613) using the `carl` library. Training configuration: `carl.json`.\n\n"
        "```python\nfrom sentence_transformers import SentenceTransformer\n"
        "model = SentenceTransformer('PATH')\nembeddings = model.encode(['I won', 'I lost'])\n```\n"
    )


class CarlEmbedder(StreamingMixin):
    """Embeddings from an exported carl model (or any sentence-transformers folder/id); ``predict_va``
    and the streaming ``iter_*`` methods come from :class:`carl.model.streaming.StreamingMixin`."""

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
        from carl.onnx_backend import OnnxEmbedder

        return OnnxEmbedder(path, onnx_file)
    raise ModelError(f"backend {backend!r} is unknown; choose one of {', '.join(BACKENDS)}")


def copy_model(src: pathlib.Path, dst: pathlib.Path, edit: Callable[[pathlib.Path], None] | None = None) -> None:
    """Replace ``dst`` by a copy of the exported model ``src`` (atomically); ``edit``, if given,
    changes the staged copy before it takes ``dst``'s place."""
    with tempfile.TemporaryDirectory(dir=dst.parent, prefix=f".{dst.name}.") as tmp:
        staged = pathlib.Path(tmp) / "model"
        shutil.copytree(src, staged)
        if edit is not None:
            edit(staged)
        if dst.exists():
            os.replace(dst, pathlib.Path(tmp) / "old")
        os.replace(staged, dst)


def interpolate_with_base(model_dir: str | os.PathLike, base_dir: str | os.PathLike, alpha: float,
                          out_dir: str | os.PathLike) -> pathlib.Path:
    """Write a copy of the exported model ``model_dir`` whose encoder weights are averaged with
    those of ``base_dir`` (the pretrained encoder's folder) by
    ``carl.model.interpolation.interpolate_weights``; ``carl.json`` records it."""
    from safetensors.torch import load_file, save_file

    from carl.model.interpolation import interpolate_weights

    weights = "model.safetensors"
    model_dir, base_dir, out_dir = pathlib.Path(model_dir), pathlib.Path(base_dir), pathlib.Path(out_dir)
    for folder, role in ((model_dir, "trained model"), (base_dir, "pretrained encoder")):
        if not (folder / weights).is_file():
            raise ModelError(f"{folder} has no {weights}; give the {role}'s folder")
    mixed = interpolate_weights(load_file(str(base_dir / weights)), load_file(str(model_dir / weights)), alpha)

    def write_mixed(staged: pathlib.Path) -> None:
        save_file(mixed, str(staged / weights), metadata={"format": "pt"})
        meta_path = staged / CARL_META
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        meta["weight_interpolation"] = {"pretrained": str(base_dir), "alpha": alpha}
        meta_path.write_text(json.dumps(meta, indent=1, default=str))

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    copy_model(model_dir, out_dir, edit=write_mixed)
    return out_dir
