"""scripts/setfit_union.py (issue 38, part 1): SetFit's training texts are the union study's texts with an
emotion label, and its drawn pairs follow SetFit's pair rule. SetFit itself is not installed in carl's
environment (scripts/setfit_env.sh puts it beside it), so only the script's own parts are tested here."""

from __future__ import annotations

import collections

import pytest

from script_loading import load_script

S = load_script("setfit_union")


def test_pairs_are_half_positive_half_negative_interleaved_and_seeded():
    texts = [f"t{i}" for i in range(60)]
    labels = [i % 3 for i in range(50)] + [3] * 10
    pairs = S.sampled_pairs(texts, labels, 1000, seed=0)
    assert len(pairs) == 1000 and [p["label"] for p in pairs[:4]] == [1.0, 0.0, 1.0, 0.0]
    label_of = dict(zip(texts, labels))
    for pair in pairs:
        same = label_of[pair["sentence_1"]] == label_of[pair["sentence_2"]]
        assert same == (pair["label"] == 1.0)
    assert pairs == S.sampled_pairs(texts, labels, 1000, seed=0) != S.sampled_pairs(texts, labels, 1000, seed=1)
    # positive pairs come from each class in proportion to its number of pairs, n(n+1)/2
    by_class = collections.Counter(label_of[p["sentence_1"]] for p in pairs if p["label"] == 1.0)
    assert by_class[3] < by_class[0]


@pytest.mark.parametrize("with_cells", [False, True])
def test_union_texts_are_the_union_studys(data_dir, with_cells):
    texts, labels, facts = S.union_texts(data_dir, 0, 8000, with_va_cells=with_cells)
    assert facts["union_texts_per_corpus"] == {"emobank": 8000, "facebook-va": 2317, "goemotions-single": 8000,
                                               "dailydialog": 8000, "tec": 8000, "carer": 8000}
    if with_cells:
        assert len(texts) == 42317 and len(set(labels)) == 28 + 9
    else:
        assert len(texts) == 32000 and set(facts["texts_per_corpus"]) == {"goemotions-single", "dailydialog", "tec",
                                                                           "carer"}
        assert len(set(labels)) == 28 and "no emotion" not in labels and "happiness" not in labels
    assert len(labels) == len(texts) and sum(facts["classes"].values()) == len(texts)
    few, few_labels, _ = S.union_texts(data_dir, 0, 8000, with_va_cells=with_cells, max_texts=200)
    assert len(few) == len(few_labels) == 200 and set(few) <= set(texts)  # a validation run's seeded sample


def test_a_finished_run_is_evaluated_as_a_grid_row_with_the_presets_probes(tmp_path, monkeypatch):
    """--evaluate-into scores a trained SetFit body exactly as the grid scores its own rows: the preset's
    probe settings, GRID/evals/setfit/seedS.json, the run's settings in the record."""
    run = tmp_path / "runs" / "setfit" / "seed2"
    (run / "model").mkdir(parents=True)
    (run / "summary.json").write_text('{"seconds": 12.5, "steps": 1000, "setfit": {"learning_rate": 0.0001}}')
    calls = []
    monkeypatch.setattr(S, "evaluate_job", lambda *args: calls.append(args))
    monkeypatch.setattr(S, "import_setfit", lambda site: pytest.fail("a trained run needs no setfit"))
    S.main(["--output-dir", str(run), "--seed", "2", "--evaluate-into", str(tmp_path), "--data-dir", "DATA"])
    (model, path, preset, data_dir, split_seed, info), = calls
    assert model == str(run / "model") and path == tmp_path / "evals" / "setfit" / "seed2.json"
    assert preset is S.PRESETS["cpu-union-labels"] and (data_dir, split_seed) == ("DATA", 0)
    assert info["variant"] == "setfit" and info["seed"] == 2 and info["train_seconds"] == 12.5
    assert info["best_step"] == 1000 and info["setfit"] == {"learning_rate": 0.0001}
    (run / "summary.json").write_text('{"seconds": 1, "steps": 1000, "setfit": {"seed": 1}}')
    with pytest.raises(SystemExit, match="trained with seed 1, not --seed 2; give --seed 1"):
        S.main(["--output-dir", str(run), "--seed", "2", "--evaluate-into", str(tmp_path)])
    with pytest.raises(SystemExit, match="holds a finished run"):
        S.main(["--output-dir", str(run)])
    with pytest.raises(SystemExit):
        S.main(["--output-dir", str(run), "--evaluate-into", str(tmp_path), "--preset", "no-such"])
