"""Own data, end to end, as a user runs it: a table of texts with V-A ratings on the user's own
scale -> `carl train` -> `carl predict-va` -> `carl evaluate` on a held-out table.

The README's command runs as a separate `carl` process; the commands after it run through
the same entry point in-process (conftest.carl_in_process), which saves a process start each.

The tables are real EmoBank sentences with their ratings moved to other scales (1-9, 0-100),
written as CSV, TSV and JSONL under the test's own folder; the encoder is the tiny 2-layer BERT
of conftest.py so that the commands run in seconds (tests/test_docs.py runs the README's
command itself with the embedded MiniLM).
"""

import csv
import json
import os
import subprocess
import sys

import pytest

from carl.data import load_corpus

SMALL = ["--set", "model.projection_hidden=16", "--set", "data.max_length=24"]


def carl(*args, cwd=None, timeout=600):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "carl.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout)


@pytest.fixture(scope="module")
def emobank_rows(data_dir):
    """(text, valence, arousal) of EmoBank train sentences, ratings in carl's [0, 1]; the tables
    below map them linearly onto the user's scale."""
    return [(r.text, r.valence, r.arousal) for r in load_corpus("emobank", data_dir, ["train"])[:400]]


def write_table(path, rows, *, text="body", valence="v", arousal="a", low=1.0, high=9.0):
    """Write rows with ratings mapped from [0, 1] onto [low, high], one decimal, as the suffix says."""
    scaled = [(t, round(low + v * (high - low), 1), round(low + a * (high - low), 1)) for t, v, a in rows]
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps({text: t, valence: v, arousal: a}) + "\n" for t, v, a in scaled))
    else:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, delimiter="\t" if path.suffix == ".tsv" else ",")
            writer.writerow([text, valence, arousal])
            writer.writerows(scaled)
    return path


@pytest.fixture(scope="module")
def own_model(tiny_encoder, emobank_rows, tmp_path_factory):
    """The README's own-data command on a CSV with columns body,v,a (ratings 1-9)."""
    folder = tmp_path_factory.mktemp("own")
    write_table(folder / "mine.csv", emobank_rows[:200])
    write_table(folder / "heldout.csv", emobank_rows[200:300])
    done = carl("train", "--data", "mine.csv:text=body,valence=v,arousal=a", "--max-steps", 2, "--batch-size", 8,
                "--output-dir", "r", "--model", tiny_encoder, *SMALL, cwd=folder)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder, done


def test_readme_own_data_command_trains_exports_and_ships_a_head(own_model):
    folder, done = own_model
    assert (folder / "r" / "model" / "modules.json").is_file()
    assert "no dev data: the last step" in done.stdout
    config = (folder / "r" / "config.yaml").read_text()
    assert "- mine.csv:text=body,valence=v,arousal=a\n" in config
    start = json.loads((folder / "r" / "metrics.jsonl").read_text().splitlines()[0])
    assert start["train_texts"] == 200
    head = json.loads((folder / "r" / "model" / "va_head.json").read_text())
    assert head["training_corpora"] == ["mine.csv:text=body,valence=v,arousal=a"]
    assert head["info"]["dev_source"].startswith("10 % of the training tables")
    assert head["info"]["n_train"] + head["info"]["n_dev"] == 200 and head["info"]["n_dev"] >= 10


