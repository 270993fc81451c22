"""Evaluation tasks, embedding cache, reports and `carl evaluate` on real data.

A tiny 2-layer BERT (exported as a sentence-transformers folder) and small train/eval
budgets keep this fast; the numbers are meaningless, their ranges and bookkeeping are not.
"""

import json
import math

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from carl.errors import CarlError, ModelError
from carl.evaluation import embedding_store
from carl.evaluation import tasks as T
from carl.evaluation.commands import evaluate_command, parse_models
from carl.scoring.commands import predict_va_command
from carl.evaluation.report import build_report, markdown_table, merge_reports, shown_path, summarise

MAX_TRAIN, MAX_EVAL = 40, 50



pytestmark = pytest.mark.usefixtures("one_blas_thread")


@pytest.fixture(scope="module")
def st_model(export_tiny_model):
    return export_tiny_model("st")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("embedding-cache")


@pytest.fixture(scope="module")
def evaluated(st_model, data_dir, cache_dir):
    return T.run_tasks(str(st_model), "all", data_dir, seed=0, max_train=MAX_TRAIN, max_eval=MAX_EVAL,
                       cache_dir=cache_dir)


def _in(value, lo, hi):
    return isinstance(value, float) and math.isfinite(value) and lo - 1e-9 <= value <= hi + 1e-9


# ------------------------------------------------------------------ registry


def test_registry_resolves_all_and_lists_in_order():
    assert T.resolve_task_names("all") == T.known_tasks()
    assert T.resolve_task_names(None) == T.known_tasks()
    assert T.resolve_task_names("carer, emobank,carer") == ["emobank", "carer"]
    assert set(T.known_tasks()) == {"emobank", "facebook-va", "goemotions-10", "goemotions-ekman", "dailydialog",
                                    "tec", "carer", "sst2", "sst5", "mr", "cr", "mpqa", "carer-mteb", "geometry"}
    assert T.TASKS["goemotions-ekman"].single_label_only
    assert T.TASKS["dailydialog"].exclude_label == "no emotion"


@pytest.mark.parametrize("bad", ["emobank,iemocap", "nope", " , "])
def test_unknown_task_is_a_carl_error_listing_the_tasks(bad):
    with pytest.raises(CarlError, match="task") as err:
        T.resolve_task_names(bad)
    assert "emobank" in str(err.value) and "carer-mteb" in str(err.value)


