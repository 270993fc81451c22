"""`carl plot-va` on a real scored table: EmoBank's 10,062 texts with their gold V-A as the
`valence` / `arousal` columns (what `carl predict-va` writes), the genre from EmoBank's
metadata as the group, and synthesised dates. The aggregates the plots draw are checked
against sums computed here independently, in every input format and batch size."""

import csv
import datetime as dt
import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from matplotlib.image import imread
from scipy import stats

from carl.errors import DataError
from carl.evaluation.va_plots import density_by_group, va_over_time

START = dt.date(2024, 1, 1)  # a Monday


@pytest.fixture(scope="module")
def scored(data_dir, tmp_path_factory):
    """{"rows": [(text, valence, arousal, genre, date)], "parquet": path (row groups of 1,000)}."""
    from carl.data import load_corpus

    records = load_corpus("emobank", data_dir)
    with open(data_dir / "emobank" / "corpus_meta.tsv", encoding="utf-8") as f:
        genre = {row["id"]: row["category"] for row in csv.DictReader(f, delimiter="\t")}
    rows = [(r.text, r.valence, r.arousal, genre[r.id], START + dt.timedelta(days=(i * 7) % 182))
            for i, r in enumerate(records)]
    folder = tmp_path_factory.mktemp("scored")
    table = pa.table({"text": [r[0] for r in rows], "valence": [r[1] for r in rows], "arousal": [r[2] for r in rows],
                      "genre": [r[3] for r in rows], "date": [r[4] for r in rows]})
    pq.write_table(table, folder / "scores.parquet", row_group_size=1000)
    return {"rows": rows, "parquet": folder / "scores.parquet", "folder": folder}


def expected_by_genre(rows):
    out = {}
    for _, v, a, g, _ in rows:
        out.setdefault(g, []).append((v, a))
    return {g: np.array(values) for g, values in out.items()}


def test_density_per_genre_matches_the_table_and_is_drawn_capped(scored, tmp_path):
    result = density_by_group(scored["parquet"], "genre", tmp_path / "density.png", bins=20, max_groups=4,
                              batch_rows=1000)
    expected = expected_by_genre(scored["rows"])
    assert len(expected) == 7 and result.rows == 10_062 and result.skipped == {} and result.outside_range == 0
    assert [g.group for g in result.groups] == sorted(expected, key=lambda g: (-len(expected[g]), g))
    assert result.plotted == [g.group for g in result.groups[:4]]  # capped: the 4 largest of 7
    for group in result.groups:
        va = expected[group.group]
        assert group.n == len(va)
        assert group.mean_valence == pytest.approx(va[:, 0].mean(), abs=1e-12)
        assert group.mean_arousal == pytest.approx(va[:, 1].mean(), abs=1e-12)
        assert group.histogram.sum() == len(va)
    fiction = next(g for g in result.groups if g.group == "fiction")
    reference, _, _ = np.histogram2d(expected["fiction"][:, 0], expected["fiction"][:, 1], bins=20,
                                     range=[[0, 1], [0, 1]])
    np.testing.assert_array_equal(fiction.histogram, reference)
    image = imread(result.path)
    assert image.shape[:2] == (900, 1260)  # 2 rows x 3 panels of 3.3 in at 120 dpi, with margins
    assert image[..., :3].std() > 0.05  # not a blank canvas


def test_batch_size_does_not_change_the_aggregates(scored, tmp_path):
    small = density_by_group(scored["parquet"], "genre", None, bins=20, batch_rows=333)
    whole = density_by_group(scored["parquet"], "genre", None, bins=20, batch_rows=100_000)
    assert small.path is None and not list(tmp_path.iterdir())  # aggregates only, no figure
    for g_small, g_whole in zip(small.groups, whole.groups):
        assert (g_small.group, g_small.n) == (g_whole.group, g_whole.n)
        np.testing.assert_array_equal(g_small.histogram, g_whole.histogram)
        assert g_small.mean_valence == pytest.approx(g_whole.mean_valence, abs=1e-12)


