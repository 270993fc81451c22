"""`carl export-onnx` and `--backend onnx` (ONNX Runtime) against the torch embeddings, on the tiny encoder."""

import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

import carl  # noqa: E402
from carl.errors import CarlError, ModelError  # noqa: E402
from carl.inference.onnx_backend import FLOAT_FILE, INT8_FILE, OnnxEmbedder, export_onnx  # noqa: E402

TEXTS = ["I won", "I lost everything I had, and I am so sad about it, really sad",
         "ok", "The weather is nice today; we should go to the beach."]


def carl_cli(*args, timeout=300):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "carl.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


def cosine(a, b):
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


@pytest.fixture(scope="module")
def exported(export_tiny_model):
    folder = export_tiny_model("onnx")
    done = carl_cli("export-onnx", folder, "--quantize", "int8")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "--onnx-file onnx/model_qint8.onnx" in done.stdout
    return folder


def test_export_writes_float_and_int8_graphs(exported):
    assert (exported / FLOAT_FILE).stat().st_size > 0 and (exported / INT8_FILE).stat().st_size > 0
    assert (exported / INT8_FILE).stat().st_size < (exported / FLOAT_FILE).stat().st_size


def test_onnx_embeddings_match_torch_for_any_batch_shape(exported):
    torch_vectors = carl.load(exported).encode(TEXTS)
    onnx = carl.load(exported, backend="onnx")
    # one batch, and batches of other sizes and lengths than the export's sample
    for batch_size in (4, 3, 1):
        got = onnx.encode(TEXTS, batch_size=batch_size)
        np.testing.assert_allclose(got, torch_vectors, atol=1e-4)
    int8 = OnnxEmbedder(exported, INT8_FILE).encode(TEXTS)
    assert np.all(cosine(int8, torch_vectors) > 0.95)
    assert not np.allclose(int8, torch_vectors, atol=1e-6)  # it is really the quantised graph


def test_embed_cli_backend_onnx(exported, tmp_path):
    texts = tmp_path / "t.txt"
    texts.write_text("\n".join(TEXTS) + "\n")
    done = carl_cli("embed", exported, "--input", texts, "--output", tmp_path / "o.npy", "--backend", "onnx")
    assert done.returncode == 0, done.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "o.npy"), carl.load(exported).encode(TEXTS), atol=1e-4)
    wrong = carl_cli("embed", exported, "--input", texts, "--output", tmp_path / "p.npy", "--backend", "tensorflow")
    assert wrong.returncode == 2 and "torch, onnx" in wrong.stderr


def test_serving_with_the_onnx_backend(exported):
    from fastapi.testclient import TestClient

    from carl.serving import ServeSettings, create_app

    app = create_app(ServeSettings(model=str(exported), backend="onnx", base_model="none"))
    with TestClient(app) as client:
        assert client.get("/info").json()["backend"] == "onnx"
        got = client.post("/embed", json={"inputs": TEXTS, "normalize": False}).json()
    np.testing.assert_allclose(got, carl.load(exported).encode(TEXTS), atol=1e-4)


def test_missing_graph_and_bad_quantisation_are_clear_errors(export_tiny_model):
    folder = export_tiny_model("onnx-missing")
    with pytest.raises(ModelError, match="carl export-onnx"):
        carl.load(folder, backend="onnx")
    with pytest.raises(CarlError, match="int8"):
        export_onnx(folder, quantize="int4")
