"""The emotion head (emotion_head.json): fitting on GoEmotions, reading it back, refusing another encoder,
``predict_emotions``, ``carl fit-heads``, the server's /predict and /v1/affect emotions, and
``carl predict-va --emotions``. A tiny 2-layer encoder keeps it fast; what is tested is the plumbing."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import carl
from carl.errors import ModelError
from carl.evaluation.head_fitting import NoEmotionData, fit_emotion_head, train_emotion_head
from carl.inference.heads.emotions import HEAD_FILE, LABEL_SETS, PROBE_TEXTS, EmotionHead, probe_record
from serve_models import fit_small_head

pytestmark = pytest.mark.usefixtures("one_blas_thread")

TEXTS = ["I won the match and I can't stop smiling!", "I lost everything today.", "That is disgusting.",
         "The report is due on Monday."]


@pytest.fixture(scope="module")
def headed(export_tiny_model, data_dir):
    """The tiny encoder with a V-A head and an ekman emotion head fitted on a small GoEmotions slice."""
    folder = export_tiny_model("emotion-head")
    fit_small_head(folder, data_dir, n_train=200, n_dev=100)
    head = train_emotion_head(folder, data_dir, "ekman", max_train=1500, max_dev=1200)
    return folder, head


@pytest.fixture(scope="module")
def bare(export_tiny_model):
    return export_tiny_model("no-emotion-head")


def fake_encoder(dim=8):
    return probe_record(lambda texts: np.random.default_rng(len(texts)).normal(size=(len(texts), dim)), "fake")


# ---------------------------------------------------------------- fitting

def test_fitted_head_records_protocol_metrics_and_encoder(headed):
    folder, head = headed
    data = json.loads((folder / HEAD_FILE).read_text())
    assert data["format"] == "carl-emotion-head/1" and data["label_set"] == "ekman"
    assert data["labels"] == list(LABEL_SETS["ekman"]) and data["multi_label"] is False
    assert data["C"] in (0.3, 1, 3, 10, 30) and set(data["info"]["dev_scores"]) == {f"C={c:g}" for c in (0.3, 1, 3, 10, 30)}
    assert 0 <= data["metrics"]["dev_macro_f1"] <= 1 and set(data["metrics"]["dev_f1"]) == set(LABEL_SETS["ekman"])
    assert data["info"]["n_train"] <= 1500 and data["info"]["corpus"] == "goemotions-ekman"
    assert data["encoder"]["probe_texts"] == list(PROBE_TEXTS) and len(data["encoder"]["probe_sha256"]) == 64
    assert np.asarray(data["encoder"]["probe_embeddings"]).shape == (len(PROBE_TEXTS), 32)
    assert "pickle" not in (folder / HEAD_FILE).read_text()


def test_multi_label_head_chooses_a_threshold_per_label_on_dev():
    rng = np.random.default_rng(0)
    n, dim, labels = 600, 8, LABEL_SETS["goemotions"]
    x = rng.normal(size=(n, dim))
    y = np.zeros((n, len(labels)), dtype=bool)
    y[np.arange(n), rng.integers(0, len(labels), n)] = True
    y[:, 0] |= x[:, 0] > 0.5  # one learnable label
    head = fit_emotion_head(x[:400], y[:400], dev_embeddings=x[400:], dev_labels=y[400:], label_set="goemotions",
                            encoder=fake_encoder(dim), cs=(1, 10))
    assert head.multi_label and head.thresholds.shape == (28,) and np.all((head.thresholds > 0) & (head.thresholds < 1))
    p = head.predict(x[400:])
    assert p.shape == (200, 28) and not np.allclose(p.sum(axis=1), 1)  # sigmoids, not a softmax
    assert head.metrics["dev_f1"]["admiration"] > 0.5


def test_a_label_missing_from_the_slice_is_a_clear_error():
    x = np.random.default_rng(0).normal(size=(50, 4))
    y = np.zeros((50, 7), dtype=bool)
    y[:, 3] = True
    with pytest.raises(NoEmotionData, match="no train or dev text labelled anger"):
        fit_emotion_head(x, y, dev_embeddings=x, dev_labels=y, label_set="ekman", encoder=fake_encoder(4))


# ---------------------------------------------------------------- reading it back, bad files

def test_round_trip_and_bad_files(headed, tmp_path):
    folder, head = headed
    again = EmotionHead.load(folder)
    x = np.random.default_rng(1).normal(size=(5, 32))
    # The saved numbers are exact; the products may differ in the last bit (BLAS picks kernels by array layout).
    np.testing.assert_array_equal(again.coef, head.coef)
    np.testing.assert_allclose(again.predict(x), head.predict(x), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(again.predict(x).sum(axis=1), 1.0)
    with pytest.raises(ModelError, match=r"has no emotion head.*carl fit-heads"):
        EmotionHead.load(tmp_path)
    (tmp_path / HEAD_FILE).write_text("{ not json")
    with pytest.raises(ModelError, match=r"cannot read the emotion head.*carl fit-heads"):
        EmotionHead.load(tmp_path)
    data = json.loads((folder / HEAD_FILE).read_text())
    (tmp_path / HEAD_FILE).write_text(json.dumps({**data, "label_set": "plutchik"}))
    with pytest.raises(ModelError, match=r"unknown emotion label set 'plutchik'.*ekman, goemotions"):
        EmotionHead.load(tmp_path)
    (tmp_path / HEAD_FILE).write_text(json.dumps({**data, "coef": data["coef"][:3]}))
    with pytest.raises(ModelError, match="shape"):
        EmotionHead.load(tmp_path)
    (tmp_path / HEAD_FILE).write_text(json.dumps({**data, "format": "carl-va-head/1"}))
    with pytest.raises(ModelError, match="not a carl emotion head"):
        EmotionHead.load(tmp_path)


# ---------------------------------------------------------------- Python API

def test_predict_emotions_top_k_and_streaming(headed):
    folder, _ = headed
    model = carl.load(folder)
    out = model.predict_emotions(TEXTS, top_k=3)
    assert len(out) == len(TEXTS) and all(len(row) == 3 for row in out)
    for row in out:
        assert set(row[0]) == {"label", "score"} and all(r["label"] in LABEL_SETS["ekman"] for r in row)
        assert [r["score"] for r in row] == sorted((r["score"] for r in row), reverse=True)
    full = model.predict_emotions(TEXTS)
    assert all(len(row) == 7 for row in full)
    assert abs(sum(r["score"] for r in full[0]) - 1) < 1e-9
    streamed = [row for chunk in model.iter_predict_emotions(iter(TEXTS), top_k=3, chunk_size=3) for row in chunk]
    assert [[r["label"] for r in row] for row in streamed] == [[r["label"] for r in row] for row in out]
    np.testing.assert_allclose([r["score"] for row in streamed for r in row], [r["score"] for row in out for r in row],
                               atol=1e-5)
    for bad in (0, 8, -1, 2.5, True):
        with pytest.raises(ModelError, match="top_k must be an integer from 1 to 7"):
            model.predict_emotions(TEXTS, top_k=bad)
    assert model.predict_emotions([], top_k=2) == []


def _perturbed_copy(folder, other):
    """A copy of the model folder whose encoder weights are shifted by noise: same architecture and
    dimension, another encoder."""
    import torch
    from transformers import AutoModel

    shutil.copytree(folder, other)
    encoder = AutoModel.from_pretrained(other)
    with torch.no_grad():
        for p in encoder.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    encoder.save_pretrained(other)
    return other


def test_a_head_from_another_encoder_is_refused(headed, tmp_path):
    """Same architecture and dimension, different weights: the probe sentences give it away."""
    folder, _ = headed
    other = _perturbed_copy(folder, tmp_path / "other")
    model = carl.load(other)
    with pytest.raises(ModelError, match=r"fitted on another encoder.*carl fit-heads"):
        model.predict_emotions(TEXTS)
    assert model.predict_va(TEXTS).shape == (4, 2)  # the V-A head is not affected


def test_folder_without_head_names_the_fit_command(bare):
    with pytest.raises(ModelError, match=r"no emotion head \(emotion_head.json\); fit one with `carl fit-heads"):
        carl.load(bare).predict_emotions(TEXTS)


# ---------------------------------------------------------------- carl fit-heads

def test_fit_heads_command(export_tiny_model, carl_in_process, data_dir, tmp_path):
    folder = export_tiny_model("fit-heads")
    run = carl_in_process("fit-heads", folder, "--no-va", "--emotions", "goemotions", "--max-train", "2000",
                          "--max-dev", "1500", "--data-dir", data_dir)
    assert run.returncode == 0, run.stderr
    assert "emotion head saved" in run.stdout and "goemotions (28 labels)" in run.stdout
    assert EmotionHead.load(folder).label_set == "goemotions" and not (folder / "va_head.json").exists()
    for args, message in [(("--emotions", "plutchik"), "unknown emotion label set 'plutchik'"),
                          (("--no-va", "--no-emotions"), "fits nothing")]:
        bad = carl_in_process("fit-heads", folder, *args)
        assert bad.returncode == 2 and message in bad.stderr and "Traceback" not in bad.stderr
    missing = carl_in_process("fit-heads", tmp_path / "nowhere")
    assert missing.returncode == 2 and "is not a model folder" in missing.stderr


# ---------------------------------------------------------------- scoring

def test_predict_va_writes_emotion_columns(headed, carl_in_process, tmp_path):
    import pyarrow.parquet as pq

    folder, _ = headed
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS) + "\n")
    expected = carl.load(folder).predict_emotions(TEXTS, top_k=2)
    run = carl_in_process("predict-va", folder, "--input", texts, "--output", tmp_path / "out.parquet", "--emotions",
                          "--top-k", "2")
    assert run.returncode == 0, run.stderr
    table = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert list(table[0]) == ["text", "valence", "arousal", "emotion_1", "emotion_1_score", "emotion_2",
                              "emotion_2_score"]
    assert [row["emotion_1"] for row in table] == [row[0]["label"] for row in expected]
    np.testing.assert_allclose([row["emotion_2_score"] for row in table], [row[1]["score"] for row in expected],
                               atol=1e-5)
    csv_run = carl_in_process("predict-va", folder, "--input", texts, "--output", tmp_path / "out.csv", "--emotions",
                              "--top-k", "1")
    assert csv_run.returncode == 0, csv_run.stderr
    header = (tmp_path / "out.csv").read_text().splitlines()[0]
    assert header == "text,valence,arousal,emotion_1,emotion_1_score"
    again = carl_in_process("predict-va", folder, "--input", texts, "--output", tmp_path / "out.csv", "--emotions",
                            "--top-k", "1", "--resume")
    assert again.returncode == 0, again.stderr
    from carl.scoring.model import ModelSpec

    assert "emotions_top_k" not in ModelSpec(path="m").fingerprint()  # older runs' manifests still match
    assert ModelSpec(path="m", emotions_top_k=2).fingerprint()["emotions_top_k"] == 2
    bad = carl_in_process("predict-va", folder, "--input", texts, "--emotions", "--top-k", "9")
    assert bad.returncode == 2 and "top_k must be an integer from 1 to 7" in bad.stderr


def test_predict_va_without_emotion_head_names_the_fit_command(bare, carl_in_process, data_dir, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(bare, folder)
    fit_small_head(folder, data_dir, n_train=100, n_dev=50)
    texts = tmp_path / "texts.txt"
    texts.write_text("I won\n")
    plain = carl_in_process("predict-va", folder, "--input", texts)
    assert plain.returncode == 0 and "emotion" not in plain.stdout
    run = carl_in_process("predict-va", folder, "--input", texts, "--emotions")
    assert run.returncode == 2 and "carl fit-heads" in run.stderr and "Traceback" not in run.stderr


# ---------------------------------------------------------------- serving

@pytest.fixture(scope="module")
def client(headed):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from carl.serving import ServeSettings, create_app

    folder, _ = headed
    app = create_app(ServeSettings(model=str(folder), base_model="none", max_inputs=8, max_wait_ms=2))
    with TestClient(app) as c:
        yield c


def test_tei_predict_route(client, headed):
    folder, _ = headed
    expected = carl.load(folder).predict_emotions(TEXTS)
    one = client.post("/predict", json={"inputs": TEXTS[0]})
    assert one.status_code == 200, one.text
    assert [r["label"] for r in one.json()] == [r["label"] for r in expected[0]] and len(one.json()) == 7
    many = client.post("/predict", json={"inputs": TEXTS, "top_k": 2})
    assert many.status_code == 200 and [len(r) for r in many.json()] == [2] * 4
    np.testing.assert_allclose([r["score"] for r in many.json()[1]], [r["score"] for r in expected[1][:2]], atol=1e-4)
    raw = client.post("/predict", json={"inputs": TEXTS[0], "raw_scores": True}).json()
    assert raw[0]["label"] == expected[0][0]["label"]
    assert client.get("/info").json()["emotion_head"] == "ekman"


@pytest.mark.parametrize("body, status", [({"inputs": []}, 400), ({"inputs": ""}, 400), ({"inputs": 3}, 422),
                                          ({"inputs": "x", "top_k": 0}, 422), ({"inputs": "x", "top_k": 8}, 400),
                                          ({"text": "x"}, 422)])
def test_tei_predict_bad_input_is_a_4xx_in_tei_shape(client, body, status):
    response = client.post("/predict", json=body)
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error", "error_type"} and "Traceback" not in response.text


def test_affect_returns_emotions(client):
    response = client.post("/v1/affect", json={"input": TEXTS, "emotions_top_k": 2})
    assert response.status_code == 200, response.text
    for item in response.json()["data"]:
        assert len(item["emotions"]) == 2 and item["emotions"][0]["label"] in LABEL_SETS["ekman"]
    default = client.post("/v1/affect", json={"input": TEXTS[0]}).json()["data"][0]
    assert len(default["emotions"]) == 3
    bad = client.post("/v1/affect", json={"input": TEXTS[0], "emotions_top_k": 9})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "emotions_top_k"
    assert client.post("/v1/affect", json={"input": TEXTS[0], "emotions_top_k": 0}).status_code == 400


def test_server_without_emotion_head(bare, data_dir, tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from carl.serving import ServeSettings, create_app

    folder = tmp_path / "model"
    shutil.copytree(bare, folder)
    fit_small_head(folder, data_dir, n_train=100, n_dev=50)
    with TestClient(create_app(ServeSettings(model=str(folder), base_model="none", max_wait_ms=2))) as c:
        response = c.post("/predict", json={"inputs": "I won"})
        assert response.status_code == 404 and "carl fit-heads" in response.json()["error"]
        assert set(response.json()) == {"error", "error_type"}
        affect = c.post("/v1/affect", json={"input": "I won"}).json()["data"][0]
        assert "emotions" not in affect or affect["emotions"] is None
        assert c.get("/info").json()["emotion_head"] is None


def test_server_with_a_head_of_another_encoder_starts_and_says_why(headed, tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from carl.serving import ServeSettings, create_app

    folder, _ = headed
    other = _perturbed_copy(folder, tmp_path / "other")
    with TestClient(create_app(ServeSettings(model=str(other), base_model="none", max_wait_ms=2))) as c:
        response = c.post("/predict", json={"inputs": "I won"})
        assert response.status_code == 404, response.text
        assert "fitted on another encoder" in response.json()["error"] and "carl fit-heads" in response.json()["error"]
        assert c.post("/v1/affect", json={"input": "I won"}).status_code == 200  # V-A still served


def test_onnx_backend_predicts_the_same_emotions(headed, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from carl.inference.onnx_backend import export_onnx

    folder, _ = headed
    copy = tmp_path / "model"
    shutil.copytree(folder, copy)
    export_onnx(copy)
    torch_rows = carl.load(copy).predict_emotions(TEXTS, top_k=3)
    onnx_rows = carl.load(copy, backend="onnx").predict_emotions(TEXTS, top_k=3)
    assert [[r["label"] for r in row] for row in onnx_rows] == [[r["label"] for r in row] for row in torch_rows]
    np.testing.assert_allclose([r["score"] for row in onnx_rows for r in row],
                               [r["score"] for row in torch_rows for r in row], atol=1e-4)
