"""The export keeps the base model's Normalize module (issue #12 part 5.3).

all-MiniLM-L6-v2 ends in Normalize (unit vectors); a model trained from it must encode the
same way through SentenceTransformer(path), carl.load(path) and `carl embed`.
"""

import json

import numpy as np
import pytest

from carl.config import CarlConfig
from carl.inference.embedder import load
from carl.inference.export import base_normalizes, export_sentence_transformer

TEXTS = ["I won the final!", "I lost everything today.", "The meeting is at noon.", "Terrified of what comes next."]


def _module_types(folder):
    return [m["type"].rsplit(".", 1)[-1] for m in json.loads((folder / "modules.json").read_text())]


@pytest.fixture(scope="module")
def normalizing_base(tiny_encoder, tmp_path_factory):
    """The tiny encoder as a sentence-transformers folder ending in Normalize (like MiniLM)."""
    from transformers import AutoModel, AutoTokenizer

    path = tmp_path_factory.mktemp("tiny-normalizing-base") / "model"
    return export_sentence_transformer(AutoModel.from_pretrained(tiny_encoder), AutoTokenizer.from_pretrained(tiny_encoder),
                                       path, pooling="mean", max_seq_length=64, normalize=True)


def test_which_bases_normalize(tiny_encoder, normalizing_base, export_tiny_model):
    assert base_normalizes("minilm")  # the packaged all-MiniLM-L6-v2
    assert base_normalizes(str(normalizing_base))
    assert not base_normalizes(str(tiny_encoder))  # a plain Hugging Face folder: no module list
    assert not base_normalizes(str(export_tiny_model("plain")))  # exported without Normalize
    assert not base_normalizes("/nonexistent/model")


def test_trained_model_of_a_normalizing_base_returns_unit_vectors(normalizing_base, data_dir, tmp_path):
    from sentence_transformers import SentenceTransformer

    from carl.training.trainer import train

    config = CarlConfig().override({
        "data.train": ["emobank"], "data.dev": "[]", "data.data_dir": str(data_dir), "data.max_length": 24,
        "model.name_or_path": str(normalizing_base), "model.projection_hidden": 32, "model.projection_dim": 16,
        "train.batch_size": 8, "train.max_steps": 2, "train.eval_every": 100, "train.save_every": 100,
        "train.output_dir": str(tmp_path / "run")})
    result = train(config, progress=False)
    model_dir = result.model_dir
    assert _module_types(model_dir) == ["Transformer", "Pooling", "Normalize"]
    assert json.loads((model_dir / "carl.json").read_text())["normalize"] is True

    st = SentenceTransformer(str(model_dir), device="cpu").encode(TEXTS, convert_to_numpy=True)
    ours = load(model_dir).encode(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(st, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(ours, st, atol=1e-6)
    np.testing.assert_allclose(load(model_dir).encode(TEXTS, normalize=True), ours, atol=1e-6)


def test_plain_base_exports_raw_vectors_and_normalize_flag_agrees(export_tiny_model, tmp_path):
    from typer.testing import CliRunner

    from carl.cli import app

    plain = export_tiny_model("plain-raw")
    assert _module_types(plain) == ["Transformer", "Pooling"]
    raw = load(plain).encode(TEXTS)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0, atol=1e-3)
    texts = tmp_path / "t.txt"
    texts.write_text("\n".join(TEXTS) + "\n")
    for flag, expected in (([], raw), (["--normalize"], raw / np.linalg.norm(raw, axis=1, keepdims=True))):
        out = tmp_path / f"e{len(flag)}.npy"
        done = CliRunner().invoke(app, ["embed", str(plain), "--input", str(texts), "--output", str(out), *flag])
        assert done.exit_code == 0, (done.output, done.exception)
        np.testing.assert_allclose(np.load(out), expected, atol=1e-5)