def week_stats(rows, group=None):
    """{monday: (n, mean V, CI V, mean A, CI A)} computed directly from the rows."""
    by_week = {}
    for _, v, a, g, d in rows:
        if group is None or g == group:
            by_week.setdefault(d - dt.timedelta(days=d.weekday()), []).append((v, a))
    out = {}
    for week, values in by_week.items():
        x = np.array(values)
        n = len(x)
        half = stats.t.ppf(0.975, n - 1) * x.std(axis=0, ddof=1) / math.sqrt(n) if n > 1 else [math.nan] * 2
        out[np.datetime64(week, "us")] = (n, x[:, 0].mean(), half[0], x[:, 1].mean(), half[1])
    return out


def check_periods(periods, expected):
    assert [p.period for p in periods] == sorted(expected)
    for p in periods:
        n, mv, cv, ma, ca = expected[p.period]
        assert p.n == n
        assert (p.mean_valence, p.mean_arousal) == (pytest.approx(mv, abs=1e-12), pytest.approx(ma, abs=1e-12))
        assert (p.ci_valence, p.ci_arousal) == (pytest.approx(cv, rel=1e-6), pytest.approx(ca, rel=1e-6))


def test_weekly_means_and_confidence_intervals(scored, tmp_path):
    result = va_over_time(scored["parquet"], "date", tmp_path / "time.png", freq="W", batch_rows=1000)
    expected = week_stats(scored["rows"])
    assert len(expected) == 26
    check_periods(result.periods, expected)
    assert result.freq == "week" and result.rows == 10_062 and result.skipped == {}
    assert imread(result.path).shape[:2] == (7 * 120, 9 * 120)


