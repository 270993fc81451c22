"""semeval-headlines (issue 38, part 5): the SemEval-2007 headlines that EmoBank rated, with both kinds of
human label on the same texts; its two evaluation tasks and the cpu-headlines preset (real files)."""

from __future__ import annotations

import collections
import json

import numpy as np
import pytest

from carl import reproduce as rp
from carl.data import load_corpus
from carl.data.emotion_classes import emotion_classes
from carl.data.semeval import EMOTIONS, dominant_emotion, headline_splits, join_headlines, read_headlines
from carl.errors import CarlError, DataError
from carl.evaluation import task_specs as T


@pytest.fixture(scope="module")
def headlines(data_dir):
    return load_corpus("semeval-headlines", data_dir, seed=0)


@pytest.fixture(scope="module")
def emobank(data_dir):
    return {r.id: r for r in load_corpus("emobank", data_dir)}


def test_join_counts(data_dir):
    records, join = join_headlines(data_dir)
    assert (join.headlines, join.rated, len(join.no_emobank)) == (1250, 1192, 58)
    # of the 1,192 rated headlines: 29 have a tied highest intensity, 4 have every intensity 0
    assert (len(join.tied), len(join.all_zero), join.kept) == (29, 4, 1159) == (29, 4, len(records))
    assert join.by_semeval_split == {"trial": 225, "test": 934}
    assert 655 in join.no_emobank and 9 in join.no_emobank  # the data README's list
    assert not set(join.tied) & set(join.all_zero)


def test_every_record_has_both_label_kinds_from_emobank_and_semeval(headlines, emobank):
    assert len(headlines) == 1159 and len({r.id for r in headlines}) == 1159
    for r in headlines:
        assert r.corpus == "semeval-headlines" and r.id.startswith("SemEval_")
        rated = emobank[r.id]  # V-A exactly as the emobank corpus normalises them
        assert (r.valence, r.arousal) == (rated.valence, rated.arousal)
        assert r.text == " ".join(rated.text.split())
        assert len(r.labels) == 1 and r.labels[0] in EMOTIONS
    counts = collections.Counter(r.labels[0] for r in headlines)
    assert counts == {"joy": 418, "sadness": 251, "surprise": 205, "fear": 170, "anger": 76, "disgust": 39}


def test_first_trial_headline(headlines):
    # trial id 1 "Mortar assault leaves at least 18 dead": 22 2 60 0 64 0 -> sadness; EmoBank V 2.29 A 3.29
    first = next(r for r in headlines if r.id == "SemEval_1")
    assert first.text == "Mortar assault leaves at least 18 dead" and first.labels == ("sadness",)
    assert first.valence == pytest.approx((2.29 - 1.2) / (4.6 - 1.2)) and first.arousal == pytest.approx((3.29 - 1.8) / 2.6)


def test_dominant_emotion_rule():
    assert dominant_emotion([22, 2, 60, 0, 64, 0]) == "sadness"
    assert dominant_emotion([0, 0, 0, 0, 0, 0]) is None
    assert dominant_emotion([0, 0, 40, 0, 40, 3]) is None  # tie: no dominant emotion
    assert dominant_emotion([0, 0, 0, 0, 0, 1]) == "surprise"  # the argmax, whatever its intensity


def test_bare_ampersand_line_reads(data_dir):
    test = read_headlines(data_dir / "semeval2007-affective" / "affectivetext_test.xml")
    assert len(test) == 1000 and test[1233] == "'Cagney & Lacey' finally coming to DVD"
    assert "\t" in test[528]


def test_split_is_seeded_stratified_disjoint_and_not_emobanks(headlines, data_dir, emobank):
    sizes = collections.Counter(r.split for r in headlines)
    assert sizes == {"train": 930, "dev": 115, "test": 114}
    again = load_corpus("semeval-headlines", data_dir, seed=0)
    assert [r.split for r in again] == [r.split for r in headlines]
    other = load_corpus("semeval-headlines", data_dir, seed=1)
    assert [r.split for r in other] != [r.split for r in headlines]
    texts = {s: {r.text for r in headlines if r.split == s} for s in ("train", "dev", "test")}
    assert not texts["train"] & texts["dev"] and not texts["train"] & texts["test"] and not texts["dev"] & texts["test"]
    for emotion in EMOTIONS:  # every emotion in dev and test (disgust: 39 headlines, 4 + 4)
        assert all(any(r.labels == (emotion,) for r in headlines if r.split == s) for s in ("dev", "test")), emotion
    # not EmoBank's split: its test set holds 118 of these headlines, its train set 956
    crossed = collections.Counter((r.split, emobank[r.id].split) for r in headlines)
    assert sum(n for (_, eb), n in crossed.items() if eb == "test") == 115
    assert crossed[("test", "train")] > 0 and crossed[("train", "test")] > 0


def test_identical_headlines_share_a_split(headlines):
    by_text = collections.defaultdict(set)
    for r in headlines:
        by_text[r.text].add(r.split)
    repeated = [t for t in by_text if sum(r.text == t for r in headlines) > 1]
    assert len(repeated) == 21 and all(len(by_text[t]) == 1 for t in repeated)
    assert headline_splits(headlines, 0) == [r.split for r in headlines]


def test_emotion_classes_keep_the_dominant_emotion(headlines):
    """The preset's class rows train with data.discrete_labels=emotion: on these texts that is the
    dominant emotion itself (no headline lacks one, so none gets a V-A grid cell)."""
    train = [r for r in headlines if r.split == "train"]
    dev = [r for r in headlines if r.split == "dev"]
    train_c, dev_c = emotion_classes(train, dev)
    assert [r.labels for r in train_c] == [r.labels for r in train] and [r.labels for r in dev_c] == [r.labels for r in dev]


