"""Model folders for the `carl serve` tests, built once per test session and shared by modules.

``build_minilm_model(root)`` exports the embedded all-MiniLM-L6-v2 with carl's exporter (metadata
``base_model: minilm``, so the explorer can compare against the frozen encoder) and fits a V-A
head on a small seeded slice of EmoBank. Folders are built under a fixed name inside pytest's
base temp dir and reused when complete, so several test modules importing the fixture share one
copy (a marker file is written last).
"""

from __future__ import annotations

import pathlib

READY = ".serve-test-ready"


def fit_small_head(folder: pathlib.Path, data_dir: pathlib.Path, *, n_train: int, n_dev: int) -> None:
    """A V-A head from the first ``n_train`` / ``n_dev`` EmoBank train / dev texts (seconds, not minutes)."""
    import numpy as np

    import carl
    from carl.data import load_corpus
    from carl.va_head import fit_va_head

    records = [r for r in load_corpus("emobank", data_dir, ["train", "dev"]) if r.valence is not None]
    train = [r for r in records if r.split == "train"][:n_train]
    dev = [r for r in records if r.split == "dev"][:n_dev]
    model = carl.load(folder)
    head = fit_va_head(model.encode([r.text for r in train]), np.array([(r.valence, r.arousal) for r in train]),
                       dev_embeddings=model.encode([r.text for r in dev]),
                       dev_va=np.array([(r.valence, r.arousal) for r in dev]), training_corpora=["emobank"])
    head.save(folder)


def build_minilm_model(root: pathlib.Path, data_dir: pathlib.Path, *, n_train: int = 400) -> pathlib.Path:
    """Export MiniLM to ``root/minilm-va`` and fit its V-A head on a slice of EmoBank."""
    folder = root / "minilm-va"
    if (folder / READY).is_file():
        return folder
    from transformers import AutoModel, AutoTokenizer

    from carl.export import export_sentence_transformer
    from carl.model.encoder import resolve_model_path

    source = resolve_model_path("minilm")
    export_sentence_transformer(AutoModel.from_pretrained(source), AutoTokenizer.from_pretrained(source), folder,
                                pooling="mean", max_seq_length=128, metadata={"base_model": "minilm"})
    fit_small_head(folder, data_dir, n_train=n_train, n_dev=150)
    (folder / READY).write_text("ok\n")
    return folder


def build_tiny_model(root: pathlib.Path, export_tiny_model, data_dir: pathlib.Path) -> pathlib.Path:
    """The 2-layer tiny encoder of conftest with a V-A head on 200 EmoBank texts (fast fuzzing)."""
    folder = root / "tiny-va"
    if (folder / READY).is_file():
        return folder
    from carl.export import copy_model

    root.mkdir(parents=True, exist_ok=True)
    copy_model(export_tiny_model("serve-tiny"), folder)
    fit_small_head(folder, data_dir, n_train=200, n_dev=100)
    (folder / READY).write_text("ok\n")
    return folder
