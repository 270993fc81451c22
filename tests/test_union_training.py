"""The training union of issue 29: emotion classes unified across corpora, per-corpus caps, and a
discrete-label baseline trained on the same texts as CARL (real corpora, tiny encoder)."""

import collections
import json
import math

import numpy as np
import pytest

from carl.config import CarlConfig
from carl.data import load_corpus
from carl.data.emotion_classes import NO_EMOTION_CLASS, emotion_class_ids, emotion_classes
from carl.data.va_grid import CELLS
from carl.errors import ConfigError, DataError
from carl.training.trainer import capped, load_records, train

UNION = ["emobank", "facebook-va", "goemotions-single", "dailydialog", "tec", "carer"]


def test_capped_is_a_seeded_sample_in_file_order():
    records = list(range(100))
    a, b = capped(records, 10, seed=0), capped(records, 10, seed=0)
    assert a == b and len(a) == 10 and a == sorted(a) and len(set(a)) == 10
    assert capped(records, 10, seed=1) != a
    assert capped(records, 500, seed=0) is records and capped(records, None, seed=0) is records


def test_union_caps_every_corpus_and_keeps_small_ones_whole(data_dir):
    records = load_records(UNION, data_dir, "train", 0, max_per_spec=8000)
    sizes = collections.Counter(r.corpus for r in records)
    assert sizes["facebook-va"] == len(load_corpus("facebook-va", data_dir, ["train"]))  # 2,315 < cap: all of them
    assert {sizes[c] for c in ("emobank", "goemotions-single", "dailydialog", "tec", "carer")} == {8000}
    # DailyDialog's "no emotion" keeps its natural share (about 83 %) inside the sample.
    daily = [r for r in records if r.corpus == "dailydialog"]
    assert 0.78 < sum(r.labels == ("no emotion",) for r in daily) / len(daily) < 0.88


def test_a_mapping_caps_only_the_corpora_it_names(data_dir):
    config = CarlConfig().override({"data.train": "emobank,carer",
                                    "data.max_train_per_corpus": "{carer: 500}"}).validate()
    assert config.data.max_train_per_corpus == {"carer": 500}
    records = load_records(config.data.train, data_dir, "train", 0, max_per_spec=config.data.max_train_per_corpus)
    sizes = collections.Counter(r.corpus for r in records)
    assert sizes["carer"] == 500 and sizes["emobank"] == len(load_corpus("emobank", data_dir, ["train"]))
    assert CarlConfig.from_dict(config.to_dict()).data.max_train_per_corpus == {"carer": 500}  # saved and reloaded


@pytest.mark.parametrize("value, phrase", [
    ("{tec: 500}", "caps 'tec', which is not among the corpora it applies to (emobank, carer)"),
    ("{carer: 0}", "data.max_train_per_corpus.carer must be >= 1"),
    ("{carer: many}", "max_train_per_corpus.carer must be a number"),
    ("[1, 2]", "must be a number"),
])
def test_bad_caps_name_the_setting(value, phrase):
    with pytest.raises(ConfigError) as info:
        CarlConfig().override({"data.train": "emobank,carer", "data.max_train_per_corpus": value}).validate()
    assert phrase in str(info.value)


def test_emotion_classes_unify_names_and_give_rated_texts_their_grid_cell(data_dir):
    train = load_records(UNION, data_dir, "train", 0, max_per_spec=2000)
    dev = load_records(UNION, data_dir, "dev", 0, max_per_spec=300)
    train_c, dev_c = emotion_classes(train, dev)
    assert [r.text for r in train_c] == [r.text for r in train]  # same texts, one class each
    assert all(len(r.labels) == 1 for r in (*train_c, *dev_c))
    by_corpus = collections.defaultdict(set)
    for r in train_c:
        by_corpus[r.corpus].add(r.labels[0])
    assert "no emotion" not in by_corpus["dailydialog"] and "happiness" not in by_corpus["dailydialog"]
    assert {"neutral", "joy"} <= by_corpus["dailydialog"]
    assert by_corpus["tec"] <= by_corpus["goemotions-single"] and by_corpus["carer"] <= by_corpus["goemotions-single"]
    assert by_corpus["emobank"] | by_corpus["facebook-va"] <= set(CELLS)
    # The grid is fitted on the rated texts only, so each valence level holds a sizeable share of
    # them (tertiles; ratings tie on the cuts, so not exactly a third), whereas a grid fitted with
    # the lexicon points of the emotion texts would not.
    rated = [r for r in train_c if r.corpus in ("emobank", "facebook-va")]
    valence_levels = collections.Counter(r.labels[0].split("/")[0] for r in rated)
    assert set(valence_levels) == {"V-low", "V-mid", "V-high"}
    assert all(n / len(rated) > 0.15 for n in valence_levels.values()), valence_levels
    classes = {r.labels[0] for r in train_c}
    assert len(classes) == 28 + 9