def test_missing_semeval_file_says_how_to_obtain_it(tmp_path, data_dir):
    (tmp_path / "emobank").mkdir()
    (tmp_path / "emobank" / "corpus_emobank.csv").symlink_to(data_dir / "emobank" / "corpus_emobank.csv")
    with pytest.raises(DataError, match="semeval-headlines") as err:
        load_corpus("semeval-headlines", tmp_path)
    assert "nakamura41" in str(err.value)


def test_mismatched_ids_are_an_error(tmp_path, data_dir):
    source = data_dir / "semeval2007-affective"
    (tmp_path / "semeval2007-affective").mkdir()
    (tmp_path / "emobank").mkdir()
    (tmp_path / "emobank" / "corpus_emobank.csv").symlink_to(data_dir / "emobank" / "corpus_emobank.csv")
    for name in ("trial.xml", "test.xml", "test.emotions.gold"):
        (tmp_path / "semeval2007-affective" / f"affectivetext_{name}").symlink_to(source / f"affectivetext_{name}")
    gold = (source / "affectivetext_trial.emotions.gold").read_text().splitlines()
    (tmp_path / "semeval2007-affective" / "affectivetext_trial.emotions.gold").write_text("\n".join(gold[1:]) + "\n")
    with pytest.raises(DataError, match="differ in ids"):
        load_corpus("semeval-headlines", tmp_path)


# ------------------------------------------------------------------ tasks


def test_headline_tasks_are_named_only():
    headlines = [t for t in T.named_only_tasks() if t.startswith("semeval-")]  # sentiment140 is named-only too
    assert headlines == ["semeval-headlines-va", "semeval-headlines-emotion"]
    assert not set(T.named_only_tasks()) & set(T.known_tasks())
    assert T.resolve_task_names("all") == T.known_tasks()
    assert T.resolve_task_names("semeval-headlines-emotion,emobank,semeval-headlines-va") == [
        "emobank", "semeval-headlines-va", "semeval-headlines-emotion"]
    assert T.resolve_task_names("all,semeval-headlines-va") == [*T.known_tasks(), "semeval-headlines-va"]
    with pytest.raises(CarlError, match="semeval-headlines-emotion"):
        T.resolve_task_names("semeval-headlines")
    assert {T.TASKS[t].corpus for t in headlines} == {"semeval-headlines"}


def test_headline_tasks_score_the_same_held_out_texts(export_tiny_model, data_dir):
    from carl.evaluation.tasks import run_tasks

    result = run_tasks(str(export_tiny_model("semeval-eval")), "semeval-headlines-va,semeval-headlines-emotion",
                       data_dir, seed=0)
    va, emotion = result["semeval-headlines-va"], result["semeval-headlines-emotion"]
    assert (va["n_train"], va["n_dev"], va["n_test"]) == (930, 115, 114)
    assert (emotion["n_train"], emotion["n_dev"], emotion["n_test"]) == (930, 115, 114)
    assert emotion["n_classes"] == 6
    assert -1 <= va["pearson_mean"] <= 1 and 0 <= emotion["macro_f1"] <= 1 and 0 <= emotion["accuracy"] <= 1
    dev_only = run_tasks(str(export_tiny_model("semeval-dev")), "semeval-headlines-va,semeval-headlines-emotion",
                         data_dir, seed=0, dev_only=True)
    assert "n_test" not in dev_only["semeval-headlines-emotion"]


# ------------------------------------------------------------------ the cpu-headlines preset


def test_preset_changes_one_thing_at_a_time(tmp_path):
    preset = rp.PRESETS["cpu-headlines"]
    _, jobs = rp.plan(preset, tmp_path, seeds=[0])
    configs = {j.variant.name: j.config for j in jobs}
    assert list(configs) == ["carl-plus-queue", "supcon-emotion", "va-regression", "supervised-ce-emotion"]
    assert preset.seeds == (0, 1, 2) and not set(T.resolve_task_names(preset.tasks)) & {"emobank", "geometry"}
    for cfg in configs.values():
        assert cfg.data.train == ["semeval-headlines"] and cfg.train.learning_rate == 1e-4
        assert (cfg.train.max_steps, cfg.train.batch_size, cfg.data.max_length) == (300, 32, 64)
        assert cfg.train.eval_every >= cfg.train.max_steps  # the last step is the model of every run
    assert configs["supcon-emotion"].objective.name == "supcon"
    assert configs["supervised-ce-emotion"].objective.name == "supervised"
    assert configs["va-regression"].objective.name == "regression"
    assert {c.data.discrete_labels for n, c in configs.items() if "emotion" in n} == {"emotion"}
    assert configs["carl-plus-queue"].mccl.queue_size == 256


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["carl-plus-queue", "supervised-ce-emotion"])
def test_each_label_kind_trains_on_the_headlines(variant, tiny_encoder, data_dir, tmp_path):
    _, (job,) = rp.plan(rp.PRESETS["cpu-headlines"], tmp_path, variants=[variant], seeds=[0], model=str(tiny_encoder),
                        data_dir=str(data_dir), extra={"train.max_steps": 3, "train.eval_every": 3,
                                                       "train.save_every": 3, "train.batch_size": 16,
                                                       "mccl.queue_size": 32 if variant.startswith("carl") else 0})
    rp.train_job(job)
    rows = [json.loads(line) for line in (job.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["train_texts"] == 930 and rows[0]["dev_texts"] == 115
    summary = json.loads((job.run_dir / "summary.json").read_text())
    assert summary["steps"] == 3 and summary["best_step"] == 3
    assert np.isfinite([r["loss"] for r in rows if "loss" in r]).all()
    assert (job.run_dir / "model" / "modules.json").is_file()
