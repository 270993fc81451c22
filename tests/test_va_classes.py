"""The circumplex checks of a V-A head on texts of known emotion (carl.evaluation.va_classes)."""

import math

import numpy as np
import pytest

from carl.errors import CarlError
from carl.evaluation.va_classes import arousal_auc, class_means, plot_class_means, separation_metrics, valence_auc


def test_arousal_auc_is_the_share_of_aroused_sadness_pairs_ranked_right():
    labels = ["anger", "fear", "sadness", "sadness", "joy"]
    # anger 0.9 beats both sadness texts; fear 0.4 beats 0.3, loses to 0.5 -> 3 of 4 pairs right; joy ignored.
    arousal = [0.9, 0.4, 0.3, 0.5, 0.0]
    assert arousal_auc(arousal, labels) == pytest.approx(0.75)


def test_ties_count_half_and_labels_are_unified():
    # DailyDialog's "happiness" is joy; one tie of two pairs.
    assert valence_auc([0.6, 0.6, 0.2], ["happiness", "anger", "sadness"]) == pytest.approx(0.75)


def test_auc_is_nan_when_a_side_is_missing():
    assert math.isnan(arousal_auc([0.1, 0.2], ["anger", "fear"]))
    assert math.isnan(valence_auc([0.1, 0.2], ["joy", "surprise"]))


def test_perfect_and_reversed_orderings():
    labels = ["sadness"] * 3 + ["anger"] * 3
    assert arousal_auc(np.arange(6), labels) == 1.0
    assert arousal_auc(-np.arange(6), labels) == 0.0


def test_separation_metrics_counts_and_class_means():
    va = np.array([[0.9, 0.8], [0.1, 0.9], [0.2, 0.2], [0.3, 0.4]])
    labels = ["joy", "anger", "sadness", "sadness"]
    m = separation_metrics(va, labels)
    assert (m["n_aroused"], m["n_low_arousal"], m["n_positive"], m["n"]) == (1, 2, 1, 4)
    assert m["arousal_auc"] == 1.0 and m["valence_auc"] == 1.0
    means = class_means(va, labels)
    assert list(means) == ["anger", "joy", "sadness"]
    assert means["sadness"] == {"valence": pytest.approx(0.25), "arousal": pytest.approx(0.3), "n": 2}


def test_class_means_refuses_mismatched_shapes():
    with pytest.raises(CarlError, match=r"\(N, 2\)"):
        class_means(np.zeros((3, 2)), ["joy"])


def test_plot_class_means_writes_a_png(tmp_path):
    means = {"model": {"carer": {"joy": {"valence": 0.8, "arousal": 0.6, "n": 3},
                                 "sadness": {"valence": 0.2, "arousal": 0.3, "n": 2}}}}
    out = plot_class_means(means, tmp_path / "p.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(CarlError):
        plot_class_means({}, tmp_path / "q.png")


def test_plot_class_means_keeps_the_axis_label_inside_the_picture(tmp_path):
    """With one panel, the y label ("mean predicted arousal") was drawn half off the left edge of the PNG."""
    import matplotlib.image

    means = {"hybrid-w1": {"carer": {"joy": {"valence": 0.8, "arousal": 0.6, "n": 3},
                                     "sadness": {"valence": 0.2, "arousal": 0.3, "n": 2}},
                           "goemotions-ekman": {"joy": {"valence": 0.7, "arousal": 0.5, "n": 3}}}}  # a wide legend
    grey = matplotlib.image.imread(plot_class_means(means, tmp_path / "one.png"))[..., :3].mean(axis=-1)
    for edge in (grey[:, :4], grey[:, -4:], grey[:4], grey[-4:]):  # a white margin on every side
        assert (edge < 0.5).sum() == 0
    assert (grey[:, : grey.shape[1] // 10] < 0.5).sum() > 100  # the label itself is there, near the left


@pytest.fixture(scope="module")
def headed_tiny(export_tiny_model, data_dir):
    from carl.evaluation.head_fitting import train_va_head

    folder = export_tiny_model("va-classes")
    head = train_va_head(folder, data_dir, max_train=300, class_corpora=("carer", "goemotions-ekman"),
                         max_class_train=300, max_class_dev=200)
    return folder, head


def test_the_head_records_its_class_texts_and_dev_choice(headed_tiny):
    _, head = headed_tiny
    assert set(head.info["class_corpora"]) == {"carer", "goemotions-ekman"}
    assert set(head.info["class_dev"]) == {"carer", "goemotions-ekman"}
    assert head.info["class_weight"] in {c["class_weight"] for c in head.info["candidates"]}
    assert {"arousal_auc", "valence_auc"} <= set(head.metrics["dev_auc"]["carer"])


def test_evaluate_scores_the_folders_own_head_on_class_texts(headed_tiny, data_dir):
    from carl.evaluation.tasks import run_tasks
    from carl.inference.heads.va import VAHead

    folder, head = headed_tiny
    out = run_tasks(str(folder), "va-head-carer,va-head-dailydialog", data_dir, max_eval=300)
    for task in ("va-head-carer", "va-head-dailydialog"):
        m = out[task]
        assert 0.0 <= m["arousal_auc"] <= 1.0 and 0.0 <= m["valence_auc"] <= 1.0
        assert m["n"] == 300 and m["n_aroused"] > 0 and m["n_low_arousal"] > 0
    means = out["_meta"]["details"]["va-head-carer"]["class_means"]
    assert "joy" in means and "love" in means  # CARER's own classes, mean V-A each
    # The metric is the saved head's: recomputing it from the head and the texts gives the same number.
    from carl.data import load_corpus
    from carl.evaluation.tasks import single_label, subsample
    from carl.inference import load

    rows = [r for r in load_corpus("carer", data_dir, ["test"]) if r.split == "test" and len(r.labels) == 1]
    rows = subsample(rows, 300, 0, stream=("carer", "test"), stratify=single_label)
    va = VAHead.load(folder).predict(load(folder).encode([r.text for r in rows]))
    assert arousal_auc(va[:, 1], [r.labels[0] for r in rows]) == pytest.approx(out["va-head-carer"]["arousal_auc"], abs=1e-6)


def test_a_folder_without_a_head_names_the_command(export_tiny_model, data_dir):
    from carl.errors import ModelError
    from carl.evaluation.tasks import run_tasks

    bare = export_tiny_model("no-head")
    with pytest.raises(ModelError, match="carl.va_head"):
        run_tasks(str(bare), "va-head-tec", data_dir, max_eval=50)


def test_head_tasks_are_named_only():
    from carl.evaluation.task_specs import known_tasks, named_only_tasks

    assert "va-head-carer" in named_only_tasks() and "va-head-carer" not in known_tasks()
