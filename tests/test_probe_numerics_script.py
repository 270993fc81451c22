"""scripts/probe_numerics.py captures the evaluation's own probe inputs and refits carl's probe on them under the
committed and a tight lbfgs setting (the probes' machine noise, issue 38)."""

from __future__ import annotations

import numpy as np
import pytest
from script_loading import load_script

from carl.evaluation.probes import classification_probe


def test_the_captured_inputs_are_what_the_evaluation_gives_its_probe(tiny_encoder, data_dir, tmp_path):
    script = load_script("probe_numerics")
    script.capture(str(tiny_encoder), ["sst5"], str(data_dir), 40, 30, 0, tmp_path)
    saved = np.load(tmp_path / "sst5.npz")
    assert saved["train_x"].shape == (40, 32) and saved["dev_x"].shape == (30, 32)
    assert saved["train_x"].dtype == np.float32 and set(saved["dev_y"]) <= set(saved["train_y"])
    import carl.evaluation.tasks as evaluation_tasks
    assert evaluation_tasks.classification_probe is classification_probe  # the recorder is gone afterwards

    fits = script.fit_scores(tmp_path, ["sst5"])
    committed, tight = (fits[name]["sst5"] for name in script.SETTINGS)
    direct = classification_probe(saved["train_x"], saved["train_y"], saved["dev_x"], saved["dev_y"], None, None)
    assert committed == direct.dev_scores  # the committed setting is carl's probe as every grid ran it
    assert list(tight) == list(direct.dev_scores) and all(0 <= v <= 1 for v in tight.values())


def test_the_report_names_the_largest_gap_between_thread_counts():
    script = load_script("probe_numerics")
    one = {name: {"sst5": {"C=1": 0.30, "C=10": 0.35}} for name in script.SETTINGS}
    two = {name: {"sst5": {"C=1": 0.30, "C=10": 0.35 + 0.004 * i}} for i, name in enumerate(script.SETTINGS)}
    gaps = {name: {"sst5": script.largest_gap(one[name]["sst5"], two[name]["sst5"])} for name in script.SETTINGS}
    committed, tight = script.SETTINGS
    assert gaps[committed]["sst5"] == 0 and gaps[tight]["sst5"] == pytest.approx(0.004)
    text = script.markdown({"command": "python scripts/probe_numerics.py", "model": "minilm", "tasks": ["sst5"],
                            "max_train": 40, "max_eval": 30, "split_seed": 0, "embedding_max_abs_diff": {"sst5": 0.0},
                            "fits": {"1": one, "2": two}, "thread_gap": gaps, "machine": "a CPU, 2 cores",
                            "date": "2026-12-07"})
    assert f"| {tight} | sst5 | 2 | 0.30000 | 0.35400 |" in text
    assert f"| {committed} | 0.00000 |" in text and f"| {tight} | 0.00400 |" in text
    assert "threads: sst5 0." in text
