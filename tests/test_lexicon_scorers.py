"""The zero-shot lexicon baselines (VADER compound, NRC-VAD word means) and
scripts/lexicon_vs_carl.py end to end on EmoBank and Facebook-VA with tiny trainings."""

import json
import pathlib

import numpy as np
import pytest
from scipy.stats import pearsonr

from carl.evaluation.lexicon_scorers import NEUTRAL, NrcVadScorer, VaderScorer, nrc_tokens

from script_loading import load_script

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def nrc(data_dir):
    return NrcVadScorer.from_data_dir(data_dir)


def lexicon_file_values(data_dir, words):
    """The lexicon's own lines for ``words``, read here without carl's reader."""
    out = {}
    for line in (data_dir / "nrc-vad" / "NRC-VAD-Lexicon.txt").read_text(encoding="utf-8").splitlines()[1:]:
        word, valence, arousal, _ = line.split("\t")
        if word in words:
            out[word] = (float(valence), float(arousal))
    return out


def test_vader_orders_positive_above_neutral_above_negative():
    scores = VaderScorer().score(["What a wonderful, happy day!", "The report has four pages.",
                                  "This is a horrible, miserable failure.", "The food was not good."])
    compound = scores.values[:, 0]
    assert scores.values.shape == (4, 1)
    assert compound[0] > 0.5 and compound[2] < -0.5 and compound[1] == 0.0
    assert compound[3] < 0  # VADER's negation rule: "not good" is negative
    assert list(scores.matched[:3] > 0) == [True, False, True]


def test_nrc_means_equal_hand_computed_means(nrc, data_dir):
    sentence = "The Mother's joy turned to ANGER, then sadness!"
    assert nrc_tokens(sentence) == ["the", "mother's", "joy", "turned", "to", "anger", "then", "sadness"]
    values = lexicon_file_values(data_dir, {"mother", "joy", "turned", "anger", "sadness", "the", "to", "then"})
    matched = [w for w in ("mother", "joy", "turned", "anger", "sadness", "the", "to", "then") if w in values]
    assert {"mother", "joy", "anger", "sadness"} <= set(matched)  # "mother's" is found through its stem
    expected = np.mean([values[w] for w in matched], axis=0)
    scores = nrc.score([sentence, "42 !!! ???", "joy joy sadness"])
    np.testing.assert_allclose(scores.values[0], expected, atol=1e-12)
    assert scores.matched[0] == len(matched)
    assert tuple(scores.values[1]) == (NEUTRAL, NEUTRAL) and scores.matched[1] == 0  # no lexicon word
    joy, sadness = values["joy"], values["sadness"]
    np.testing.assert_allclose(scores.values[2], [(2 * joy[0] + sadness[0]) / 3, (2 * joy[1] + sadness[1]) / 3])
    assert scores.coverage == pytest.approx(2 / 3)


def test_nrc_valence_tracks_emobank_test_ratings(nrc, data_dir):
    from carl.data import load_corpus

    test = load_corpus("emobank", data_dir, ["test"])
    scores = nrc.score(r.text for r in test)
    r_valence = pearsonr(scores.values[:, 0], [r.valence for r in test])[0]
    assert len(test) == 1000 and scores.coverage > 0.9
    assert 0.3 < r_valence < 0.6  # a real but modest signal: the baseline carl must beat