def test_emotion_classes_refuse_multi_label_rows(data_dir):
    rows = [r for r in load_corpus("goemotions", data_dir, ["dev"]) if len(r.labels) > 1][:3]
    with pytest.raises(DataError, match="goemotions-single"):
        emotion_classes(rows, [])


@pytest.mark.slow
def test_emotion_class_baseline_trains_on_the_union(tiny_encoder, data_dir, tmp_path):
    cfg = CarlConfig().override({
        "data.train": UNION, "data.data_dir": str(data_dir), "data.max_length": 24,
        "data.max_train_per_corpus": 64, "data.max_dev_per_corpus": 16, "data.discrete_labels": "emotion",
        "objective.name": "supervised", "model.name_or_path": str(tiny_encoder),
        "train.batch_size": 16, "train.max_steps": 3, "train.eval_every": 3, "train.save_every": 3,
        "train.output_dir": str(tmp_path)})
    result = train(cfg, progress=False)
    assert result.steps == 3
    start = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
    assert start["train_texts"] == 5 * 64 + 64  # Facebook-VA too is capped at 64
    assert start["dev_texts"] == 6 * 16
    assert np.isfinite(result.best_dev)


def test_emotion_class_ids_leave_rated_texts_out(data_dir):
    train = load_records(UNION, data_dir, "train", 0, max_per_spec=200)
    ids, names = emotion_class_ids(train)
    assert len(ids) == len(train) and names == sorted(names)
    rated = np.array([r.corpus in ("emobank", "facebook-va") for r in train])
    assert (ids[rated] == NO_EMOTION_CLASS).all() and (ids[~rated] >= 0).all()
    assert "no emotion" not in names and "neutral" in names and len(names) <= 28  # GoEmotions: 27 + neutral
    first_tec = next(i for i, r in enumerate(train) if r.corpus == "tec")
    assert names[ids[first_tec]] == emotion_classes([train[first_tec]], [])[0][0].labels[0]
    with pytest.raises(DataError, match="emotion_weight=0"):
        emotion_class_ids([r for r in train if r.corpus == "emobank"])


@pytest.mark.slow
def test_hybrid_trains_mccl_plus_the_emotion_term_on_the_union(tiny_encoder, data_dir, tmp_path):
    from carl.config import RECIPES

    def run(weight, out):
        cfg = CarlConfig().override({
            **RECIPES["carl-plus-queue"], "mccl.queue_size": 32, "objective.emotion_weight": weight,
            "data.train": UNION, "data.data_dir": str(data_dir), "data.max_length": 24,
            "data.max_train_per_corpus": 64, "data.max_dev_per_corpus": 16,
            "model.name_or_path": str(tiny_encoder), "train.batch_size": 16, "train.max_steps": 3,
            "train.eval_every": 3, "train.save_every": 3, "train.log_every": 1, "train.output_dir": str(out)})
        assert train(cfg, progress=False).steps == 3
        return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if '"loss"' in line]

    plain, hybrid = run(0.0, tmp_path / "plain"), run(1.0, tmp_path / "hybrid")
    # Same seed, batches and weights: the first step's MCCL is identical, and the hybrid's total adds
    # the emotion cross-entropy (about ln 28 for an untrained classifier) on top of 0.8 x MCCL.
    assert math.isclose(plain[0]["loss_mccl"], hybrid[0]["loss_mccl"], rel_tol=1e-5)
    assert math.isclose(plain[0]["loss"], 0.8 * plain[0]["loss_mccl"], rel_tol=1e-5)
    assert 1.5 < hybrid[0]["loss"] - 0.8 * hybrid[0]["loss_mccl"] < 6.0
