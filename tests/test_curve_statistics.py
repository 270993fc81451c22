"""The statistics of a learning curve (carl.evaluation.curve_statistics), on arrays alone: the fast metric
kernels equal the probes' metrics, the t-interval is the textbook one, and the bootstrap is paired."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import f1_score

from carl.evaluation import curve_statistics as CS
from carl.evaluation.fast_metrics import macro_f1_codes, pearson_mean


def test_fast_bootstrap_metrics_equal_the_probe_metrics():
    from carl.evaluation.probes import va_metrics

    rng = np.random.default_rng(0)
    gold, pred = rng.integers(0, 4, 500), rng.integers(0, 3, 500)  # class 3 is never predicted
    assert macro_f1_codes(gold, pred, 4) == pytest.approx(f1_score(gold, pred, average="macro", zero_division=0))
    g, p = rng.normal(size=(200, 2)), rng.normal(size=(200, 2))
    assert pearson_mean(g, p) == pytest.approx(va_metrics(p, g)["pearson_mean"])


def test_macro_f1_without_a_class_equals_the_probes_metric():
    """DailyDialog's headline drops "no emotion"'s own F1; the bootstrap's fast version must agree."""
    from carl.evaluation.probes import macro_f1_without

    rng = np.random.default_rng(1)
    names = np.array(["anger", "joy", "no emotion", "sadness"])
    gold, pred = rng.integers(0, 4, 400), rng.choice([0, 1, 2], 400)  # sadness is never predicted
    fast = CS.metric_fn("classification", "macro_f1_without_no_emotion", names, "no emotion")
    assert fast(gold, pred) == pytest.approx(macro_f1_without(names[gold], names[pred], "no emotion"))
    assert fast(gold, pred) != pytest.approx(macro_f1_codes(gold, pred, 4))
    assert CS.curve_metric("classification", "no emotion") == "macro_f1_without_no_emotion"
    assert CS.curve_metric("classification", None) == "macro_f1"


def test_t_interval_is_the_students_t_interval_of_the_draws():
    draws = [0.61, 0.64, 0.60, 0.66, 0.63]
    lo, hi = CS.t_interval(draws, 0.95)
    expected = stats.t.interval(0.95, len(draws) - 1, loc=np.mean(draws), scale=stats.sem(draws))
    assert (lo, hi) == pytest.approx(expected)
    assert CS.t_interval([0.6], 0.95) is None  # one draw: no spread to estimate


def test_percentile_interval_is_central_and_ignores_nan():
    values = np.append(np.arange(1001, dtype=float), np.nan)  # 0..1000: the 2.5th and 97.5th percentiles
    assert CS.percentile_interval(values, 0.95) == pytest.approx([25.0, 975.0])


def test_the_bootstrap_resamples_every_model_alike():
    """Paired: a model identical to the reference has a gap of exactly 0 in every replicate, and a model
    always one class better by construction has a positive gap in every replicate."""
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 3, 300)
    noisy = [np.where(rng.random(300) < 0.5, gold, rng.integers(0, 3, 300)) for _ in range(4)]
    perfect = [gold.copy() for _ in range(4)]
    preds = {"frozen": noisy, "copy": [p.copy() for p in noisy], "oracle": perfect}
    score = CS.metric_fn("classification", "accuracy", np.array(["a", "b", "c"]))
    values, gaps = CS.paired_bootstrap(preds, gold, score, "frozen", replicates=200, rng=np.random.default_rng(1))
    assert np.all(gaps["copy"] == 0) and np.all(gaps["frozen"] == 0)
    assert np.all(gaps["oracle"] > 0) and np.all(values["oracle"] == 1.0)
    assert values["frozen"].std() > 0  # the replicates do resample
    lo, hi = CS.percentile_interval(values["frozen"], 0.95)
    assert lo < np.mean([score(gold, p) for p in noisy]) < hi


def test_summarise_reports_the_draws_and_both_intervals():
    out = CS.summarise([0.5, 0.7], np.linspace(0.4, 0.8, 101), 0.9)
    assert out["mean"] == pytest.approx(0.6) and out["std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert out["draw_values"] == [0.5, 0.7] and out["draw_interval"] == pytest.approx(CS.t_interval([0.5, 0.7], 0.9))
    assert out["interval"] == pytest.approx([0.42, 0.78])
    assert "interval" not in CS.summarise([0.5], None, 0.9) and CS.summarise([0.5], None, 0.9)["std"] == 0.0
