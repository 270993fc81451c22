"""Plots: files exist, are real PNGs of the expected shape, and bad input fails early."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from carl.evaluation.plots import plot_embeddings_2d, plot_loss_curves, plot_training_curves, plot_va_circumplex

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _assert_png(path: Path, *, min_aspect: float, max_aspect: float) -> None:
    assert path.is_file()
    assert path.read_bytes()[:8] == PNG_MAGIC
    img = mpimg.imread(path)
    height, width = img.shape[:2]
    assert width >= 400 and height >= 300, (width, height)
    assert min_aspect <= width / height <= max_aspect, width / height
    assert img[..., :3].std() > 0.01  # not a blank canvas


@pytest.fixture
def embeddings():
    rng = np.random.default_rng(0)
    labels = rng.choice(["joy", "anger", "sadness"], size=40)
    centres = {lab: rng.normal(size=8) * 3 for lab in np.unique(labels)}
    tuned = np.array([centres[lab] for lab in labels]) + rng.normal(size=(40, 8))
    return {"frozen MiniLM": rng.normal(size=(40, 8)), "CARL": tuned}, labels


# ------------------------------------------------------------------ embeddings 2-D


def test_embeddings_tsne_categorical(tmp_path, embeddings):
    models, labels = embeddings
    out = plot_embeddings_2d(models, colour_by=labels, colour_kind="categorical", colour_name="emotion",
                             path=tmp_path / "sub" / "tsne.png")
    assert isinstance(out, Path)
    _assert_png(out, min_aspect=1.6, max_aspect=3.0)  # two panels side by side


def test_embeddings_pca_continuous_single_model(tmp_path, embeddings):
    models, _ = embeddings
    valence = np.linspace(0, 1, 40)
    out = plot_embeddings_2d({"CARL": models["CARL"]}, colour_by=valence, colour_kind="continuous",
                             colour_name="valence", path=tmp_path / "pca.png", method="pca")
    _assert_png(out, min_aspect=1.0, max_aspect=1.7)


def test_embeddings_subsampling(tmp_path, embeddings):
    models, labels = embeddings
    out = plot_embeddings_2d(models, colour_by=labels, colour_kind="categorical", colour_name="emotion",
                             path=tmp_path / "few.png", method="pca", max_points=10)
    _assert_png(out, min_aspect=1.6, max_aspect=3.0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"colour_by": np.zeros(39)}, "colour_by has 39"),
        ({"colour_kind": "ordinal"}, "colour_kind"),
        ({"method": "umap"}, "method"),
        ({"colour_by": np.r_[np.nan, np.zeros(39)], "colour_kind": "continuous"}, "NaN"),
    ],
    ids=["length-mismatch", "bad-kind", "bad-method", "nan-colour"],
)
def test_embeddings_bad_input(tmp_path, embeddings, kwargs, message):
    models, labels = embeddings
    args = {"colour_by": labels, "colour_kind": "categorical", "colour_name": "emotion",
            "path": tmp_path / "x.png", "method": "pca"} | kwargs
    with pytest.raises(ValueError, match=message):
        plot_embeddings_2d(models, **args)
    assert not (tmp_path / "x.png").exists()


def test_embeddings_models_of_different_lengths(tmp_path, embeddings):
    models, labels = embeddings
    models = dict(models, CARL=models["CARL"][:-1])
    with pytest.raises(ValueError, match="'CARL' have 39 rows"):
        plot_embeddings_2d(models, colour_by=labels, colour_kind="categorical", colour_name="emotion",
                           path=tmp_path / "x.png")


# ------------------------------------------------------------------ circumplex


def test_circumplex(tmp_path):
    rng = np.random.default_rng(0)
    gold = rng.uniform(size=(60, 2))
    pred = np.clip(gold + rng.normal(scale=0.1, size=gold.shape), -0.1, 1.1)  # may leave [0, 1]
    out = plot_va_circumplex(pred, gold, path=tmp_path / "va.png", title="EmoBank test")
    _assert_png(out, min_aspect=2.0, max_aspect=3.5)  # plane + two per-dimension panels


def test_circumplex_constant_prediction_still_draws(tmp_path):
    gold = np.random.default_rng(0).uniform(size=(10, 2))
    out = plot_va_circumplex(np.full((10, 2), 0.5), gold, path=tmp_path / "flat.png", title="constant")
    _assert_png(out, min_aspect=2.0, max_aspect=3.5)


@pytest.mark.parametrize(
    "pred, gold, message",
    [
        (np.zeros((5, 2)), np.zeros((6, 2)), "must match"),
        (np.zeros((5, 3)), np.zeros((5, 3)), r"shape \(n, 2\)"),
        (np.zeros((0, 2)), np.zeros((0, 2)), "empty"),
        (np.full((2, 2), np.nan), np.zeros((2, 2)), "NaN"),
    ],
)
def test_circumplex_bad_input(tmp_path, pred, gold, message):
    with pytest.raises(ValueError, match=message):
        plot_va_circumplex(pred, gold, path=tmp_path / "x.png", title="t")


# ------------------------------------------------------------------ training curves


def _rows(n: int = 120) -> list[dict]:
    rows = []
    for step in range(n):
        row = {"step": step, "loss": 2.0 / (1 + step), "loss_mccl": 1.5 / (1 + step), "lr": 1e-5}
        if step >= 10:  # PTD switched on later: key absent in early rows
            row["loss_ptd"] = 0.3 / (1 + step)
        if step % 20 == 0:
            row["dev/pearson_mean"] = step / n
        rows.append(row)
    return rows


def test_training_curves_with_dev_panel(tmp_path):
    out = plot_training_curves(_rows(), path=tmp_path / "curves.png")
    _assert_png(out, min_aspect=2.0, max_aspect=3.5)


def test_training_curves_losses_only(tmp_path):
    rows = [{k: v for k, v in r.items() if not k.startswith("dev/")} for r in _rows(8)]
    out = plot_training_curves(rows, path=tmp_path / "losses.png")
    _assert_png(out, min_aspect=1.1, max_aspect=1.8)


def test_training_curves_unsorted_rows_and_custom_keys(tmp_path):
    rows = _rows()[::-1]
    out = plot_training_curves(rows, path=tmp_path / "lr.png", keys=("lr",))
    _assert_png(out, min_aspect=2.0, max_aspect=3.5)


@pytest.mark.parametrize(
    "rows, message",
    [
        ([], "empty"),
        ([{"loss": 1.0}], "'step'"),
        ([{"step": 0, "accuracy": 1.0}], "none of the keys"),
        ([{"step": 0, "loss": 1.0}, "not a row"], "expected a dict"),
    ],
)
def test_training_curves_bad_input(tmp_path, rows, message):
    with pytest.raises(ValueError, match=message):
        plot_training_curves(rows, path=tmp_path / "x.png")


def test_loss_curves_one_panel_per_variant(tmp_path):
    steps = range(10, 210, 10)
    curves = {"CARL+ queue": {s: [5 / s ** 0.1, 5.2 / s ** 0.1] for s in steps},
              "SimCSE": {s: [0.01 + 0.001 * (s % 30), 0.012] for s in steps},
              "V-A regression": {s: [0.1 / s] for s in steps},
              "hybrid": {s: [6 / s ** 0.1, 6.1 / s ** 0.1, 5.9 / s ** 0.1] for s in steps}}
    _assert_png(plot_loss_curves(curves, tmp_path / "loss.png"), min_aspect=1.8, max_aspect=2.4)  # 3 x 2 panels
    _assert_png(plot_loss_curves({"only": curves["SimCSE"]}, tmp_path / "one.png"), min_aspect=1.1, max_aspect=1.6)
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_loss_curves({"empty": {}}, tmp_path / "none.png")
