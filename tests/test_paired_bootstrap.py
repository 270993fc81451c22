"""The claim rule of issue 38, part 4: a bootstrap over test texts (paired) and training seeds together,
and the per-text predictions `run_tasks(keep_predictions=True)` stores for it."""

from __future__ import annotations

import numpy as np
import pytest

from carl.evaluation import paired_bootstrap as PB
from carl.evaluation.probes import classification_metrics, va_metrics
from carl.evaluation.tasks import run_tasks

rng = np.random.default_rng(0)


def test_metrics_equal_the_probes_metrics():
    gold, pred = rng.random((50, 2)), rng.random((50, 2))
    assert PB.pearson_mean(gold, pred) == pytest.approx(va_metrics(pred, gold)["pearson_mean"])
    labels, guess = rng.choice(list("abcd"), 80), rng.choice(list("abce"), 80)
    assert PB.macro_f1(labels, guess) == pytest.approx(classification_metrics(labels, guess, None)["macro_f1"])
    assert np.isnan(PB.pearson_mean(gold, np.ones((50, 2))))
    reference = classification_metrics(labels, guess, None)
    assert PB.accuracy(labels, guess) == pytest.approx(reference["accuracy"])
    moods = np.array(["no emotion", "joy", "anger", "sadness"])
    said, heard = rng.choice(moods, 120, p=[0.7, 0.1, 0.1, 0.1]), rng.choice(moods, 120, p=[0.6, 0.2, 0.1, 0.1])
    dailydialog = classification_metrics(said, heard, "no emotion")["macro_f1_without_no_emotion"]
    assert PB.macro_f1_without_no_emotion(said, heard) == pytest.approx(dailydialog)
    assert dailydialog != pytest.approx(classification_metrics(said, heard, None)["macro_f1"])  # it drops a label


def test_a_better_model_is_clearly_above_and_the_gap_is_antisymmetric():
    gold = rng.random((300, 2))
    good = [gold + rng.normal(0, 0.1, gold.shape) for _ in range(3)]
    poor = [gold + rng.normal(0, 0.5, gold.shape) for _ in range(3)]
    ahead = PB.paired_gap(gold, good, poor, "pearson_mean", replicates=400)
    behind = PB.paired_gap(gold, poor, good, "pearson_mean", replicates=400)
    assert ahead["clearly_above"] and not ahead["clearly_below"] and behind["clearly_below"]
    assert ahead["interval"][0] < ahead["gap"] < ahead["interval"][1]
    assert behind["gap"] == pytest.approx(-ahead["gap"])
    assert (ahead["n_test"], ahead["seeds"], ahead["replicates"]) == (300, [3, 3], 400)


def test_a_model_against_itself_is_never_clearly_apart():
    gold = rng.choice(list("xyz"), 200)
    runs = [np.where(rng.random(200) < 0.7, gold, rng.choice(list("xyz"), 200)) for _ in range(3)]
    same = PB.paired_gap(gold, runs, runs, "macro_f1", replicates=400)
    assert same["gap"] == 0 and same["interval"][0] < 0 < same["interval"][1] and not same["clearly_above"]


def test_small_test_sets_widen_the_interval():
    """The reason for the rule: the same gap on fewer test texts is less certain."""
    def interval_width(n):
        gold = rng.random((n, 2))
        a = [gold + rng.normal(0, 0.3, gold.shape) for _ in range(3)]
        b = [gold + rng.normal(0, 0.35, gold.shape) for _ in range(3)]
        low, high = PB.paired_gap(gold, a, b, "pearson_mean", replicates=300)["interval"]
        return high - low
    assert interval_width(100) > 2 * interval_width(2000)


def test_bonferroni_and_bad_input():
    assert PB.bonferroni(0.95, 10) == pytest.approx(0.995) and PB.bonferroni(0.95, 1) == 0.95
    with pytest.raises(ValueError, match="comparisons"):
        PB.bonferroni(0.95, 0)
    with pytest.raises(ValueError, match="test set's 10 rows"):
        PB.paired_gap(np.zeros(10), [np.zeros(10)], [np.zeros(9)], "macro_f1")


def test_run_tasks_keeps_each_test_rows_prediction(tiny_encoder, data_dir):
    result = run_tasks(str(tiny_encoder), "emobank,tec", data_dir, max_train=200, max_eval=120, keep_predictions=True)
    for task, metric in (("emobank", "pearson_mean"), ("tec", "macro_f1")):
        rows = result["_meta"]["details"][task]["test_rows"]
        assert len(rows["ids"]) == len(set(rows["ids"])) == result[task]["n_test"]
        recomputed = PB.METRICS[metric](np.array(rows["gold"]), np.array(rows["pred"]))
        assert recomputed == pytest.approx(result[task][metric], abs=1e-5)
    plain = run_tasks(str(tiny_encoder), "tec", data_dir, max_train=200, max_eval=120)
    assert "test_rows" not in plain["_meta"]["details"]["tec"]


@pytest.mark.parametrize("metric", ["pearson_mean", "macro_f1", "accuracy", "macro_f1_without_no_emotion"])
def test_the_resampled_kernels_equal_the_metrics_they_stand_for(metric):
    from carl.evaluation.paired_bootstrap import METRICS, resampled_metric

    rng = np.random.default_rng(7)
    if metric == "pearson_mean":
        gold = rng.random((300, 2))
        preds = [gold + rng.normal(0, s, gold.shape) for s in (0.2, 0.5)]
    else:
        names = np.array(["anger", "joy", "no emotion", "sadness", "fear"])
        gold = names[rng.integers(0, 4, 300)]  # fear never gold: only some predictions name it
        preds = [np.where(rng.random(300) < 0.6, gold, names[rng.integers(0, 5, 300)]) for _ in range(2)]
    fast_gold, fast_preds, fast = resampled_metric(metric, gold, preds)
    for _ in range(25):
        rows = rng.integers(0, 300, rng.integers(5, 300))
        for pred, fast_pred in zip(preds, fast_preds):
            assert fast(fast_gold[rows], fast_pred[rows]) == pytest.approx(METRICS[metric](gold[rows], pred[rows]),
                                                                           abs=1e-12)


def test_several_confidences_read_one_set_of_draws():
    from carl.evaluation.paired_bootstrap import paired_gap_at

    rng = np.random.default_rng(8)
    gold = rng.integers(0, 3, 200).astype(str)
    a = [np.where(rng.random(200) < 0.7, gold, "0") for _ in range(3)]
    b = [np.where(rng.random(200) < 0.6, gold, "1") for _ in range(2)]
    wide, narrow = paired_gap_at(gold, a, b, "macro_f1", (0.95, 0.999), replicates=400, seed=3)
    assert wide == PB.paired_gap(gold, a, b, "macro_f1", replicates=400, seed=3)
    assert narrow == PB.paired_gap(gold, a, b, "macro_f1", replicates=400, seed=3, confidence=0.999)
    assert narrow["interval"][0] <= wide["interval"][0] and wide["interval"][1] <= narrow["interval"][1]