def test_missing_model_is_a_model_error(data_dir, tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        T.run_tasks(str(tmp_path / "no-model"), "emobank", data_dir)


# ------------------------------------------------------------------ every task on real data


def test_every_task_runs_and_yields_metrics_in_range(evaluated):
    assert set(evaluated) == set(T.known_tasks()) | {"_meta"}
    for name in ("emobank", "facebook-va"):
        m = evaluated[name]
        for key in ("pearson_v", "spearman_v", "pearson_a", "spearman_a", "pearson_mean", "spearman_mean"):
            assert _in(m[key], -1, 1), (name, key, m[key])
        assert m["n_train"] == MAX_TRAIN and m["n_test"] == MAX_EVAL and m["chosen_alpha"] > 0
    for name in ("goemotions-10", "goemotions-ekman", "dailydialog", "tec", "carer", "sst2", "sst5", "mr", "cr",
                 "mpqa"):
        m = evaluated[name]
        for key in ("accuracy", "macro_f1", "weighted_f1"):
            assert _in(m[key], 0, 1), (name, key, m[key])
        assert m["n_train"] == MAX_TRAIN and m["n_dev"] == MAX_EVAL and m["n_test"] == MAX_EVAL
    assert evaluated["goemotions-10"]["n_classes"] == 10  # stratified subsample keeps every class
    assert evaluated["sst5"]["n_classes"] == 5
    assert _in(evaluated["dailydialog"]["macro_f1_without_no_emotion"], 0, 1)
    assert "macro_f1_without_no_emotion" not in evaluated["carer"]

    mteb = evaluated["carer-mteb"]
    assert _in(mteb["accuracy"], 0, 1) and _in(mteb["macro_f1"], 0, 1) and mteb["accuracy_std"] >= 0
    assert (mteb["n_experiments"], mteb["samples_per_label"], mteb["mteb_seed"]) == (10, 16, 42)
    assert mteb["n_train_pool"] == 16000 and 96 <= mteb["n_train_embedded"] <= 960 and mteb["n_test"] == MAX_EVAL

    g = evaluated["geometry"]
    assert _in(g["alignment_va"], 0, 4) and _in(g["alignment_label"], 0, 4)  # alpha = 2 on the unit sphere
    assert _in(g["uniformity_emobank"], -8, 0) and _in(g["uniformity_carer"], -8, 0)  # t = 2
    assert g["n_pairs_va"] > 0 and g["n_pairs_label"] > 0


def test_meta_records_arguments_and_subsampling(evaluated, st_model, data_dir, cache_dir):
    meta = evaluated["_meta"]
    assert meta["model_path"] == str(st_model) and meta["tasks"] == T.known_tasks()
    assert (meta["max_train"], meta["max_eval"], meta["subsampled"]) == (MAX_TRAIN, MAX_EVAL, True)
    assert (meta["seed"], meta["split_seed"]) == (0, 0)
    assert meta["data_dir"] == str(data_dir) and meta["cache_dir"] == str(cache_dir)
    assert meta["cache"]["misses"] > 0 and meta["cache"]["memory_hits"] > 0  # shared test splits embedded once
    mteb_details = meta["details"]["carer-mteb"]
    assert "reference" in mteb_details and mteb_details["mteb_version"].startswith("2.")
    accuracies = mteb_details["accuracy_per_experiment"]  # mteb's own per-experiment scores
    assert len(accuracies) == 10 and np.mean(accuracies) == pytest.approx(evaluated["carer-mteb"]["accuracy"])
    assert set(meta["seconds"]) == set(T.known_tasks())


def test_second_run_reads_the_cache_and_never_embeds(evaluated, st_model, data_dir, cache_dir, monkeypatch):
    from carl.inference.embedder import CarlEmbedder

    def no_embedding(*args, **kwargs):
        raise AssertionError("re-embedded although the cache holds these texts")

    monkeypatch.setattr(CarlEmbedder, "encode", no_embedding)
    monkeypatch.setattr(CarlEmbedder, "__init__", no_embedding)
    some = ["emobank", "carer", "carer-mteb", "geometry"]  # one task of each kind
    again = T.run_tasks(str(st_model), some, data_dir, seed=0, max_train=MAX_TRAIN, max_eval=MAX_EVAL,
                        cache_dir=cache_dir)
    assert again["_meta"]["cache"]["misses"] == 0 and again["_meta"]["cache"]["hits"] > 0
    for task in some:  # identical numbers: the probes and the MTEB protocol are deterministic for a seed
        assert again[task] == evaluated[task], task


def test_cache_key_follows_the_texts_and_the_model(st_model, tmp_path):
    store = embedding_store.EmbeddingStore(str(st_model), tmp_path)
    a = store.path_for("emobank", "test", ["a", "b"])
    assert a != store.path_for("emobank", "test", ["a", "c"])
    assert a != store.path_for("emobank", "dev", ["a", "b"])
    assert a.parent.name.endswith(store.fingerprint[:16])
    assert embedding_store.texts_hash(["ab", "c"]) != embedding_store.texts_hash(["a", "bc"])


def test_subsample_is_seeded_ordered_and_keeps_every_class():
    from carl.data import Record

    rows = [Record(text=str(i), valence=None, arousal=None, labels=("rare" if i == 7 else "common",))
            for i in range(100)]
    pick = T.subsample(rows, 10, 3, stream=("x", "train"), stratify=T.single_label)
    assert len(pick) == 10 and [r.text for r in pick] == sorted((r.text for r in pick), key=int)
    assert "rare" in {r.labels[0] for r in pick}
    assert pick == T.subsample(rows, 10, 3, stream=("x", "train"), stratify=T.single_label)
    assert pick != T.subsample(rows, 10, 4, stream=("x", "train"), stratify=T.single_label)
    assert T.subsample(rows, None, 0, stream=("x",)) == rows


def test_goemotions_ekman_keeps_single_label_rows_only(data_dir):
    data = T.EvalData(data_dir=data_dir, seed=0, split_seed=0, max_train=None, max_eval=None)
    rows = data.split("goemotions-ekman", "test", keep=T.label_filter(T.TASKS["goemotions-ekman"]))
    assert rows and all(len(r.labels) == 1 for r in rows)
    assert len(rows) < len([r for r in data.records("goemotions-ekman") if r.split == "test"])


# ------------------------------------------------------------------ reports


def _fake_run(value, seed=0, nan=False):
    return {"emobank": {"pearson_v": value, "pearson_a": 0.2, "pearson_mean": float("nan") if nan else value,
                        "spearman_mean": 0.1, "n_test": 10},
            "geometry": {"alignment_va": 0.5, "uniformity_emobank": -2.0},
            "_meta": {"model": "m", "model_path": "/m", "seed": seed, "split_seed": 0}}


def test_markdown_table_has_tasks_as_rows_models_as_columns_and_mean_std():
    runs = [("carl", _fake_run(0.5)), ("carl", _fake_run(0.7, seed=1)), ("frozen", _fake_run(0.3))]
    table = markdown_table(runs)
    lines = table.splitlines()
    assert lines[0] == "| task | metric | carl | frozen |"
    row = next(line for line in lines if "| emobank | pearson_v |" in line)
    assert "0.600 ± 0.141 (n=2)" in row and row.endswith("| 0.300 |")
    assert any("| geometry | alignment_va ↓ |" in line for line in lines)
    s = summarise(runs)
    assert s["carl"]["emobank"]["pearson_v"]["n"] == 2 and s["frozen"]["emobank"]["pearson_v"]["std"] is None


def test_report_json_holds_everything_and_no_nan(tmp_path):
    runs = [("carl", _fake_run(0.5, nan=True))]
    report = build_report(runs, arguments={"tasks": ["emobank"]}, command="carl evaluate x")
    text = json.dumps(report, allow_nan=False)  # NaN became null
    assert report["runs"][0]["results"]["emobank"]["pearson_mean"] is None
    assert report["machine"]["cpu_count"] and report["created"] and report["arguments"] == {"tasks": ["emobank"]}
    merged = merge_reports([json.loads(text), json.loads(text)])
    assert len(merged) == 2 and math.isnan(merged[0][1]["emobank"]["pearson_mean"])
    assert "nan" in markdown_table(merged)


def test_shown_path_is_relative_under_the_working_directory_only(tmp_path):
    inside = tmp_path / "results" / "runs" / "carl" / "seed0" / "model"
    assert shown_path(str(inside), cwd=tmp_path) == "results/runs/carl/seed0/model"
    assert shown_path("/elsewhere/model", cwd=tmp_path) == "/elsewhere/model"
    assert shown_path("results/x", cwd=tmp_path) == "results/x" and shown_path(None) is None


# ------------------------------------------------------------------ CLI


def _app():
    app = typer.Typer()
    app.command("evaluate")(evaluate_command)
    app.command("predict-va")(predict_va_command)
    return app


def test_a_model_name_with_an_equals_sign_is_named_as_the_mistake(tmp_path):
    """"hybrid w=1=PATH" used to fail later as "model path 1=PATH does not exist"."""
    with pytest.raises(CarlError, match=r"a name cannot hold '='.*'hybrid w-1=\.\./models/h'"):
        parse_models("frozen=minilm,hybrid w=1=../models/h")
    folder = tmp_path / "lr=1e-4" / "model"  # a path may hold '=': only the first one splits
    folder.mkdir(parents=True)
    assert parse_models(f"carl={folder}") == [("carl", str(folder))]


def test_parse_models():
    assert parse_models("a,carl=b, carl=c") == [("a", "a"), ("carl", "b"), ("carl", "c")]
    with pytest.raises(CarlError):
        parse_models("=x")


def test_evaluate_command_writes_json_md_and_plots(st_model, data_dir, tmp_path):
    out = tmp_path / "report" / "eval.json"
    plots = tmp_path / "plots"
    result = CliRunner().invoke(_app(), [
        "evaluate", f"tiny={st_model}", "--tasks", "emobank,facebook-va", "--output", str(out), "--data-dir",
        str(data_dir), "--max-train", "30", "--max-eval", "30", "--seed", "0", "--seed", "1", "--cache-dir", str(tmp_path / "c"),
        "--plots-dir", str(plots)])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "| task | metric | tiny |" in result.output and "(n=2)" in result.output
    report = json.loads(out.read_text())
    assert [r["seed"] for r in report["runs"]] == [0, 1]
    assert report["arguments"]["max_train"] == 30 and report["arguments"]["tasks"] == ["emobank", "facebook-va"]
    assert set(report["runs"][0]["results"]) == {"emobank", "facebook-va", "_meta"}
    md = out.with_suffix(".md").read_text()
    assert "| emobank | pearson_mean |" in md and "Subsampled" in md
    assert {p.name for p in plots.iterdir()} == {"tsne-carer-test.png", "tsne-emobank-test-valence.png",
                                                 "va-circumplex-tiny.png"}


@pytest.mark.parametrize("args, message", [
    (["--tasks", "emobank,nope"], "unknown task"),
    (["--output", "x.txt"], ".json"),
])
def test_evaluate_command_user_errors(st_model, tmp_path, args, message):
    base = {"--tasks": "emobank", "--output": str(tmp_path / "r.json")}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    cli = ["evaluate", str(st_model)] + [item for pair in base.items() for item in pair]
    result = CliRunner().invoke(_app(), cli)
    assert isinstance(result.exception, CarlError) and message in str(result.exception)


# ------------------------------------------------------------------ one split seed per comparison


def _trained_copy(st_model, tmp_path, split_seed, train):
    """The same weights, with a carl.json saying they were trained with ``split_seed`` on ``train``."""
    import shutil

    copy = tmp_path / f"trained-split{split_seed}" / "model"
    shutil.copytree(st_model, copy)
    meta = json.loads((copy / "carl.json").read_text())
    meta["config"] = {"data": {"split_seed": split_seed, "train": train}}
    (copy / "carl.json").write_text(json.dumps(meta))
    return copy


def test_every_model_of_a_comparison_is_scored_on_one_split(st_model, data_dir, tmp_path):
    """A model trained with data.split_seed=1 is scored on split seed 0 like the frozen one (same
    weights here, so same rows give the same numbers), and flagged: its test rows may be training rows."""
    other = _trained_copy(st_model, tmp_path, 1, ["emobank", "facebook-va"])
    out = tmp_path / "cmp.json"
    result = CliRunner().invoke(_app(), [
        "evaluate", f"frozen={st_model},trained={other}", "--tasks", "facebook-va", "--output", str(out),
        "--data-dir", str(data_dir), "--max-train", "30", "--no-cache"])
    assert result.exit_code == 0, (result.output, result.exception)
    report = json.loads(out.read_text())
    (frozen, trained) = [r["results"] for r in report["runs"]]
    assert frozen["_meta"]["split_seed"] == trained["_meta"]["split_seed"] == 0
    assert frozen["facebook-va"] == trained["facebook-va"]  # same rows: the default no longer follows the model
    assert trained["_meta"]["model_split_seed"] == 1 and trained["_meta"]["split_overlap_risk"] == ["facebook-va"]
    assert frozen["_meta"]["split_seed_note"] is None
    note = trained["_meta"]["split_seed_note"]
    assert note.startswith("WARNING") and "data.split_seed=1" in note and "--split-seed 1" in note
    assert note in result.output  # printed (stderr is mixed into CliRunner's output)
    md = out.with_suffix(".md").read_text()
    assert "trained: WARNING" in md and "| trained with split seed |" in md


def test_split_seed_note_only_warns_about_corpora_the_model_trained_on():
    meta = {"config": {"data": {"split_seed": 3, "train": ["emobank"]}}}
    note, risk = T.split_seed_note(meta, 0, ["emobank", "facebook-va", "tec"])
    assert risk == [] and note.startswith("note:")  # trained on EmoBank only (official split)
    note, risk = T.split_seed_note({"config": {"data": {"split_seed": 3, "train": ["tec", "emobank"]}}}, 0,
                                   ["facebook-va", "tec"])
    assert risk == ["tec"] and "WARNING" in note
    assert T.split_seed_note(meta, 3, ["tec"]) == (None, [])
    assert T.split_seed_note({}, 0, ["tec"]) == (None, [])  # no carl.json config (e.g. the frozen encoder)


def test_cache_dir_expands_the_home_folder(monkeypatch, tmp_path):
    """docs/evaluation.md passes cache_dir="~/.cache/carl/embeddings": "~" is the home folder, not a folder named "~"."""
    from carl.evaluation.embedding_store import EmbeddingStore

    monkeypatch.setenv("HOME", str(tmp_path))
    assert EmbeddingStore("minilm", "~/.cache/carl/embeddings").cache_dir == tmp_path / ".cache" / "carl" / "embeddings"


# ------------------------------------------------------------------ dev-only scoring


def test_dev_only_run_never_reads_a_test_split_and_matches_the_full_runs_selection(evaluated, st_model, data_dir,
                                                                                   monkeypatch):
    probe_tasks = T.dev_scored_tasks()
    assert "emobank" in probe_tasks and "sst2" in probe_tasks and "carer-mteb" not in probe_tasks
    read = []
    split = T.EvalData.split

    def spy(self, corpus, which, **kwargs):
        read.append(which)
        return split(self, corpus, which, **kwargs)

    monkeypatch.setattr(T.EvalData, "split", spy)
    dev = T.run_tasks(str(st_model), probe_tasks, data_dir, seed=0, max_train=MAX_TRAIN, max_eval=MAX_EVAL,
                      dev_only=True)
    assert set(read) == {"train", "dev"}
    assert dev["_meta"]["dev_only"] is True
    for task in probe_tasks:
        full_dev = evaluated["_meta"]["details"][task]["dev_scores"]
        assert dev[task]["dev_score"] == pytest.approx(max(full_dev.values())), task
        assert "n_test" not in dev[task] and "accuracy" not in dev[task] and "pearson_mean" not in dev[task]


@pytest.mark.parametrize("task", ["carer-mteb", "geometry"])
def test_dev_only_refuses_tasks_without_a_dev_split(st_model, data_dir, task):
    with pytest.raises(CarlError, match=f"{task} have no dev split"):
        T.run_tasks(str(st_model), ["emobank", task], data_dir, dev_only=True)


def test_probe_dev_scores_are_each_probes_chosen_setting_and_skip_tasks_without_dev():
    from carl.evaluation.tasks import probe_dev_scores

    record = {"result": {"emobank": {"pearson_mean": 0.9},  # a test metric: never read
                         "_meta": {"details": {"emobank": {"dev_scores": {"alpha=1": 0.41, "alpha=10": 0.52}},
                                               "tec": {"dev_scores": {"C=0.1": 0.30, "C=1": 0.28}},
                                               "geometry": {"n_pairs": 10}}}}}
    assert probe_dev_scores(record) == {"emobank": 0.52, "tec": 0.30}
    assert probe_dev_scores(record, ["tec"]) == {"tec": 0.30}
