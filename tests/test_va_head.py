"""The V-A head saved with a model (va_head.json), its Python API and `carl predict-va`."""

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from carl.errors import CarlError, ModelError
from carl.evaluation.head_fitting import fit_va_head, main, train_va_head
from carl.inference.embedder import predict_va
from carl.inference.heads.va import HEAD_FILE, VAHead
from carl.scoring.commands import predict_va_command

pytestmark = pytest.mark.usefixtures("one_blas_thread")


@pytest.fixture(scope="module")
def st_model(export_tiny_model):
    return export_tiny_model("st-head")


@pytest.fixture(scope="module")
def headed_model(st_model, data_dir):
    head = train_va_head(st_model, data_dir, max_train=200)
    return st_model, head


def _synthetic(n, dim=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim))
    w = rng.normal(size=(dim, 2))
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    y = np.clip(0.5 + 0.2 * xn @ w + 0.02 * rng.normal(size=(n, 2)), 0, 1)
    return x, y


def test_fit_chooses_alpha_on_dev_and_records_metrics():
    x, y = _synthetic(400)
    x, y, dx, dy = x[:300], y[:300], x[300:], y[300:]
    head = fit_va_head(x, y, alphas=(0.001, 0.1, 1000), dev_embeddings=dx, dev_va=dy, training_corpora=["toy"])
    assert head.alpha in (0.001, 0.1, 1000) and set(head.info["dev_scores"]) == {"alpha=0.001", "alpha=0.1",
                                                                                     "alpha=1000"}
    assert head.alpha != 1000  # heavy shrinkage loses on clean data
    assert head.metrics["dev_pearson_v"] > 0.5 and head.info["n_train"] == 300
    assert head.training_corpora == ("toy",)


def test_save_load_round_trip_gives_identical_predictions(tmp_path):
    x, y = _synthetic(200)
    head = fit_va_head(x, y, dev_embeddings=x[:50], dev_va=y[:50])
    path = head.save(tmp_path)
    assert path == tmp_path / HEAD_FILE
    data = json.loads(path.read_text())  # plain JSON: weights as lists, no pickle
    assert data["format"] == "carl-va-head/1" and len(data["coef"]) == 2 and len(data["coef"][0]) == 12
    assert {"alpha", "intercept", "training_corpora", "metrics"} <= set(data)
    loaded = VAHead.load(tmp_path)
    probe = np.random.default_rng(5).normal(size=(30, 12)) * 3
    assert np.array_equal(loaded.predict(probe), head.predict(probe))
    assert np.array_equal(loaded.predict(probe, clip=False), head.predict(probe, clip=False))
    assert loaded.alpha == head.alpha


def test_predictions_are_clipped_to_the_unit_square_unless_asked():
    head = VAHead(coef=np.array([[5.0, 0.0], [0.0, -5.0]]), intercept=np.array([0.5, 0.5]), alpha=1.0)
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert np.array_equal(head.predict(x), [[1.0, 0.5], [0.5, 0.0]])
    assert np.array_equal(head.predict(x, clip=False), [[5.5, 0.5], [0.5, -4.5]])
    with pytest.raises(ModelError, match="dimension 2"):
        head.predict(np.ones((1, 3)))


def test_missing_or_broken_head_is_a_model_error_naming_the_fix(tmp_path):
    with pytest.raises(ModelError, match="python -m carl.va_head"):
        VAHead.load(tmp_path)
    (tmp_path / HEAD_FILE).write_text("{not json")
    with pytest.raises(ModelError, match="cannot read"):
        VAHead.load(tmp_path)
    (tmp_path / HEAD_FILE).write_text(json.dumps({"format": "other"}))
    with pytest.raises(ModelError, match="not a carl V-A head"):
        VAHead.load(tmp_path)


def test_train_va_head_saves_into_the_model_folder(headed_model):
    model, head = headed_model
    assert (model / HEAD_FILE).is_file()
    assert head.training_corpora == ("emobank", "facebook-va") and head.dim == 32
    assert head.info["n_train"] == 400 and head.info["n_dev"] == 1000 + 289 and head.info["split_seed"] == 0
    assert np.array_equal(VAHead.load(model).coef, head.coef)