def test_predict_va_on_the_users_texts(own_model, carl_in_process):
    folder, _ = own_model
    done = carl_in_process("predict-va", "r/model", "--input", "heldout.csv", "--text-column", "body", "--output",
                           "va.csv", cwd=folder)
    assert done.returncode == 0, done.stderr[-2000:]
    with open(folder / "va.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    with open(folder / "heldout.csv", newline="", encoding="utf-8") as fh:
        texts = [row["body"] for row in csv.DictReader(fh)]
    assert [r["text"] for r in rows] == texts
    assert all(0 <= float(r["valence"]) <= 1 and 0 <= float(r["arousal"]) <= 1 for r in rows)


def test_evaluate_on_the_users_held_out_table(own_model, tiny_encoder, carl_in_process):
    folder, _ = own_model
    done = carl_in_process("evaluate", f"frozen={tiny_encoder},mine=r/model", "--tasks",
                           "heldout.csv:text=body,valence=v,arousal=a,mine.csv:text=body,valence=v,arousal=a",
                           "--output", "eval/mine.json", "--no-cache", cwd=folder)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| heldout.csv | pearson_mean |" in done.stdout and "| mine.csv | pearson_mean |" in done.stdout
    assert "mine.csv is among the training data" in done.stderr  # scores on it are not held-out
    assert "heldout.csv is among" not in done.stderr
    report = json.loads((folder / "eval" / "mine.json").read_text())
    for run in report["runs"]:
        task = run["results"]["heldout.csv"]
        assert (task["n_train"], task["n_dev"], task["n_test"]) == (80, 10, 10)
        assert -1 <= task["pearson_mean"] <= 1
        assert "your table" in run["results"]["_meta"]["details"]["heldout.csv"]["description"]


def test_finetune_on_the_users_table(own_model, carl_in_process):
    folder, _ = own_model
    done = carl_in_process("finetune", "r/model", "--task", "heldout.csv:text=body,valence=v,arousal=a", "--steps", 2,
                           "--batch-size", 8, "--output", "ft/heldout.json", cwd=folder)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| heldout.csv | pearson_mean |" in done.stdout
    report = json.loads((folder / "ft" / "heldout.json").read_text())
    metrics = report["runs"][0]["results"]["heldout.csv"]
    assert -1 <= metrics["pearson_mean"] <= 1


def test_mixed_corpora_tsv_jsonl_and_a_dev_table(tiny_encoder, emobank_rows, data_dir, tmp_path, carl_in_process):
    write_table(tmp_path / "mine.tsv", emobank_rows[:60], low=0, high=100)
    write_table(tmp_path / "posts.jsonl", emobank_rows[60:120], text="message", valence="val", arousal="aro",
                low=-3, high=3)
    write_table(tmp_path / "dev.csv", emobank_rows[120:160])
    done = carl_in_process("train", "--data", "facebook-va,mine.tsv:text=body,valence=v,arousal=a,range=0..100,"
                           "posts.jsonl:text=message,valence=val,arousal=aro", "--set",
                           "data.dev=[dev.csv:text=body,valence=v,arousal=a]", "--max-steps", 2, "--batch-size", 8,
                           "--output-dir", "r", "--model", tiny_encoder, "--data-dir", data_dir, *SMALL,
                           "--set", "train.eval_every=2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "best dev V-A Pearson" in done.stdout
    metrics = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert metrics[0]["train_texts"] == 2317 + 60 + 60 and metrics[0]["dev_texts"] == 40
    assert any("dev/va_pearson" in row for row in metrics)
    head = json.loads((tmp_path / "r" / "model" / "va_head.json").read_text())
    assert head["training_corpora"] == ["facebook-va", "mine.tsv:text=body,valence=v,arousal=a,range=0..100",
                                        "posts.jsonl:text=message,valence=val,arousal=aro"]
    assert head["info"]["n_dev"] == 40 and head["info"]["dev_source"].startswith("given: dev.csv")


def test_missing_columns_show_the_corrected_spec(tiny_encoder, emobank_rows, tmp_path, carl_in_process):
    write_table(tmp_path / "mine.csv", emobank_rows[:20])
    done = carl_in_process("train", "--data", "mine.csv:text=body", "--max-steps", 1, "--output-dir", "r",
                           "--model", tiny_encoder, cwd=tmp_path)
    assert done.returncode == 2
    assert "mine.csv, line 1: missing column(s) ['valence', 'arousal']; the file has columns ['body', 'v', 'a']" \
        in done.stderr
    assert "fix: name the file's columns after its path: mine.csv:text=body,valence=COL,arousal=COL" in done.stderr
    assert "Traceback" not in done.stderr
    bad_key = carl_in_process("train", "--data", "mine.csv:text=body,vlaence=v", "--max-steps", 1, cwd=tmp_path)
    assert bad_key.returncode == 2 and "did you mean 'valence'?" in bad_key.stderr


def test_table_tasks_in_python(export_tiny_model, emobank_rows, tmp_path):
    """run_tasks with a V-A table and a label-only table (a classification task); too small a table is an error."""
    from carl.errors import DataError
    from carl.evaluation.tasks import run_tasks

    model = export_tiny_model("table-tasks")
    write_table(tmp_path / "va.csv", emobank_rows[:60])
    with open(tmp_path / "moods.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["body", "mood"])
        writer.writerows((t, "positive" if v > 0.5 else "negative") for t, v, _ in emobank_rows[:60])
    result = run_tasks(str(model), f"{tmp_path}/va.csv:text=body,valence=v,arousal=a,"
                                   f"{tmp_path}/moods.csv:text=body,label=mood", None)
    assert result[f"{tmp_path}/va.csv"]["n_test"] == 6
    assert 0 <= result[f"{tmp_path}/moods.csv"]["accuracy"] <= 1
    write_table(tmp_path / "small.csv", emobank_rows[:10])
    with pytest.raises(DataError, match="only 10 rows"):
        run_tasks(str(model), f"{tmp_path}/small.csv:text=body,valence=v,arousal=a", None)