@pytest.mark.slow
def test_report_script_end_to_end(tiny_encoder, data_dir, tmp_path, monkeypatch, capsys):
    """Both CARL recipes trained for 2 steps (tiny encoder), heads fitted on 64 texts per corpus,
    scored on 64 test texts each. A training stopped after its first step (a checkpoint) is
    continued by the next run; a run after that reuses the trainings and the embeddings."""
    from carl.errors import CarlError

    import csv

    from carl.data import load_corpus

    script = load_script("lexicon_vs_carl")
    monkeypatch.chdir(tmp_path)
    # The trainings' own checkpoint signal on 40 EmoBank dev texts instead of 1,288 (CPU budget).
    with open("dev.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("text", "valence", "arousal")] + [
            (r.text, r.valence, r.arousal) for r in load_corpus("emobank", data_dir, ["dev"])[:40]])
    args = ["--max-steps", "2", "--max-train", "64", "--max-eval", "64", "--data-dir", str(data_dir),
            "--run-dir", "runs/lvc", "--output-dir", "out", "--frozen", str(tiny_encoder),
            "--set", f"model.name_or_path={tiny_encoder}", "--set", "train.batch_size=8", "--set", "data.max_length=32",
            "--set", "data.dev=[dev.csv:text=text,valence=valence,arousal=arousal]"]
    with pytest.raises(CarlError, match="paper: training stopped at step 1; re-run to continue"):
        script.run(args + ["--set", "train.stop_after=1"])
    assert not (tmp_path / "out").exists()
    capsys.readouterr()
    report = script.run(args)
    assert "paper: continuing training" in capsys.readouterr().err
    assert report["sizes"] == {c: {"train": 64, "dev": 64, "test": 64} for c in ("emobank", "facebook-va")}
    assert list(report["encoders"]) == [f"frozen .../{tiny_encoder.parent.name}/{tiny_encoder.name}", "CARL (paper)",
                                        "CARL+ queue"]
    for name, info in report["encoders"].items():
        for head, corpora in (("both", ["emobank", "facebook-va"]), ("emobank", ["emobank"]),
                              ("facebook-va", ["facebook-va"])):
            fitted = info["heads"][head]
            assert fitted["trained_on"] == corpora and fitted["alpha"] in (0.01, 0.1, 1, 10, 100)
            for corpus in ("emobank", "facebook-va"):
                for dim in ("valence", "arousal"):
                    stat = fitted["test"][corpus][dim]
                    assert stat["n"] == 64 and -1 <= stat["r"] <= 1 and stat["ci95"][0] < stat["r"] < stat["ci95"][1]
    assert report["encoders"]["CARL (paper)"]["steps"] == 2
    # The lexicon rows are the scorers' own Pearson r on the same 64 test texts.
    from carl.evaluation.tasks import subsample

    test = subsample([r for r in load_corpus("facebook-va", data_dir, ["test"])], 64, 0, stream=("facebook-va", "test"))
    nrc = NrcVadScorer.from_data_dir(data_dir).score([r.text for r in test]).values
    assert report["lexicons"]["nrc-vad"]["test"]["facebook-va"]["arousal"]["r"] == pytest.approx(
        pearsonr(nrc[:, 1], [r.arousal for r in test])[0], abs=1e-12)
    assert "arousal" not in report["lexicons"]["vader"]["test"]["emobank"]
    # Differences to the better lexicon of each cell are the tables' own r minus the lexicon's r.
    queue, lexicons = report["encoders"]["CARL+ queue"]["heads"], report["lexicons"]
    better_v = max(("vader", "nrc-vad"), key=lambda k: lexicons[k]["test"]["emobank"]["valence"]["r"])
    cell = report["differences_to_best_lexicon"]["CARL+ queue"]["cross-corpus"]["emobank"]["valence"]
    assert cell["lexicon"] == lexicons[better_v]["name"]
    assert cell["delta"] == pytest.approx(queue["facebook-va"]["test"]["emobank"]["valence"]["r"]
                                          - lexicons[better_v]["test"]["emobank"]["valence"]["r"], abs=1e-9)
    cell = report["differences_to_best_lexicon"]["CARL+ queue"]["shipped"]["facebook-va"]["arousal"]
    assert cell["lexicon"] == "NRC-VAD word means" and cell["ci95"][0] < cell["ci95"][1]
    assert cell["delta"] == pytest.approx(queue["both"]["test"]["facebook-va"]["arousal"]["r"]
                                          - lexicons["nrc-vad"]["test"]["facebook-va"]["arousal"]["r"], abs=1e-9)
    md = (tmp_path / "out" / "lexicon_vs_carl.md").read_text()
    saved = (tmp_path / "out" / "lexicon_vs_carl.json").read_text()
    assert "**Smoke run, not results**: max_train=64, max_eval=64, max_steps=2 (preset: 600)" in md
    assert "| VADER compound | nothing (zero-shot) |" in md and "| CARL+ queue + V-A head |" in md
    assert "## Cross-corpus" in md and "## Difference to the best lexicon" in md and json.loads(saved)["machine"] in md
    assert str(tmp_path) not in saved + md and str(tiny_encoder) not in saved + md  # no absolute paths
    summary = tmp_path / "runs" / "lvc" / "paper" / "summary.json"
    trained_at = summary.stat().st_mtime_ns
    capsys.readouterr()
    again = script.run(args)
    assert "paper: finished training found" in capsys.readouterr().err
    assert summary.stat().st_mtime_ns == trained_at
    assert again["encoders"]["CARL+ queue"]["heads"] == report["encoders"]["CARL+ queue"]["heads"]
