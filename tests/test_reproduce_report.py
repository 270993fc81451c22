"""`carl reproduce` report helpers (headline and versus tables, counts above every baseline,
recorded commits, dev leaders) and the grid's plots."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from carl import reproduce as rp


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_against_every_baseline_counts_tasks_above_the_best_baseline():
    found = [
        ("frozen encoder", {"emobank": {"pearson_mean": 0.30}, "sst2": {"accuracy": 0.80}}, {}),
        ("SupCon", {"emobank": {"pearson_mean": 0.50}, "sst2": {"accuracy": 0.85}}, {}),
        ("SupCon", {"emobank": {"pearson_mean": 0.52}, "sst2": {"accuracy": 0.87}}, {}),
        ("CARL+", {"emobank": {"pearson_mean": 0.60}, "sst2": {"accuracy": 0.84}}, {}),
        ("CARL+", {"emobank": {"pearson_mean": 0.62}, "sst2": {"accuracy": 0.86}}, {}),
    ]
    lines = rp.against_every_baseline(found, "CARL+", ["frozen encoder", "SupCon", "not run"]).splitlines()
    assert lines[2] == "| emobank pearson_mean | 0.610 ± 0.014 | SupCon | 0.510 | +0.100 | yes, clearly |"
    assert lines[3] == "| sst2 accuracy | 0.850 ± 0.014 | SupCon | 0.860 | -0.010 | no |"
    assert lines[-1].startswith("| **tasks above every baseline** | **1 of 2** (clearly: 1)")
    assert rp.against_every_baseline(found, "absent", ["SupCon"]) == ""
    counts = rp.above_every_baseline_counts(found, ["CARL+", "absent"], ["frozen encoder", "SupCon"]).splitlines()
    assert counts[2:] == ["| CARL+ | 2 | 1 of 2 | 1 | 1 of 1 | 0 of 1 | emobank |"]
    assert rp.above_every_baseline_counts(found, ["absent"], ["SupCon"]) == ""


def test_stat_cell_mean_and_sample_std():
    assert rp._stat_cell([]) == "–"
    assert rp._stat_cell([None, None]) == "–"
    assert rp._stat_cell([0.5]) == "0.500"
    assert rp._stat_cell([1.0, 2.0, 3.0]) == "2.000 ± 1.000"  # ddof=1: sqrt(2/2)
    assert rp._stat_cell([0.6, None, 0.8]) == "0.700 ± 0.141"  # None skipped; sqrt(0.02)
    assert rp._stat_cell([0.25, 0.75], digits=2) == "0.50 ± 0.35"
    values = [0.1, 0.4, 0.35, 0.9]
    mean, std = np.mean(values), np.std(values, ddof=1)
    assert rp._stat_cell(values) == f"{mean:.3f} ± {std:.3f}"


def _found():
    return [
        ("frozen encoder", {"emobank": {"pearson_mean": 0.3}, "sst2": {"accuracy": 0.8}, "_meta": {}}, {}),
        ("CARL", {"emobank": {"pearson_mean": 0.6}, "_meta": {}}, {}),
        ("CARL", {"emobank": {"pearson_mean": 0.8}, "sst2": {"accuracy": 0.9}, "_meta": {}}, {}),
        ("SimCSE", {"emobank": {"pearson_mean": 0.4}, "sst2": {"accuracy": 0.7}, "_meta": {}}, {}),
    ]


def test_headline_table():
    table = rp.headline_table(_found(), {"frozen encoder": "reference", "CARL": "CARL", "SimCSE": "baseline"})
    assert table.splitlines() == [
        "| variant | group | seeds | emobank pearson_mean | sst2 accuracy |",
        "|---|---|---|---|---|",
        "| frozen encoder | reference | 1 | 0.300 | 0.800 |",
        "| CARL | CARL | 2 | 0.700 ± 0.141 | 0.900 |",
        "| SimCSE | baseline | 1 | 0.400 | 0.700 |",
    ]


def test_headline_table_geometry_columns_and_unknown_group():
    found = [("CARL", {"emobank": {"pearson_mean": 0.5}, "geometry": {"alignment_va": 0.2, "uniformity_emobank": -1.0}},
              {}),
             ("CARL", {"emobank": {"pearson_mean": 0.7}, "geometry": {"alignment_va": 0.4, "uniformity_emobank": -3.0}},
              {})]
    lines = rp.headline_table(found, {}).splitlines()
    assert lines[0] == ("| variant | group | seeds | emobank pearson_mean | geometry alignment_va ↓ "
                        "| geometry uniformity_emobank ↓ |")
    assert lines[2] == "| CARL |  | 2 | 0.600 ± 0.141 | 0.300 ± 0.141 | -2.000 ± 1.414 |"


def _assert_png(path: pathlib.Path) -> None:
    assert path.is_file()
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 5000


def test_plot_variant_bars(tmp_path):
    from carl.evaluation.plots import plot_variant_bars

    out = plot_variant_bars(_found(), rp.HEADLINE, tmp_path / "sub" / "bars.png")
    assert out == tmp_path / "sub" / "bars.png"
    _assert_png(out)
    with pytest.raises(ValueError):
        plot_variant_bars([], rp.HEADLINE, tmp_path / "empty.png")
    with pytest.raises(ValueError):  # runs, but none holds a headline task
        plot_variant_bars([("CARL", {"unknown-task": {"x": 1.0}}, {})], rp.HEADLINE, tmp_path / "none.png")
    assert not (tmp_path / "empty.png").exists() and not (tmp_path / "none.png").exists()


def test_variant_bars_keep_every_title_inside_the_figure():
    """A long task: metric title ("dailydialog: macro_f1_without_no_emotion") in the last column ran off the
    right edge of results/headlines-cpu/summary-bars.png."""
    from carl.evaluation.plots import variant_bars_figure

    tasks = ["facebook-va", "goemotions-10", "goemotions-ekman", "dailydialog"]
    found = [(label, {t: {rp.HEADLINE[t]: 0.3 + 0.01 * i + 0.02 * seed} for t in tasks}, {})
             for i, label in enumerate(["frozen encoder", "supervised CE (emotion classes)", "V-A regression"])
             for seed in range(2)]
    fig = variant_bars_figure(found, {t: rp.HEADLINE[t] for t in tasks})
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)  # the canvas savefig uses for PNG
    canvas.draw()
    renderer, width = canvas.get_renderer(), fig.bbox.width
    titles = [ax.title for ax in fig.axes if ax.get_visible()]
    assert len(titles) == 4 and "without no emotion" in titles[-1].get_text()
    for title in titles:
        box = title.get_window_extent(renderer)
        assert 0 <= box.x0 and box.x1 <= width, (title.get_text(), box.x1, width)


def test_plot_dev_curves(tmp_path):
    from carl.evaluation.plots import plot_dev_curves

    curves = {"CARL": [{"step": 0, "dev/va_pearson": 0.1}, {"step": 1, "loss": 1.0},
                       {"step": 100, "dev/va_pearson": 0.3}, {"step": 200, "dev/va_pearson": 0.35}],
              "SimCSE": [{"step": 0, "dev/va_pearson": 0.1}, {"step": 200, "dev/va_pearson": 0.2}]}
    out = plot_dev_curves(curves, tmp_path / "dev.png")
    _assert_png(out)
    with pytest.raises(ValueError):
        plot_dev_curves({}, tmp_path / "empty.png")
    with pytest.raises(ValueError):  # no run logged the key
        plot_dev_curves({"CARL": [{"step": 1, "loss": 1.0}]}, tmp_path / "nokey.png")
    with pytest.raises(ValueError):
        plot_dev_curves({"CARL": []}, tmp_path / "norows.png")
    assert not any((tmp_path / n).exists() for n in ("empty.png", "nokey.png", "norows.png"))


def test_headline_table_shows_a_dash_for_a_missing_metric():
    table = rp.headline_table([("CARL", {"emobank": {"n_test": 3}}, {})], {"CARL": "CARL"})
    row = table.splitlines()[2]
    assert row.startswith("| CARL | CARL | 1 | –")


def test_versus_table_counts_above_below_and_clear_gaps():
    def res(emobank, fb, carer):
        return {"emobank": {"pearson_mean": emobank}, "facebook-va": {"pearson_mean": fb},
                "carer": {"macro_f1": carer}, "geometry": {"alignment_va": 9.0}}

    found = [("CARL", res(0.50, 0.70, 0.40), {}), ("CARL", res(0.52, 0.72, 0.40), {}),
             ("SupCon", res(0.60, 0.69, 0.41), {}), ("SupCon", res(0.62, 0.71, 0.41), {}),
             ("one seed", res(0.90, 0.10, 0.40), {})]
    table = rp.versus_table(found, "CARL").splitlines()
    assert table[0].startswith("| variant | seeds | above CARL | clearly above |")
    # emobank: +0.10 > sqrt(2) * 0.0141 -> clearly above; facebook-va: -0.01, within the spread; carer: +0.01, no spread
    # (std 0 on both sides), so clearly above too.
    assert table[2] == "| SupCon | 2 | 2 of 3 | 2 | 1 | 0 | +0.033 | +0.100 | -0.010 |"
    # One seed: directions are counted, no gap is clear; carer is a tie (neither above nor below).
    assert table[3] == "| one seed | 1 | 1 of 3 | 0 | 1 | 0 | -0.073 | +0.390 | -0.610 |"
    assert rp.versus_table(found[2:], "CARL") == ""  # no reference, no table


def test_recorded_commit_is_flagged_by_code_changes_not_by_results(tmp_path):
    import subprocess

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "src").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "src/code.py").write_text("x = 1\n")
    (tmp_path / "results/metrics.jsonl").write_text("{}\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    clean = rp.git_commit(tmp_path)
    assert clean and "uncommitted" not in clean and clean != "unknown"
    (tmp_path / "results/metrics.jsonl").write_text("{}\n{}\n")  # the grid rewriting its own output
    assert rp.git_commit(tmp_path) == clean
    (tmp_path / "src/code.py").write_text("x = 2\n")
    assert rp.git_commit(tmp_path) == clean + " (with uncommitted changes)"


def test_late_ptd_losses_average_the_last_quarter_of_finished_ptd_runs(tmp_path):
    base, jobs = rp.plan(rp.PRESETS["cpu"], tmp_path, variants=["carl", "no-ptd", "simcse"], seeds=[0, 1])
    by_key = {(j.variant.name, j.seed): j for j in jobs}
    for key, ptd in [(("carl", 0), 0.5), (("carl", 1), 0.25), (("no-ptd", 0), 0.0), (("simcse", 0), None)]:
        job = by_key[key]
        job.run_dir.mkdir(parents=True)
        rows = [{"step": 0, "event": "start"}] + [
            {"step": step, "loss": 1.0, **({"loss_ptd": ptd * step / 100} if ptd is not None else {})}
            for step in (25, 50, 75, 100)]
        (job.run_dir / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        job.eval_path.parent.mkdir(parents=True, exist_ok=True)
        job.eval_path.write_text("{}")
    # carl seed 1 has no evaluation yet: not finished, so not reported.
    by_key[("carl", 1)].eval_path.unlink()
    # Last quarter of 100 steps = the logged steps 100 (> 75): carl seed 0 -> 0.5.
    assert rp.late_ptd_losses(jobs) == {"carl": [(0, pytest.approx(0.5))]}


def test_dev_leader_table_means_over_finished_seeds_and_marks_the_leader(tmp_path):
    _, jobs = rp.plan(rp.PRESETS["cpu"], tmp_path, variants=["carl", "supcon"], seeds=[0, 1])
    curves = {("carl", 0): [0.50, 0.60, 0.64], ("carl", 1): [0.50, 0.62, 0.66],
              ("supcon", 0): [0.50, 0.63, 0.62], ("supcon", 1): [0.50, 0.99, 0.99]}  # supcon seed 1 unfinished
    for job in jobs:
        job.run_dir.mkdir(parents=True)
        rows = [{"step": step, "dev/va_pearson": value} for step, value in zip((0, 100, 200), curves[job.variant.name, job.seed])]
        rows.insert(1, {"step": 10, "loss": 1.0})
        (job.run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        if (job.variant.name, job.seed) != ("supcon", 1):
            job.eval_path.parent.mkdir(parents=True, exist_ok=True)
            job.eval_path.write_text("{}")
    means = rp.mean_dev_curves(jobs)
    assert means["CARL"][200] == (pytest.approx(0.65), 2) and means["SupCon"][100] == (0.63, 1)
    lines = rp.dev_leader_table(jobs).splitlines()
    assert lines[0] == "| variant | step 100 | step 200 |"
    assert lines[2] == "| CARL | 0.610 | **0.650** |"
    assert lines[3] == "| SupCon | **0.630** | 0.620 |"


def test_loss_curves_hold_each_finished_seed_once_per_step_and_are_drawn(tmp_path):
    from carl.reproduce.curves import grid_plots, loss_curves

    _, jobs = rp.plan(rp.PRESETS["cpu"], tmp_path, variants=["carl", "simcse"], seeds=[0, 1])
    for job in jobs:
        scale = 5.0 if job.variant.name == "carl" else 0.01  # objectives of very different scale
        rows = [{"step": 0, "event": "start"}, {"step": 0, "dev/va_pearson": 0.5}]
        rows += [{"step": s, "loss": scale * (1 + job.seed) / s} for s in (10, 20, 30)]
        if job.seed == 1:  # resumed from step 20: step 30 logged again, the second value is the run's
            rows += [{"step": 30, "loss": 123.0}, {"step": 40, "loss": scale}]
        job.run_dir.mkdir(parents=True)
        (job.run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        if (job.variant.name, job.seed) != ("simcse", 1):  # unfinished: left out
            job.eval_path.parent.mkdir(parents=True, exist_ok=True)
            job.eval_path.write_text("{}")
    curves = loss_curves(jobs)
    assert set(curves) == {"CARL", "SimCSE"}
    assert curves["CARL"][10] == [pytest.approx(0.5), pytest.approx(1.0)] and curves["CARL"][30] == [
        pytest.approx(5 / 30), 123.0]
    assert curves["CARL"][40] == [5.0] and curves["SimCSE"][10] == [pytest.approx(0.001)] and 0 not in curves["CARL"]
    found = [(label, {"emobank": {"pearson_mean": 0.5}}, {"seed": 0}) for label in ("CARL", "SimCSE")]
    figures = grid_plots(tmp_path, found, jobs)
    assert tmp_path / "loss-curves.png" in figures
    assert (tmp_path / "loss-curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rescored_results_are_named_in_the_report_header():
    from carl.reproduce.report import rescored_notes

    note = {"output": "raw pooled vectors", "why": "one output kind", "command": "python x.py", "commit": "abc"}
    found = [("Frozen", {"_meta": {}}, {"seed": None}),
             ("CARL+ queue", {"_meta": {"rescored": {"carer-mteb": note}}}, {"seed": 1}),
             ("CARL+ queue", {"_meta": {"rescored": {"carer-mteb": note}}}, {"seed": 0}),
             ("CARL+", {"_meta": {}}, {"seed": 0})]
    lines = rescored_notes(found)
    assert lines == ["- **Re-scored:** carer-mteb of CARL+ queue (seeds 0, 1) on raw pooled vectors: one output kind "
                     "(`python x.py`, commit abc)"]
    assert rescored_notes(found[:1]) == []


def test_the_budget_line_names_epochs_or_steps_and_each_variants_fixed_rate():
    import pathlib

    from carl.reproduce.grid import plan
    from carl.reproduce.presets import PRESETS
    from carl.reproduce.report import budget_text

    for name, expected in (("cpu-union-2ep", "2 epochs of batch 32, max_length 64, lr per variant: supervised-ce-emotion "
                                             "0.0003, hybrid-w1 0.0001, carl-plus-queue 0.0001"),
                           ("cpu-union-labels", "1000 steps of batch 32, max_length 64, lr: each variant's choice"),
                           ("cpu-long", "1000 steps of batch 32, max_length 64, lr 3e-05")):
        base, _ = plan(PRESETS[name], pathlib.Path("unused"), seeds=[])
        assert budget_text(base, PRESETS[name]).startswith(expected), name
