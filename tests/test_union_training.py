"""The training union of issue 29: emotion classes unified across corpora, per-corpus caps, and a
discrete-label baseline trained on the same texts as CARL (real corpora, tiny encoder)."""

import collections
import json

import numpy as np
import pytest

from carl.config import CarlConfig
from carl.data import load_corpus
from carl.data.emotion_classes import emotion_classes
from carl.data.va_grid import CELLS
from carl.errors import DataError
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