def test_predict_va_api(headed_model):
    model, _ = headed_model
    va = predict_va(model, ["I won", "I lost", "I won"])
    assert va.shape == (3, 2) and np.all((va >= 0) & (va <= 1))
    assert np.allclose(va[0], va[2])


def _app():
    app = typer.Typer()
    app.command("predict-va")(predict_va_command)
    app.command("noop")(lambda: None)  # two commands, so `predict-va` is a sub-command as in `carl`
    return app


def test_predict_va_cli_writes_one_row_per_input(headed_model, tmp_path):
    model, _ = headed_model
    texts = tmp_path / "texts.txt"
    texts.write_text("I won\nI lost\nwhat a calm evening\n")
    jsonl = tmp_path / "va.jsonl"
    done = CliRunner().invoke(_app(), ["predict-va", str(model), "--input", str(texts), "--output", str(jsonl)])
    assert done.exit_code == 0, (done.output, done.exception)
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["text"] for r in rows] == ["I won", "I lost", "what a calm evening"]
    assert all(0 <= r["valence"] <= 1 and 0 <= r["arousal"] <= 1 for r in rows)

    table = tmp_path / "in.csv"
    table.write_text('id,body\n1,"I won"\n2,"I lost"\n')
    csv_out = tmp_path / "va.csv"
    done = CliRunner().invoke(_app(), ["predict-va", str(model), "--input", str(table), "--text-column", "body",
                                       "--output", str(csv_out)])
    assert done.exit_code == 0, (done.output, done.exception)
    lines = csv_out.read_text().splitlines()
    assert lines[0] == "text,valence,arousal" and len(lines) == 3

    done = CliRunner().invoke(_app(), ["predict-va", str(model), "--input", str(texts)])
    assert done.exit_code == 0
    out = done.stdout.strip().splitlines()
    assert out[0] == "valence\tarousal\ttext" and len(out) == 4 and out[2].endswith("\tI lost")


def test_predict_va_cli_without_head_is_a_carl_error(st_model, tmp_path):
    bare = tmp_path / "bare"
    import shutil

    shutil.copytree(st_model, bare)
    (bare / HEAD_FILE).unlink(missing_ok=True)
    texts = tmp_path / "t.txt"
    texts.write_text("hello\n")
    done = CliRunner().invoke(_app(), ["predict-va", str(bare), "--input", str(texts)])
    assert isinstance(done.exception, CarlError)
    assert HEAD_FILE in str(done.exception) and "python -m carl.va_head" in str(done.exception)
    done = CliRunner().invoke(_app(), ["predict-va", str(bare), "--input", str(texts), "--output",
                                       str(tmp_path / "x.npy")])
    assert isinstance(done.exception, CarlError) and "unsupported output" in str(done.exception)


def test_module_entry_point_reports_errors_with_exit_2(tmp_path, capsys):
    assert main([str(tmp_path / "missing")]) == 2
    assert "not a model folder" in capsys.readouterr().err


def test_a_head_file_written_before_the_inference_package_still_loads(tmp_path):
    """va_head.json as carl 0.1 wrote it (carl.va_head.VAHead.save, format carl-va-head/1, before issue
    42 moved the class to carl.inference.heads.va): read as before, the same predictions."""
    old = {"format": "carl-va-head/1", "input": "sentence embedding of this model folder, L2-normalised",
           "output": ["valence", "arousal"], "scale": "per-corpus min-max normalised [0, 1] (docs/data.md); "
           "predictions clipped to [0, 1] by default", "alpha": 1.0, "dim": 3, "training_corpora": ["emobank"],
           "metrics": {"dev_pearson_v": 0.5, "dev_pearson_a": None}, "info": {"n_train": 10, "n_dev": 3},
           "intercept": [0.5, 0.25], "coef": [[0.1, -0.2, 0.3], [0.0, 0.4, -0.1]]}
    (tmp_path / HEAD_FILE).write_text(json.dumps(old, indent=1) + "\n", encoding="utf-8")
    head = VAHead.load(tmp_path)
    x = np.array([[3.0, 0.0, 4.0], [0.0, -2.0, 0.0]])
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    expected = unit @ np.array(old["coef"]).T + np.array(old["intercept"])
    assert np.array_equal(head.predict(x, clip=False), expected)
    assert head.training_corpora == ("emobank",) and head.metrics["dev_pearson_a"] is None
    assert head.to_dict() == old  # what it writes back is what it read