def test_csv_and_jsonl_inputs_with_string_dates_give_the_same_groups_over_time(scored, tmp_path):
    rows = scored["rows"][::3]
    with open(tmp_path / "scores.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "valence", "arousal", "genre", "date"])
        writer.writerows([t, v, a, g, d.isoformat()] for t, v, a, g, d in rows)
    with open(tmp_path / "scores.jsonl", "w", encoding="utf-8") as f:
        for t, v, a, g, d in rows:
            f.write(json.dumps({"text": t, "valence": v, "arousal": a, "genre": g,
                                "date": f"{d.isoformat()}T12:30:00Z"}) + "\n")
    for name in ("scores.csv", "scores.jsonl"):
        result = va_over_time(tmp_path / name, "date", tmp_path / f"{name}.png", freq="W", by="genre", max_groups=3,
                              batch_rows=500)
        assert result.rows == len(rows) == 3354
        assert len(result.plotted) == 3 and len({p.group for p in result.periods}) == 7
        check_periods([p for p in result.periods if p.group == "letters"], week_stats(rows, "letters"))
        assert result.path.stat().st_size > 10_000


def test_rows_without_scores_or_dates_are_counted_not_hidden(tmp_path):
    table = pa.table({"valence": [0.2, None, float("nan"), 0.8, 0.6], "arousal": [0.5, 0.5, 0.5, 0.9, 0.1],
                      "date": ["2024-01-01", "2024-01-02", "2024-01-03", None, "2024-01-09"],
                      "g": ["x", "x", None, "y", None]})
    pq.write_table(table, tmp_path / "gaps.parquet")
    over_time = va_over_time(tmp_path / "gaps.parquet", "date", tmp_path / "t.png", freq="D")
    assert over_time.skipped == {"no valence/arousal": 2, "no time": 1}
    assert [(str(p.period)[:10], p.n) for p in over_time.periods] == [("2024-01-01", 1), ("2024-01-09", 1)]
    density = density_by_group(tmp_path / "gaps.parquet", "g", tmp_path / "d.png")
    assert density.skipped == {"no valence/arousal": 2}
    assert {g.group: g.n for g in density.groups} == {"x": 1, "y": 1, "(missing)": 1}


def test_clear_errors(scored, tmp_path):
    with pytest.raises(DataError, match=r"no column 'source'; the table has text, valence, arousal, genre, date"):
        density_by_group(scored["parquet"], "source", tmp_path / "x.png")
    with pytest.raises(DataError, match=r"column 'valence' holds double, not dates"):
        va_over_time(scored["parquet"], "valence", tmp_path / "x.png")
    with pytest.raises(DataError, match=r"column 'genre' value 'letters' is not a date"):
        va_over_time(scored["parquet"], "genre", tmp_path / "x.png")
    with pytest.raises(DataError, match=r"more than 1000 distinct values: not a grouping column"):
        density_by_group(scored["parquet"], "text", tmp_path / "x.png")
    with pytest.raises(DataError, match=r"--freq 'fortnight'"):
        va_over_time(scored["parquet"], "date", tmp_path / "x.png", freq="fortnight")
    (tmp_path / "empty.csv").write_text("valence,arousal,genre\n")
    with pytest.raises(DataError, match=r"empty.csv: the scored table is empty"):
        density_by_group(tmp_path / "empty.csv", "genre", tmp_path / "x.png")
    pq.write_table(pa.table({"valence": [0.5], "text": ["a"]}), tmp_path / "no-arousal.parquet")
    with pytest.raises(DataError, match=r"no column 'arousal'.*\n  fix: score the texts first"):
        density_by_group(tmp_path / "no-arousal.parquet", None, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_cli_plot_va(scored, carl_in_process, tmp_path):
    out = tmp_path / "by-genre.png"
    run = carl_in_process("plot-va", scored["parquet"], "--by", "genre", "--max-groups", "4", "--output", out)
    assert run.returncode == 0, run.stderr
    assert "7 groups of genre from 10,062 rows" in run.stdout and "drew the 4 largest of 7 groups" in run.stdout
    assert imread(out).shape[:2] == (900, 1260)
    run = carl_in_process("plot-va", scored["parquet"], "--time", "date", "--freq", "M", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "6 periods of one month from 10,062 rows" in run.stdout and (tmp_path / "scores-va-over-date.png").is_file()
    run = carl_in_process("plot-va", scored["parquet"], "--by", "nope")
    assert run.returncode == 2 and "no column 'nope'" in run.stderr and "Traceback" not in run.stderr


def test_a_folder_of_parquet_parts_with_zoned_timestamps_and_dictionary_groups(tmp_path):
    folder = tmp_path / "scores"
    folder.mkdir()
    stamps = [dt.datetime(2024, 3, d, 23, 30, tzinfo=dt.timezone.utc) for d in (4, 5, 11, 12)]
    for part, rows in enumerate(((0, 1), (2, 3))):
        pq.write_table(pa.table({
            "valence": pa.array([0.1 * (i + 1) for i in rows]), "arousal": pa.array([0.5] * 2),
            "when": pa.array([stamps[i] for i in rows], pa.timestamp("ms", tz="UTC")),
            "src": pa.array(["a", "b"]).dictionary_encode()}), folder / f"part-{part}.parquet")
    (folder / "_SUCCESS").write_text("")  # writers' marker files are not data
    result = va_over_time(folder, "when", None, freq="W", by="src")
    assert [(p.group, str(p.period)[:10], p.n, round(p.mean_valence, 6)) for p in result.periods] == [
        ("a", "2024-03-04", 1, 0.1), ("a", "2024-03-11", 1, 0.3), ("b", "2024-03-04", 1, 0.2), ("b", "2024-03-11", 1, 0.4)]
    assert math.isnan(result.periods[0].ci_valence)  # one text: no interval


def test_memory_does_not_grow_with_the_table(scored, tmp_path):
    """EmoBank multiplied 8x: the Python/numpy peak while aggregating stays that of one batch."""
    import tracemalloc

    table = pq.read_table(scored["parquet"], columns=["valence", "arousal", "genre", "date"])
    pq.write_table(table, tmp_path / "x1.parquet", row_group_size=5000)  # batches of the same size in both
    pq.write_table(pa.concat_tables([table] * 8), tmp_path / "x8.parquet", row_group_size=5000)

    def peak(path, run):
        tracemalloc.start()
        try:
            result = run(path)
            return tracemalloc.get_traced_memory()[1], result
        finally:
            tracemalloc.stop()

    for run in (lambda p: density_by_group(p, "genre", None, batch_rows=5000),
                lambda p: va_over_time(p, "date", None, by="genre", batch_rows=5000)):
        small, one = peak(tmp_path / "x1.parquet", run)
        large, eight = peak(tmp_path / "x8.parquet", run)
        assert eight.rows == 8 * one.rows == 80_496
        assert large < 1.5 * small, (small, large)


# ---------------------------------------------------------------------- points coloured by emotion


def quadrant(v, a):
    return ("joy" if a >= 0.5 else "neutral") if v >= 0.5 else ("anger" if a >= 0.5 else "sadness")


@pytest.fixture(scope="module")
def with_emotions(scored):
    """The scored EmoBank table with an `emotion_1` column as `carl predict-va --emotions` writes it: here a
    label from the gold quadrant (a stand-in for a head's prediction), some rows with no V-A or no emotion."""
    rows = [(t, v, a, g, quadrant(v, a) if i % 97 else None) for i, (t, v, a, g, _) in enumerate(scored["rows"])]
    rows[5] = (rows[5][0], None, rows[5][2], rows[5][3], "joy")  # unscored: counted, not drawn
    table = pa.table({"text": [r[0] for r in rows], "valence": [r[1] for r in rows], "arousal": [r[2] for r in rows],
                      "emotion_1": [r[4] for r in rows], "emotion_1_score": [0.5] * len(rows),
                      "genre": [r[3] for r in rows]})
    path = scored["folder"] / "emotions.parquet"
    pq.write_table(table, path, row_group_size=1000)
    return {"rows": rows, "parquet": path}


def test_scatter_by_emotion_counts_means_and_a_bounded_uniform_sample(with_emotions, tmp_path):
    from carl.evaluation.va_plots import scatter_by_emotion

    rows = [r for r in with_emotions["rows"] if r[1] is not None]
    expected = {}
    for _, v, a, _, e in rows:
        expected.setdefault(e or "(missing)", []).append((v, a))
    result = scatter_by_emotion(with_emotions["parquet"], tmp_path / "s.png", max_points=2000, batch_rows=700)
    assert result.rows == 10_062 and result.skipped == {"no valence/arousal": 1}
    assert result.counts() == dict(sorted(((e, len(x)) for e, x in expected.items()), key=lambda kv: (-kv[1], kv[0])))
    for st in result.stats:
        va = np.array(expected[st.emotion])
        assert st.group == "all" and st.mean_valence == pytest.approx(va[:, 0].mean(), abs=1e-12)
        assert st.mean_arousal == pytest.approx(va[:, 1].mean(), abs=1e-12)
    points = result.points
    assert result.sampled and len(points["valence"]) == 2000
    share = np.mean(points["emotion"] == "neutral")  # a uniform sample keeps the shares (binomial sd ~0.01)
    assert abs(share - len(expected["neutral"]) / len(rows)) < 0.04
    assert all(e in ("(missing)", quadrant(v, a))  # each point keeps its own row's emotion
               for v, a, e in zip(points["valence"], points["arousal"], points["emotion"]))
    same = scatter_by_emotion(with_emotions["parquet"], None, max_points=2000, batch_rows=5000)
    np.testing.assert_array_equal(same.points["valence"], points["valence"])  # the sample ignores batch sizes
    image = imread(result.path)
    assert image[..., :3].std() > 0.05
    joy = np.array([0xF2, 0xA9, 0x00]) / 255  # the fixed joy colour is on the canvas
    assert (np.abs(image[..., :3] - joy).max(axis=-1) < 0.08).sum() > 100


def test_scatter_by_emotion_per_group_and_every_point_when_few(with_emotions, tmp_path):
    from carl.evaluation.va_plots import scatter_by_emotion

    result = scatter_by_emotion(with_emotions["parquet"], None, by="genre", max_groups=2)
    assert not result.sampled and len(result.points["valence"]) == 10_061
    assert len(result.groups) == 7 and result.plotted == result.groups[:2]
    fiction = [r for r in with_emotions["rows"] if r[3] == "fiction" and r[1] is not None and r[4] == "joy"]
    assert result.counts("fiction")["joy"] == len(fiction)


def test_plot_va_colour_by_emotion_cli_and_the_missing_column(scored, with_emotions, carl_in_process, tmp_path):
    run = carl_in_process("plot-va", with_emotions["parquet"], "--colour-by-emotion", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "10,061 texts, 5 emotions (" in run.stdout and (tmp_path / "emotions-va-by-emotion.png").is_file()
    run = carl_in_process("plot-va", scored["parquet"], "--colour-by-emotion", "--output", tmp_path / "x.png")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "no column 'emotion_1' (the dominant emotion, which `carl predict-va --emotions` writes)" in run.stderr
    assert "--emotions` writes emotion_1" in run.stderr and "carl fit-heads MODEL" in run.stderr
    run = carl_in_process("plot-va", with_emotions["parquet"], "--colour-by-emotion", "--time", "date")
    assert run.returncode == 2 and "does not combine with --time" in run.stderr
    assert not (tmp_path / "x.png").exists()
