"""The `carl` command as a user runs it: real processes, real exit codes, real files."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml


def carl(*args, cwd=None, timeout=300):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "carl.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout)


@pytest.fixture(scope="module")
def trained(tiny_encoder, data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli-run")
    done = carl("train", "--data", "emobank,facebook-va", "--model", tiny_encoder, "--max-steps", 2,
                "--batch-size", 8, "--seed", 1, "--output-dir", out, "--data-dir", data_dir,
                "--set", "train.eval_every=2", "--set", "model.projection_hidden=32", "--set", "data.max_length=24",
                "--no-emotion-head")
    assert done.returncode == 0, done.stderr[-2000:]
    return out, done


def test_train_command_applies_overrides_and_reports(trained):
    out, done = trained
    assert "model:" in done.stdout and "2 steps" in done.stdout
    config = (out / "config.yaml").read_text()
    assert "seed: 1" in config and "facebook-va" in config and "projection_hidden: 32" in config
    assert (out / "model" / "modules.json").is_file()
    assert not (out / "model" / "emotion_head.json").exists()  # --no-emotion-head skips it


def test_embed_writes_npy_and_jsonl_in_input_order(trained, tmp_path):
    out, _ = trained
    texts = tmp_path / "texts.txt"
    texts.write_text("I won\nI lost\nI won\n")
    npy = tmp_path / "e.npy"
    done = carl("embed", out / "model", "--input", texts, "--output", npy)
    assert done.returncode == 0, done.stderr
    vectors = np.load(npy)
    assert vectors.shape == (3, 32) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors[0], vectors[2], atol=1e-6)
    assert not np.allclose(vectors[0], vectors[1])
    jsonl = tmp_path / "e.jsonl"
    table = tmp_path / "t.csv"
    table.write_text('id,body\n1,"I won"\n2,"I lost"\n')
    assert carl("embed", out / "model", "--input", table, "--text-column", "body", "--output", jsonl).returncode == 0
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["text"] for r in rows] == ["I won", "I lost"]
    np.testing.assert_allclose(rows[0]["embedding"], vectors[0], atol=1e-5)


@pytest.mark.parametrize("args, expected", [
    (["train", "--model", "/nonexistent/model", "--max-steps", "1"], "does not exist"),
    (["train", "--set", "train.nonsense=1"], "unknown setting 'train.nonsense'"),
    (["train", "--set", "ptd.top_fraction=2"], "top_fraction"),
    (["train", "--data", "no-such-corpus", "--max-steps", "1"], "no-such-corpus"),
    (["train", "--recipe", "no-such-recipe", "--max-steps", "1"], "unknown recipe 'no-such-recipe'; recipes: paper, carl-plus, carl-plus-queue"),
])
def test_user_errors_exit_2_with_a_message_not_a_traceback(args, expected, data_dir):
    done = carl(*args, "--data-dir", data_dir)
    assert done.returncode == 2, done.stderr[-2000:]
    assert expected in done.stderr
    assert "Traceback" not in done.stderr


def test_embed_bad_input_names_the_line_and_leaves_no_output(trained, tmp_path):
    out, _ = trained
    texts = tmp_path / "bad.txt"
    texts.write_text("fine\n   \nalso fine\n")
    target = tmp_path / "never.npy"
    done = carl("embed", out / "model", "--input", texts, "--output", target)
    assert done.returncode == 2
    assert "line 2" in done.stderr and "empty text" in done.stderr
    assert not target.exists()
    assert carl("embed", tmp_path, "--input", texts, "--output", target).returncode == 2


def test_data_list_shows_presence(data_dir):
    done = carl("data", "list", "--data-dir", data_dir)
    assert done.returncode == 0
    status = {line.split()[1]: line.split()[0] for line in done.stdout.splitlines()[1:]}
    assert status["emobank"] == "present" and status["goemotions"] == "present"
    assert status["iemocap"] == "missing"


def test_on_bad_row_skip_is_opt_in_counted_and_reported(tiny_encoder, data_dir, tmp_path):
    table = tmp_path / "mine.csv"
    rows = [f'"text number {i} is fine",{1 + i % 5},{5 - i % 5}' for i in range(20)]
    rows.insert(3, '"",3,3')          # empty text
    rows.insert(7, '"nan rating",nan,2')
    table.write_text("text,valence,arousal\n" + "\n".join(rows) + "\n")
    # --data-dir: the default emotion head reads GoEmotions from it, so the test holds without $CARL_DATA_DIR
    common = ["train", "--data", table, "--model", tiny_encoder, "--max-steps", 1, "--batch-size", 4,
              "--data-dir", data_dir, "--set", "model.projection_hidden=16", "--set", "data.max_length=16"]
    strict = carl(*common, "--output-dir", tmp_path / "strict")
    assert strict.returncode == 2 and "line 5" in strict.stderr
    assert not (tmp_path / "strict" / "model").exists()
    lenient = carl(*common, "--output-dir", tmp_path / "lenient", "--on-bad-row", "skip")
    assert lenient.returncode == 0, lenient.stderr[-2000:]
    # an emotion head is fitted by default (on a GoEmotions slice), whatever the training data
    assert "emotion head saved" in lenient.stdout and (tmp_path / "lenient" / "model" / "emotion_head.json").is_file()
    assert "skipped 2 bad row(s)" in lenient.stderr
    start = json.loads((tmp_path / "lenient" / "metrics.jsonl").read_text().splitlines()[0])
    assert start["train_texts"] == 20


def test_damaged_model_weights_give_a_clear_error(trained, data_dir, tmp_path):
    import shutil

    out, _ = trained
    broken = tmp_path / "broken"
    shutil.copytree(out / "model", broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    texts = tmp_path / "t.txt"
    texts.write_text("hello\n")
    for args in (["embed", broken, "--input", texts, "--output", tmp_path / "x.npy"],
                 ["train", "--model", broken, "--max-steps", 1, "--data-dir", data_dir]):
        done = carl(*args)
        assert done.returncode == 2, done.stderr[-1500:]
        assert "Traceback" not in done.stderr and str(broken) in done.stderr


def test_train_ships_a_va_head_and_predict_va_uses_it(trained, tmp_path):
    out, done = trained
    assert "V-A head saved" in done.stdout
    head = json.loads((out / "model" / "va_head.json").read_text())
    assert head["training_corpora"] == ["emobank", "facebook-va"]
    texts = tmp_path / "t.txt"
    texts.write_text("I won the final!\nI lost everything.\n")
    result = tmp_path / "va.jsonl"
    predicted = carl("predict-va", out / "model", "--input", texts, "--output", result)
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    rows = [json.loads(line) for line in result.read_text().splitlines()]
    assert [r["text"] for r in rows] == ["I won the final!", "I lost everything."]
    assert all(0 <= r["valence"] <= 1 and 0 <= r["arousal"] <= 1 for r in rows)


def test_run_trains_then_prints_carl_beside_the_frozen_encoder(tiny_encoder, data_dir, tmp_path):
    done = carl("run", "--output-dir", tmp_path / "main", "--data-dir", data_dir, "--max-steps", 2,
                "--set", f"model.name_or_path={tiny_encoder}", "--set", "model.projection_hidden=16",
                "--set", "train.batch_size=8", "--set", "data.max_length=24", "--set", "train.eval_every=2",
                "--set", "data.train=[emobank]", timeout=900,
                cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| emobank | pearson_mean |" in done.stdout and "| facebook-va | pearson_mean |" in done.stdout
    report = json.loads((tmp_path / "main" / "comparison.json").read_text())
    names = [run["name"] for run in report["runs"]]
    from carl.portable import portable_text

    # the main job's recipe by default; reports name paths portably (no machine path: carl.portable)
    assert names == [portable_text(f"frozen {tiny_encoder}", cwd=tmp_path), "CARL (carl-plus-queue)"]
    assert str(tiny_encoder) not in json.dumps(report)
    trained = yaml.safe_load((tmp_path / "main" / "config.yaml").read_text())
    assert trained["mccl"]["queue_size"] == 256 and trained["ptd"]["enabled"] is False
    for run in report["runs"]:
        assert -1 <= run["results"]["emobank"]["pearson_mean"] <= 1


def test_reproduce_help_names_every_preset():
    from carl.reproduce.presets import PRESETS

    done = carl("reproduce", "--help")
    assert done.returncode == 0, done.stderr[-2000:]
    text = " ".join(done.stdout.replace("│", " ").split())  # rich wraps the option's help over several lines
    assert [name for name in PRESETS if f"'{name}'" not in text] == []