def _class_texts(corpus, n, seed, *, shift):
    """Emotion-corpus texts whose arousal lives on a direction the rated rows never vary: dimension 11."""
    from carl.evaluation.head_fitting import ClassTexts

    rng = np.random.default_rng(seed)
    labels = tuple(rng.choice(["anger", "fear", "sadness", "joy"], size=n))
    x = rng.normal(size=(n, 12)) * 0.3
    aroused = np.isin(labels, ["anger", "fear", "joy"])
    x[:, 11] = np.where(aroused, shift, -shift) + 0.1 * rng.normal(size=n)
    x[:, 10] = np.where(np.array(labels) == "joy", shift, -shift)
    va = np.column_stack([np.where(np.array(labels) == "joy", 0.9, 0.1), np.where(aroused, 0.85, 0.3)])
    return ClassTexts(corpus, x, va, labels)


def test_class_texts_teach_arousal_the_rated_rows_lack_within_the_dev_tolerance():
    x, y = _synthetic(600)
    x[:, 10:] = 0.0  # the rated rows carry nothing on the class directions
    x, y, dx, dy = x[:450], y[:450], x[450:], y[450:]
    train, dev = [_class_texts("toy-classes", 300, 1, shift=1.0)], [_class_texts("toy-classes", 200, 2, shift=1.0)]
    plain = fit_va_head(x, y, alphas=(0.1, 1), dev_embeddings=dx, dev_va=dy)
    head = fit_va_head(x, y, alphas=(0.1, 1), dev_embeddings=dx, dev_va=dy, class_train=train, class_dev=dev)
    assert head.info["class_weight"] > 0 and head.training_corpora == ("toy-classes",)
    assert head.metrics["dev_auc"]["toy-classes"]["arousal_auc"] > 0.95
    assert head.metrics["dev_pearson_mean"] >= plain.metrics["dev_pearson_mean"] - head.info["tolerance"]
    no_class_weight = [c for c in head.info["candidates"] if c["class_weight"] == 0]
    assert len(no_class_weight) == 2 and len(head.info["candidates"]) == 10
    assert "class_weight" not in plain.info  # without class texts: the rated-only head, as before


def test_class_texts_that_cost_the_rated_fit_are_given_no_weight():
    x, y = _synthetic(600)
    x, y, dx, dy = x[:450], y[:450], x[450:], y[450:]
    # The class texts' targets contradict the rated mapping on the same directions.
    rng = np.random.default_rng(3)
    from carl.evaluation.head_fitting import ClassTexts

    cx = x[:300].copy()
    labels = tuple(rng.choice(["anger", "sadness", "joy"], size=300))
    bad = ClassTexts("contrary", cx, 1.0 - y[:300], labels)
    head = fit_va_head(x, y, alphas=(0.1,), dev_embeddings=dx, dev_va=dy, class_train=[bad],
                       class_dev=[ClassTexts("contrary", dx, 1.0 - dy, tuple(rng.choice(["anger", "sadness"], len(dx))))],
                       class_weights=(0.3, 1.0), tolerance=0.005)
    assert head.info["class_weight"] == 0.0 and head.training_corpora == ()


def test_class_texts_need_dev_texts():
    x, y = _synthetic(100)
    with pytest.raises(ValueError, match="class dev"):
        fit_va_head(x, y, dev_embeddings=x, dev_va=y, class_train=[_class_texts("c", 50, 0, shift=1.0)])
