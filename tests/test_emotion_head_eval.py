"""Scoring a shipped emotion head (`carl evaluate --tasks emotion-head-goemotions,emotion-head-transfer`) and
the NRCLex baseline: the label mapping, the lexicon's argmax and tie rule, the F1 bookkeeping, and both tasks end
to end on the tiny encoder with a head fitted on a small GoEmotions slice (checked against sklearn)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from sklearn.metrics import f1_score

import carl
from carl.data.lexicon import EMOTION_VA_WORDS
from carl.errors import CarlError, ModelError
from carl.evaluation.emotion_head_eval import (EKMAN, TO_EKMAN, TRANSFER_CORPORA, NrcLexBaseline, check_lexicon_use,
                                               corpus_classes, map_to_ekman, multi_label_scores, per_label_f1,
                                               restricted_argmax, single_label_scores)
from carl.evaluation.head_fitting import train_emotion_head
from carl.evaluation.lexicon_scorers import EKMAN_TIE_ORDER, NrcLexEkmanScorer, ekman_argmax
from carl.evaluation.tasks import EvalData, run_tasks, single_label
from carl.inference.heads.emotions import LABEL_SETS, EmotionHead, probe_record

pytestmark = pytest.mark.usefixtures("one_blas_thread")
TASKS = "emotion-head-goemotions,emotion-head-transfer"


# ---------------------------------------------------------------- the label mapping


def test_every_transfer_label_maps_to_ekman_as_documented():
    for corpus in TRANSFER_CORPORA:  # the mapping covers exactly the labels carl's reader gives
        assert set(TO_EKMAN[corpus]) == set(EMOTION_VA_WORDS[corpus]) and set(TO_EKMAN[corpus].values()) <= set(EKMAN)
    assert map_to_ekman("carer", "love") == "joy" and map_to_ekman("carer", "joy") == "joy"
    assert map_to_ekman("dailydialog", "no emotion") == "neutral" and map_to_ekman("dailydialog", "happiness") == "joy"
    assert all(map_to_ekman("tec", e) == e for e in EKMAN_TIE_ORDER)
    assert corpus_classes("tec") == ("anger", "disgust", "fear", "joy", "sadness", "surprise")
    assert corpus_classes("carer") == ("anger", "fear", "joy", "sadness", "surprise")  # no disgust, no neutral
    assert corpus_classes("dailydialog") == EKMAN
    with pytest.raises(CarlError, match="'love' has no Ekman mapping"):
        map_to_ekman("tec", "love")


# ---------------------------------------------------------------- NRCLex: argmax, ties, neutral


def test_ekman_argmax_tie_rule_neutral_and_restriction():
    #                    anger disgust fear joy sadness surprise
    counts = np.array([[0, 0, 2, 1, 0, 0],    # fear
                       [1, 0, 0, 1, 1, 0],    # three-way tie: anger comes first in the order
                       [0, 0, 0, 3, 0, 3],    # joy / surprise tie: joy
                       [0, 0, 0, 0, 0, 0],    # nothing: neutral
                       [0, 2, 0, 0, 0, 1]])   # disgust; without disgust allowed: surprise
    assert EKMAN_TIE_ORDER == ("anger", "disgust", "fear", "joy", "sadness", "surprise")
    assert ekman_argmax(counts) == ["fear", "anger", "joy", "neutral", "disgust"]
    carer = corpus_classes("carer")
    assert ekman_argmax(counts, carer) == ["fear", "anger", "joy", "neutral", "surprise"]
    assert ekman_argmax(np.array([[0, 4, 0, 0, 0, 0]]), carer) == ["neutral"]  # only disgust words: no evidence
    with pytest.raises(CarlError, match="shape"):
        ekman_argmax(np.zeros((2, 7)))


def test_nrclex_scorer_counts_words_of_the_six_ekman_emotions():
    lexicon = {"furious": ["anger", "disgust", "negative"], "happy": ["anticipation", "joy", "positive", "trust"],
               "terror": ["fear", "negative"], "mother": ["anticipation", "joy", "positive", "trust"],
               "gift": ["anticipation", "joy", "positive", "surprise", "trust"]}
    scorer = NrcLexEkmanScorer(lexicon)
    scores = scorer.score(["I am FURIOUS, furious!", "My mother's gift made me happy", "Nothing here.",
                           "Terror and fury"])
    np.testing.assert_array_equal(scores.values, [[2, 2, 0, 0, 0, 0], [0, 0, 0, 3, 0, 1], [0] * 6, [0, 0, 1, 0, 0, 0]])
    assert list(scores.matched) == [2, 3, 0, 1]  # "mother's" found through its stem
    assert scorer.predict(["I am FURIOUS, furious!", "My mother's gift made me happy", "Nothing here.",
                           "Terror and fury"]) == ["anger", "joy", "neutral", "fear"]


def test_the_lexicon_inside_the_nrclex_package_is_read_without_textblob():
    pytest.importorskip("nrclex")
    scorer = NrcLexEkmanScorer.from_package()
    assert len(scorer.lexicon) > 6000 and scorer.version
    assert scorer.predict(["I hate this, it is disgusting", "What a happy day", "The table is made of wood"]) == \
        ["anger", "joy", "neutral"]  # hate: anger, disgust, fear, sadness; disgusting: anger, disgust, fear -> tie


# ---------------------------------------------------------------- F1 bookkeeping


def test_per_label_f1_matches_sklearn_and_counts():
    rng = np.random.default_rng(3)
    gold, pred = rng.random((300, 5)) < 0.3, rng.random((300, 5)) < 0.2
    gold[:, 4] = pred[:, 4] = False  # a label neither given nor predicted: F1 0, not NaN
    per = per_label_f1(gold, pred, list("abcde"))
    np.testing.assert_allclose([per[c]["f1"] for c in "abcde"], f1_score(gold, pred, average=None, zero_division=0))
    assert [per[c]["support"] for c in "abcde"] == list(gold.sum(axis=0))
    assert [per[c]["predicted"] for c in "abcde"] == list(pred.sum(axis=0)) and per["e"]["f1"] == 0.0
    multi = multi_label_scores(gold, pred, list("abcde"))
    assert multi["macro_f1"] == pytest.approx(f1_score(gold, pred, average="macro", zero_division=0))
    assert multi["micro_f1"] == pytest.approx(f1_score(gold, pred, average="micro", zero_division=0))


def test_predictions_outside_the_corpus_classes_count_as_wrong():
    classes = ("anger", "joy")
    gold = ["joy", "joy", "joy", "anger"]
    pred = ["joy", "neutral", "anger", "anger"]  # neutral is not a class of this corpus
    scores = single_label_scores(gold, pred, classes)
    # joy: tp 1, 3 gold, 1 predicted -> F1 0.5; anger: tp 1, 1 gold, 2 predicted -> F1 2/3
    assert scores["per_label"]["joy"]["f1"] == pytest.approx(0.5)
    assert scores["per_label"]["anger"]["f1"] == pytest.approx(2 / 3)
    assert scores["macro_f1"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert scores["macro_f1"] == pytest.approx(f1_score(gold, pred, labels=list(classes), average="macro"))
    assert scores["accuracy"] == 0.5 and scores["outside"] == 0.25 and scores["n"] == 4
    with pytest.raises(CarlError, match="not among the classes"):
        single_label_scores(["fear"], ["fear"], classes)


def test_restricted_argmax_only_chooses_allowed_labels():
    labels = ("anger", "joy", "neutral")
    p = np.array([[0.1, 0.3, 0.6], [0.5, 0.5, 0.0], [0.2, 0.1, 0.7]])
    assert restricted_argmax(p, labels) == ["neutral", "anger", "neutral"]
    assert restricted_argmax(p, labels, ("anger", "joy")) == ["joy", "anger", "anger"]
    with pytest.raises(CarlError, match="none of"):
        restricted_argmax(p, labels, ("fear",))


# ---------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def headed(export_tiny_model, data_dir):
    folder = export_tiny_model("emotion-eval")
    train_emotion_head(folder, data_dir, "ekman", max_train=1500, max_dev=1200)
    return folder


def _rows(data_dir, corpus, max_eval):
    ctx = EvalData(data_dir=data_dir, seed=0, split_seed=0, max_train=None, max_eval=max_eval)
    return ctx.split(corpus, "test", keep=lambda r: len(r.labels) == 1, stratify=single_label)


def test_both_tasks_score_the_shipped_head_as_sklearn_does(headed, data_dir):
    result = run_tasks(str(headed), TASKS, data_dir, max_eval=150)
    model = carl.load(headed)
    # in-domain: the head's top label on goemotions-ekman's single-label test rows
    rows = _rows(data_dir, "goemotions-ekman", 150)
    gold = [r.labels[0] for r in rows]
    pred = [row[0]["label"] for row in model.predict_emotions([r.text for r in rows], top_k=1)]
    got = result["emotion-head-goemotions"]
    assert got["label_set"] == "ekman" and got["n_test"] == len(rows) == 150
    assert got["macro_f1"] == pytest.approx(f1_score(gold, pred, labels=list(EKMAN), average="macro", zero_division=0))
    assert got["accuracy"] == pytest.approx(np.mean(np.array(gold) == np.array(pred)))
    assert got["f1_joy"] == pytest.approx(f1_score(gold, pred, labels=["joy"], average="macro", zero_division=0))
    # transfer, CARER: love -> joy, the head's 7 labels (neutral / disgust wrong) and restricted to CARER's 5
    transfer = result["emotion-head-transfer"]
    carer = _rows(data_dir, "carer", 150)
    gold = [map_to_ekman("carer", r.labels[0]) for r in carer]
    probabilities = np.array([[s["score"] for s in sorted(row, key=lambda s: EKMAN.index(s["label"]))]
                              for row in model.predict_emotions([r.text for r in carer])])
    classes = list(corpus_classes("carer"))
    full = [EKMAN[j] for j in probabilities.argmax(axis=1)]
    narrow = [classes[j] for j in probabilities[:, [EKMAN.index(c) for c in classes]].argmax(axis=1)]
    assert transfer["carer_n"] == 150 and "love" not in gold and "joy" in gold
    assert transfer["carer_macro_f1"] == pytest.approx(f1_score(gold, full, labels=classes, average="macro",
                                                                zero_division=0))
    assert transfer["carer_macro_f1_restricted"] == pytest.approx(f1_score(gold, narrow, labels=classes,
                                                                           average="macro", zero_division=0))
    assert transfer["carer_outside"] == pytest.approx(np.mean([p not in classes for p in full]))
    assert transfer["carer_accuracy_restricted"] >= transfer["carer_accuracy"]  # restriction can only fix mistakes
    assert transfer["dailydialog_macro_f1_restricted"] == transfer["dailydialog_macro_f1"]  # it has all 7 labels
    assert transfer["tec_n"] == 150 and transfer["dailydialog_n"] == 150
    assert transfer["macro_f1_mean"] == pytest.approx(np.mean([transfer[f"{c}_macro_f1"] for c in TRANSFER_CORPORA]))
    details = result["_meta"]["details"]["emotion-head-transfer"]
    assert details["carer"]["per_label"]["joy"]["support"] == gold.count("joy")
    assert sum(n for row in details["carer"]["confusion"].values() for n in row.values()) == 150


def test_a_goemotions_head_is_scored_multi_label_at_its_own_thresholds(headed, data_dir, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(headed, folder)
    model = carl.load(folder)
    rng = np.random.default_rng(0)
    head = EmotionHead(label_set="goemotions", coef=rng.normal(size=(28, 32)), intercept=rng.normal(size=28) - 1,
                       C=1.0, encoder=probe_record(model.encode, None), thresholds=rng.uniform(0.2, 0.8, 28))
    head.save(folder)
    result = run_tasks(str(folder), "emotion-head-goemotions", data_dir, max_eval=120)["emotion-head-goemotions"]
    ctx = EvalData(data_dir=data_dir, seed=0, split_seed=0, max_train=None, max_eval=120)
    rows = ctx.split("goemotions", "test")
    labels = LABEL_SETS["goemotions"]
    gold = np.array([[name in r.labels for name in labels] for r in rows])
    pred = head.predicted(head.predict(model.encode([r.text for r in rows])))
    assert result["label_set"] == "goemotions" and result["n_test"] == 120 and "accuracy" not in result
    assert result["macro_f1"] == pytest.approx(f1_score(gold, pred, average="macro", zero_division=0), abs=1e-6)
    assert result["micro_f1"] == pytest.approx(f1_score(gold, pred, average="micro", zero_division=0), abs=1e-6)
    with pytest.raises(CarlError, match="emotion-head-transfer scores an ekman emotion head.*--emotions ekman"):
        run_tasks(str(folder), "emotion-head-transfer", data_dir, max_eval=20)


def test_refitting_a_head_keeps_the_cached_embeddings(headed, tmp_path):
    from carl.evaluation.embedding_store import model_fingerprint

    folder = tmp_path / "model"
    shutil.copytree(headed, folder)
    before = model_fingerprint(str(folder))
    (folder / "emotion_head.json").write_text((folder / "emotion_head.json").read_text())  # a head refitted
    assert model_fingerprint(str(folder)) == before  # the encoder is the same: its embeddings too
    (folder / "extra.bin").write_bytes(b"x")
    assert model_fingerprint(str(folder)) != before


def test_a_folder_without_a_head_names_carl_fit_heads(export_tiny_model, data_dir):
    folder = export_tiny_model("no-head-eval")
    with pytest.raises(ModelError, match=r"no emotion head \(emotion_head.json\); fit one with `carl fit-heads"):
        run_tasks(str(folder), "emotion-head-goemotions", data_dir, max_eval=20)


def test_nrclex_through_carl_evaluate(carl_in_process, data_dir, tmp_path):
    pytest.importorskip("nrclex")
    out = tmp_path / "nrclex.json"
    run = carl_in_process("evaluate", "nrclex", "--tasks", TASKS, "--output", out, "--max-eval", "100",
                          "--data-dir", data_dir)
    assert run.returncode == 0, run.stderr
    assert "| emotion-head-transfer | carer_macro_f1_restricted |" in run.stdout
    result = json.loads(out.read_text())["runs"][0]["results"]
    scorer = NrcLexEkmanScorer.from_package()
    rows = _rows(data_dir, "tec", 100)
    pred = scorer.predict([r.text for r in rows])
    gold = [r.labels[0] for r in rows]
    assert result["emotion-head-transfer"]["tec_accuracy"] == pytest.approx(np.mean(np.array(gold) == np.array(pred)))
    assert result["emotion-head-goemotions"]["n_test"] == 100 and result["_meta"]["model_path"] == "nrclex"
    lexicon = result["_meta"]["details"]["emotion-head-goemotions"]["lexicon"]
    assert 0 < lexicon["coverage"] <= 1 and lexicon["tie_order"] == list(EKMAN_TIE_ORDER)
    for args, message in [(("--tasks", "carer"), "scores only --tasks emotion-head-goemotions,emotion-head-transfer"),
                          (("--tasks", TASKS, "--plots-dir", tmp_path / "p"), "not --plots-dir")]:
        bad = carl_in_process("evaluate", "nrclex", *args, "--output", tmp_path / "bad.json")
        assert bad.returncode == 2 and message in bad.stderr and "Traceback" not in bad.stderr


def test_lexicon_use_is_checked_before_anything_runs():
    check_lexicon_use(["emotion-head-transfer"])
    with pytest.raises(CarlError, match="not --learning-curve"):
        check_lexicon_use(["emotion-head-transfer"], learning_curve=True)
    with pytest.raises(CarlError, match="without embeddings"):
        NrcLexBaseline.embed(object(), "carer", "test", ["x"])
