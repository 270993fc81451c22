"""Learning curves (`carl evaluate --learning-curve`): the real MiniLM on a real small table
(MR movie-review snippets written as a user's CSV), a named corpus with the tiny BERT, and the
bad tables a curve refuses."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from carl.errors import CarlError, DataError
from carl.evaluation import learning_curves as LC
from carl.evaluation import learning_curve_report as LCR

pytestmark = pytest.mark.usefixtures("one_blas_thread")

ROWS = 300  # the table: 150 negative + 150 positive MR snippets, interleaved


def _mr_lines(data_dir, n):
    neg = (data_dir / "mr" / "rt-polarity.neg").read_text(encoding="utf-8").split("\n")[:n]
    pos = (data_dir / "mr" / "rt-polarity.pos").read_text(encoding="utf-8").split("\n")[:n]
    return neg, pos


def _write_table(path, rows, header=("body", "sentiment")):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def table(data_dir, tmp_path_factory):
    neg, pos = _mr_lines(data_dir, ROWS // 2)
    rows = [row for a, b in zip(neg, pos) for row in ((a, "negative"), (b, "positive"))]
    return _write_table(tmp_path_factory.mktemp("table") / "reviews.csv", rows)


@pytest.fixture(scope="module")
def spec(table):
    return f"{table}:text=body,label=sentiment"


@pytest.fixture(scope="module")
def tiny(export_tiny_model):
    return str(export_tiny_model("curve-tiny"))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("curve-cache")


@pytest.fixture(scope="module")
def curve(spec, tiny, data_dir, cache):
    """frozen = MiniLM, same = MiniLM again under another name, tiny = a random 2-layer BERT."""
    return LC.learning_curve([("frozen", "minilm"), ("same", "minilm"), ("tiny", tiny)], spec, data_dir,
                             sizes=[30, 100, 1000], draws=3, bootstrap=200, cache_dir=cache, chunk_size=64)


# ------------------------------------------------------------------ pieces


def test_sizes_parse_and_points_end_at_the_train_split():
    assert LC.parse_sizes("300, 100,1k,3K,1M,1_000") == [100, 300, 1000, 3000, 1_000_000]
    assert LC.parse_sizes(None) == list(LC.DEFAULT_SIZES)
    for bad in ("100,abc", "1", "1.5", ","):
        with pytest.raises(CarlError, match="--sizes"):
            LC.parse_sizes(bad)
    assert LC.curve_points([100, 300, 1000, 3000], 2500) == [100, 300, 1000, 2500]
    assert LC.curve_points([100, 300], 2500) == [100, 300]  # no size reaches the train split: no full point
    assert LC.curve_points(LC.DEFAULT_SIZES, 79_999) == [100, 300, 1000, 3000, 10_000, 30_000, 79_999]


def test_whole_split_label_moves_down_only_when_it_would_overlap_the_last_size():
    assert LCR._tick_labels([100, 30_000, 39_555]) == ["100", "30k", "\n39.6k"]
    assert LCR._tick_labels([100, 30_000, 79_999]) == ["100", "30k", "80.0k"]
    assert LCR._tick_labels([100]) == ["100"]


def test_draws_are_seeded_without_replacement_and_keep_every_class():
    labels = np.array(["a"] * 995 + ["b"] * 4 + ["c"])
    draw = LC.draw_indices(1000, 10, np.random.default_rng([0, 10, 0]), labels)
    again = LC.draw_indices(1000, 10, np.random.default_rng([0, 10, 0]), labels)
    other = LC.draw_indices(1000, 10, np.random.default_rng([0, 10, 1]), labels)
    assert np.array_equal(draw, again) and not np.array_equal(draw, other)
    assert len(draw) == len(set(draw.tolist())) == 10
    assert set(labels[draw]) == {"a", "b", "c"}  # the single "c" is always drawn
    assert np.array_equal(LC.draw_indices(7, 7, np.random.default_rng(0)), np.arange(7))


def test_a_task_that_excludes_a_label_is_drawn_in_its_headline_metric(monkeypatch, spec, data_dir):
    """A task such as DailyDialog (its "no emotion" left out of macro-F1) is drawn, bootstrapped and
    compared in that metric; here the MR table stands in, with "negative" as the excluded label."""
    import dataclasses

    real = LC.load_curve_data(spec, data_dir)
    monkeypatch.setattr(LC, "load_curve_data",
                        lambda *a, **k: dataclasses.replace(real, exclude_label="negative"))
    out = LC.learning_curve([("frozen", "minilm"), ("same", "minilm")], spec, data_dir, sizes=[30, 100], draws=2,
                            bootstrap=100, cache_dir=None, chunk_size=64)
    assert out["metric"] == "macro_f1_without_negative"
    differs = []
    for point in out["points"]:
        frozen = point["models"]["frozen"]
        headline, plain = frozen["macro_f1_without_negative"], frozen["macro_f1"]
        differs.append(headline["mean"] != pytest.approx(plain["mean"]))
        low, high = headline["interval"]
        assert low <= headline["mean"] <= high and "interval" not in plain
        assert point["gap"]["same"]["mean"] == 0
    # F1 of "positive" alone, not the mean of both (on 30 test rows the two can tie when errors are symmetric)
    assert any(differs)


# ------------------------------------------------------------------ the curve on a real table, real MiniLM


def test_embeddings_are_computed_once_per_model_and_streamed_in_chunks(curve, data_dir, spec, cache):
    by_name = {m["name"]: m for m in curve["models"]}
    total = curve["n_train_pool"] + curve["n_dev"] + curve["n_test"]
    assert total == ROWS
    # one pass over the table's rows per model, however many sizes and draws. "same" is MiniLM again
    # (one path, one counter): had it embedded anew the count would be 2 x ROWS, had it re-read the
    # files splits_read_from_disk would be 3
    for name in ("frozen", "same", "tiny"):
        assert by_name[name]["embedded_texts"] == ROWS and by_name[name]["splits_read_from_disk"] == 0, name
    assert by_name["frozen"]["dimension"] == 384 and by_name["tiny"]["dimension"] == 32

    # the chunked, memory-mapped file holds exactly what the model gives for the texts in one call
    from carl.evaluation.embedding_store import EmbeddingStore

    data = LC.load_curve_data(spec, data_dir)
    store = EmbeddingStore("minilm", cache)
    mapped = LC.StreamedEmbeddings(store, cache).embed(data.corpus, "train", data.texts["train"])
    assert isinstance(mapped, np.memmap) and mapped.shape == (curve["n_train_pool"], 384)
    direct = store.embedder.encode(data.texts["train"][:100])
    np.testing.assert_allclose(mapped[:100], direct, atol=1e-5)


class _StubStore:
    """What StreamedEmbeddings needs of an EmbeddingStore, with an instant 'model'."""

    fingerprint, batch_size = "f" * 64, 64

    def __init__(self):
        self.calls = []
        self.embedder = self

    def path_for(self, corpus, split, texts):
        return None  # no cache folder: the scratch folder

    def encode(self, texts, batch_size):
        self.calls.append(len(texts))
        return np.tile(np.arange(len(texts), dtype=np.float64)[:, None], (1, 384))


def test_streaming_holds_one_chunk_in_memory_not_the_matrix(tmp_path):
    """60,000 x 384 float32 is 92 MB: embedded in chunks straight into the memory-mapped file,
    the process allocates about one chunk at a time."""
    import tracemalloc

    import carl.evaluation.embedding_store  # noqa: F401  (imported before measuring: torch's import is not data)

    texts = [f"text {i}" for i in range(60_000)]
    store = _StubStore()
    streamed = LC.StreamedEmbeddings(store, tmp_path, chunk_size=2048)
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    x = streamed.embed("big", "train", texts)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak -= base
    assert x.shape == (60_000, 384) and isinstance(x, np.memmap)
    assert store.calls == [2048] * 29 + [60_000 - 29 * 2048] and streamed.embedded_texts == 60_000
    assert peak < 20e6, peak  # float64 chunk (6.3 MB) + its float32 copy; the matrix would be 92 MB
    assert x[12_345, 7] == 12_345 - 6 * 2048 and x[-1, 0] == 60_000 - 1 - 29 * 2048  # rows in order
    again = LC.StreamedEmbeddings(store, tmp_path).embed("big", "train", texts)
    assert again.shape == x.shape and streamed.embedded_texts == 60_000 and len(store.calls) == 30  # read back


def test_points_draws_and_the_fixed_test_split(curve):
    assert curve["kind"] == "classification" and curve["metric"] == "macro_f1"
    assert curve["metrics"] == ["macro_f1", "accuracy"]
    assert curve["classes"] == ["negative", "positive"]
    n_train = curve["n_train_pool"]
    assert curve["sizes"] == [30, 100, n_train] and curve["reference"] == "frozen"
    assert [p["draws"] for p in curve["points"]] == [3, 3, 1]
    assert [p["all_of_train"] for p in curve["points"]] == [False, False, True]
    for point in curve["points"]:
        for name in ("frozen", "same", "tiny"):
            entry = point["models"][name]
            assert len(entry["macro_f1"]["draw_values"]) == point["draws"] == len(entry["chosen"])
            assert set(entry) >= {"macro_f1", "accuracy", "chosen"}
            assert all(c in (0.01, 0.1, 1, 10, 100) for c in entry["chosen"])  # C chosen on dev from the grid


def test_intervals_contain_the_mean(curve):
    for point in curve["points"]:
        for name, entry in point["models"].items():
            m = entry["macro_f1"]
            assert 0 <= m["interval"][0] <= m["mean"] <= m["interval"][1] <= 1, (point["n"], name, m)
            if point["draws"] > 1:
                assert m["draw_interval"][0] <= m["mean"] <= m["draw_interval"][1]
                assert m["mean"] == pytest.approx(np.mean(m["draw_values"]))
            else:
                assert m["draw_interval"] is None
            gap = point["gap"][name]
            assert gap["interval"][0] <= gap["mean"] <= gap["interval"][1]


def test_gap_of_a_model_against_itself_is_zero_on_paired_draws(curve):
    for point in curve["points"]:
        for name in ("frozen", "same"):  # the reference itself, and the same encoder under another name
            gap = point["gap"][name]
            assert gap["mean"] == 0 and gap["interval"] == [0.0, 0.0] and not gap["excludes_zero"]
            assert point["models"][name]["macro_f1"] == point["models"]["frozen"]["macro_f1"]
        tiny = point["gap"]["tiny"]
        expected = np.subtract(point["models"]["tiny"]["macro_f1"]["draw_values"],
                               point["models"]["frozen"]["macro_f1"]["draw_values"])
        assert tiny["draw_values"] == pytest.approx(expected.tolist())
    summary = curve["summary"]
    assert set(summary) == {"same", "tiny"} and summary["same"]["at_largest_n"] == "not distinguishable from zero"
    assert summary["tiny"]["largest_n"] == curve["n_train_pool"]


def test_full_train_point_is_carl_evaluates_score_from_the_same_cache(curve, spec, data_dir, cache):
    """The curve's last point (all of train, one draw) is the ordinary probe: run_tasks on the table
    gives the same test macro-F1, and reads the embeddings the curve wrote instead of embedding."""
    from carl.evaluation.tasks import run_tasks

    result = run_tasks("minilm", [spec], data_dir, cache_dir=cache)
    task = LC.load_curve_data(spec, data_dir).task
    assert result[task]["macro_f1"] == pytest.approx(curve["points"][-1]["models"]["frozen"]["macro_f1"]["mean"])
    assert result[task]["accuracy"] == pytest.approx(curve["points"][-1]["models"]["frozen"]["accuracy"]["mean"])
    assert result["_meta"]["cache"]["misses"] == 0 and result["_meta"]["cache"]["hits"] == 3


def test_second_curve_reads_every_split_from_the_cache(spec, data_dir, cache, curve):
    again = LC.learning_curve([("frozen", "minilm")], spec, data_dir, sizes=[30], draws=2, bootstrap=50,
                              cache_dir=cache)
    (model,) = again["models"]
    assert model["embedded_texts"] == 0 and model["splits_read_from_disk"] == 3
    first = curve["points"][0]["models"]["frozen"]["macro_f1"]["draw_values"][:2]
    assert again["points"][0]["models"]["frozen"]["macro_f1"]["draw_values"] == pytest.approx(first)  # same seeds


def test_report_markdown_and_plot(curve, tmp_path):
    json_path, md_path, plots = LCR.write_learning_curves(tmp_path / "curve.json", [curve], arguments={"x": 1})
    report = json.loads(json_path.read_text())
    assert report["learning_curves"][0]["points"] == json.loads(json.dumps(curve["points"]))
    assert report["plots"] == ["curve.reviews.csv.png"] and "host" not in report["machine"]
    md = md_path.read_text()
    assert "| n | draws | frozen macro-F1 | same macro-F1 | tiny macro-F1 | same − frozen | tiny − frozen |" in md
    assert f"| {curve['n_train_pool']} (all) | 1 |" in md and "| 30 | 3 |" in md
    assert "+0.000 [+0.000, +0.000]" in md and "(curve.reviews.csv.png)" in md
    (png,) = plots
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


# ------------------------------------------------------------------ a named corpus, V-A, default reference


def test_named_va_corpus_and_the_frozen_base_as_default_reference(tiny, data_dir, tmp_path):
    """A carl-trained model (carl.json names its base) gets the frozen base encoder as reference,
    added to the curve; facebook-va exercises the V-A (Ridge, mean Pearson) path. (The base here
    is the tiny BERT itself, to keep 2,300 texts cheap to embed.)"""
    import shutil

    model = tmp_path / "trained"
    shutil.copytree(tiny, model)
    meta_path = model / "carl.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    meta_path.write_text(json.dumps({**meta, "base_model": tiny}))
    out = LC.learning_curve([("carl", str(model))], "facebook-va", data_dir, sizes=[50, 200], draws=2, bootstrap=100,
                            max_eval=60, cache_dir=None)
    assert out["reference"] == f"frozen {tiny}" and [m["name"] for m in out["models"]] == [f"frozen {tiny}", "carl"]
    assert out["kind"] == "va_regression" and out["metric"] == "pearson_mean" and out["classes"] is None
    assert (out["n_dev"], out["n_test"]) == (60, 60) and out["n_train_pool"] > 2000
    assert out["sizes"] == [50, 200] and all(m["embedded_texts"] == out["n_train_pool"] + 120 for m in out["models"])
    for point in out["points"]:
        carl = point["models"]["carl"]
        assert set(carl) >= {"pearson_mean", "pearson_v", "pearson_a"}
        assert all(a in (0.01, 0.1, 1, 10, 100) for a in carl["chosen"])
        assert -1 <= carl["pearson_mean"]["mean"] <= 1 and math.isfinite(point["gap"]["carl"]["mean"])


# ------------------------------------------------------------------ the command and bad input


def _run_curve(carl_in_process, spec, out, *extra):
    return carl_in_process("evaluate", "frozen=minilm", "--tasks", spec, "--learning-curve", "--output", out,
                           "--no-cache", *extra)


def test_cli_writes_json_markdown_and_plot(carl_in_process, spec, tmp_path):
    out = tmp_path / "res" / "curve.json"
    run = _run_curve(carl_in_process, spec, out, "--sizes", "50,1M", "--draws", "2", "--bootstrap", "100")
    assert run.returncode == 0, run.stderr
    report = json.loads(out.read_text())
    (c,) = report["learning_curves"]
    assert c["sizes"] == [50, c["n_train_pool"]] and c["draws"] == 2 and c["bootstrap"] == 100
    assert report["arguments"]["sizes"] == [50, 1_000_000] and c["models"][0]["embedded_texts"] == ROWS
    assert "### Learning curve:" in run.stdout and (tmp_path / "res" / "curve.reviews.csv.png").is_file()


def _expect_error(run, *phrases):
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert "Traceback" not in run.stderr
    for phrase in phrases:
        assert phrase in run.stderr, (phrase, run.stderr)


def test_table_smaller_than_the_smallest_size(carl_in_process, data_dir, tmp_path):
    neg, pos = _mr_lines(data_dir, 20)
    small = _write_table(tmp_path / "small.csv", [(t, "negative") for t in neg] + [(t, "positive") for t in pos])
    run = _run_curve(carl_in_process, f"{small}:text=body,label=sentiment", tmp_path / "o.json")
    _expect_error(run, "table small.csv", "train split holds 32 texts", "smallest learning-curve size, 100",
                  "fix: give smaller sizes (e.g. --sizes 10,30)")


def test_table_with_one_class_only(carl_in_process, data_dir, tmp_path):
    neg, _ = _mr_lines(data_dir, 60)
    one = _write_table(tmp_path / "one.csv", [(t, "negative") for t in neg])
    run = _run_curve(carl_in_process, f"{one}:text=body,label=sentiment", tmp_path / "o.json", "--sizes", "10")
    _expect_error(run, "table one.csv", "label column 'sentiment' holds one class only ('negative' on all 60 rows)",
                  "fix: add rows of another class to 'sentiment'")


def test_label_column_with_missing_values(carl_in_process, data_dir, tmp_path):
    neg, pos = _mr_lines(data_dir, 40)
    rows = [(t, "negative") for t in neg] + [(t, "positive") for t in pos]
    rows[3], rows[50] = (rows[3][0], ""), (rows[50][0], " ")
    gaps = _write_table(tmp_path / "gaps.csv", rows)
    run = _run_curve(carl_in_process, f"{gaps}:text=body,label=sentiment", tmp_path / "o.json", "--sizes", "10")
    _expect_error(run, "table gaps.csv", "label column 'sentiment' has no value on 2 of 80 rows (line 5, 52)",
                  "fix: fill in 'sentiment' on every row, or remove the rows without a label")


def test_va_table_with_a_missing_rating_names_the_column(carl_in_process, data_dir, tmp_path):
    neg, pos = _mr_lines(data_dir, 20)
    rows = [(t, 2.0, 5.0) for t in neg] + [(t, 7.0, 4.0) for t in pos]
    rows[7] = (rows[7][0], "", 5.0)
    va = _write_table(tmp_path / "va.csv", rows, header=("body", "v", "a"))
    run = _run_curve(carl_in_process, f"{va}:text=body,valence=v,arousal=a", tmp_path / "o.json", "--sizes", "10")
    _expect_error(run, "va.csv, line 9", "table va.csv: the valence column 'v' has no value on this row",
                  "fix: fill in 'v' on every row")


@pytest.mark.parametrize("args,phrase", [
    (("--tasks", "all"), "--learning-curve needs --tasks"),
    (("--tasks", "geometry"), "geometry have no learning curve"),
    (("--tasks", "emobank", "--reference", "nope"), "--reference 'nope' is not one of the models (frozen)"),
    (("--tasks", "emobank", "--max-train", "100"), "--max-train does not apply to --learning-curve"),
    (("--tasks", "emobank", "--sizes", "10,x"), "--sizes '10,x': 'x' is not a number"),
])
def test_bad_options_are_one_line_errors(carl_in_process, tmp_path, args, phrase):
    run = carl_in_process("evaluate", "frozen=minilm", "--learning-curve", "--output", tmp_path / "o.json", *args)
    _expect_error(run, phrase)


def test_curve_options_without_learning_curve_are_refused(carl_in_process, tmp_path):
    run = carl_in_process("evaluate", "minilm", "--tasks", "emobank", "--sizes", "100", "--output", tmp_path / "o.json")
    _expect_error(run, "--sizes and --reference belong to --learning-curve")


def test_duplicate_names_are_refused(data_dir, spec):
    with pytest.raises(CarlError, match="one name per model"):
        LC.learning_curve([("a", "minilm"), ("a", "minilm")], spec, data_dir)
    with pytest.raises(DataError, match="fewer than the smallest learning-curve size"):
        LC.learning_curve([("a", "minilm")], spec, data_dir, sizes=[5000])
