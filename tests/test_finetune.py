"""The fine-tuning protocol: encoder + head trained on one task, dev-selected, scored on test."""

from __future__ import annotations

import math

import numpy as np
import pytest

from carl.errors import CarlError
from carl.evaluation.finetune import finetune, standardisation


def test_finetune_classification_selects_on_dev_and_scores_test(tiny_encoder, data_dir):
    out = finetune(str(tiny_encoder), "cr", data_dir, steps=4, batch_size=8, eval_every=2, max_train=64,
                   max_eval=40)
    meta = out.pop("_meta")
    assert 0.0 <= out["accuracy"] <= 1.0 and 0.0 <= out["macro_f1"] <= 1.0
    assert out["n_train"] == 64 and out["n_test"] == 40 and out["n_dev"] == 40
    assert [h["step"] for h in meta["history"]] == [2, 4]
    best = max(meta["history"], key=lambda h: h["dev_macro_f1"])
    assert meta["best_step"] == best["step"]
    assert all(math.isfinite(h["loss"]) for h in meta["history"])


def test_finetune_va_regression_reports_correlations(tiny_encoder, data_dir):
    out = finetune(str(tiny_encoder), "emobank", data_dir, steps=3, batch_size=8, eval_every=3, max_train=48,
                   max_eval=48)
    for key in ("pearson_v", "pearson_a", "pearson_mean", "spearman_mean"):
        assert -1.0 <= out[key] <= 1.0
    assert out["pearson_mean"] == pytest.approx((out["pearson_v"] + out["pearson_a"]) / 2)
    assert out["_meta"]["selection"] == "dev pearson_mean" and out["_meta"]["targets"] == "train-standardised"


def test_finetune_rejects_tasks_without_a_head(tiny_encoder, data_dir):
    with pytest.raises(CarlError, match="cannot be fine-tuned"):
        finetune(str(tiny_encoder), "geometry", data_dir, steps=1)
    with pytest.raises(CarlError, match="cannot be fine-tuned"):
        finetune(str(tiny_encoder), "no-such-task", data_dir, steps=1)


def test_standardisation_gives_zero_mean_unit_std_and_survives_a_constant_column():
    rng = np.random.default_rng(0)
    targets = np.stack([rng.normal(0.5, 0.08, 200), np.full(200, 0.3)], axis=1).astype(np.float32)
    mean, std = standardisation(targets)
    scaled = (targets - mean) / std
    assert scaled.dtype == np.float32
    assert np.allclose(scaled[:, 0].mean(), 0.0, atol=1e-5) and np.isclose(scaled[:, 0].std(), 1.0, atol=1e-4)
    assert np.all(scaled[:, 1] == 0.0) and std[1] == 1.0
    assert np.allclose(scaled * std + mean, targets, atol=1e-6)
