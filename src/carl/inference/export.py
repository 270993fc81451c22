"""Writing the model users get: a sentence-transformers folder (encoder + pooling).

The exported folder is at once
  * a sentence-transformers model: ``SentenceTransformer(path)`` (no trust_remote_code),
  * a plain Hugging Face model: ``AutoModel.from_pretrained(path)`` (config.json and
    model.safetensors sit at its root), and
  * a carl model: ``carl.load(path)`` (:mod:`carl.inference.embedder`), which also reads
    ``carl.json`` (how it was trained).
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
from typing import Callable

from carl.inference.encoders import resolve_model_path

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
