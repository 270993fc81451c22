"""Baselines and the reproduction grid: V-A grid classes, the SimCSE / SupCon losses against
hand-written references, each baseline trained for a few steps on real EmoBank rows with a
tiny encoder, ``carl reproduce`` planning / resuming / reporting (training and evaluation
replaced by fakes), and the grid's plots."""

from __future__ import annotations

import json
import math
import pathlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from carl import reproduce as rp
from carl.config import CarlConfig
from carl.data.records import Record
from carl.data.va_grid import LEVELS, VAGrid
from carl.errors import ConfigError, DataError
from carl.losses import SimCSELoss, SupConLoss
from carl.training.trainer import train, training_label_mode

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------ V-A grid


def _rec(v, a, labels=(), i=0) -> Record:
    return Record(text=f"text {i}", valence=v, arousal=a, labels=labels, corpus="toy", split="train", id=str(i))


def _toy_records() -> list[Record]:
    # V = 0..9 and A = 9..0 (reversed) so the two dimensions get different cuts.
    return [_rec(float(v), float(9 - v) * 2, labels=("joy",), i=v) for v in range(10)]


def test_va_grid_cuts_are_training_tertiles():
    records = _toy_records()
    grid = VAGrid.fit(records)
    v = np.array([r.valence for r in records])
    a = np.array([r.arousal for r in records])
    np.testing.assert_allclose(grid.valence_cuts, np.quantile(v, [1 / 3, 2 / 3]))
    np.testing.assert_allclose(grid.arousal_cuts, np.quantile(a, [1 / 3, 2 / 3]))
    assert grid.valence_cuts == pytest.approx((3.0, 6.0))
    assert grid.arousal_cuts == pytest.approx((6.0, 12.0))


def test_va_grid_cells_nine_levels_and_ties_go_up():
    grid = VAGrid(valence_cuts=(0.3, 0.6), arousal_cuts=(0.4, 0.7))
    cells = {grid.cell(v, a) for v in (0.0, 0.45, 0.9) for a in (0.1, 0.5, 0.95)}
    assert cells == {f"V-{lv}/A-{la}" for lv in LEVELS for la in LEVELS}
    assert len(cells) == 9
    # A value exactly on a cut goes to the upper level.
    assert grid.cell(0.3, 0.4) == "V-mid/A-mid"
    assert grid.cell(0.6, 0.7) == "V-high/A-high"
    assert grid.cell(0.2999, 0.3999) == "V-low/A-low"
    assert grid.cell(0.5999, 0.6999) == "V-mid/A-mid"
    # Values outside the training range still get the extreme levels.
    assert grid.cell(-5.0, 5.0) == "V-low/A-high"


def test_va_grid_relabel_keeps_va_and_replaces_labels():
    records = _toy_records()
    grid = VAGrid.fit(records)
    relabelled = grid.relabel(records)
    assert len(relabelled) == len(records)
    for old, new in zip(records, relabelled):
        assert (new.text, new.valence, new.arousal, new.corpus, new.split, new.id) == \
            (old.text, old.valence, old.arousal, old.corpus, old.split, old.id)
        assert new.labels == (grid.cell(old.valence, old.arousal),)
    assert records[0].labels == ("joy",)  # the originals are untouched
    # V 0..9 with cuts 3 and 6: 0-2 low, 3-5 mid, 6-9 high.
    assert [r.labels[0].split("/")[0] for r in relabelled] == ["V-low"] * 3 + ["V-mid"] * 3 + ["V-high"] * 4


def test_va_grid_class_ids_index_the_nine_cells_in_order():
    from carl.data.va_grid import CELLS

    records = _toy_records()
    grid = VAGrid.fit(records)
    ids = grid.class_ids(records)
    assert ids.dtype == np.int64 and ids.shape == (len(records),)
    assert [CELLS[i] for i in ids] == [grid.cell(r.valence, r.arousal) for r in records]
    assert len(set(CELLS)) == 9 and CELLS[0] == "V-low/A-low" and CELLS[-1] == "V-high/A-high"


def test_va_grid_fit_rejects_unrated_records():
    records = _toy_records() + [_rec(None, 0.5, i=99)]
    with pytest.raises(DataError, match="1 of 11"):
        VAGrid.fit(records)
    with pytest.raises(DataError):
        VAGrid.fit([_rec(0.5, None)])
    with pytest.raises(DataError):
        VAGrid.fit([])


def test_va_grid_on_emobank_gives_nine_populated_cells(data_dir):
    from carl.data import load_corpus

    records = load_corpus("emobank", data_dir, ["train"])
    relabelled = VAGrid.fit(records).relabel(records)
    cells = [r.labels[0] for r in relabelled]
    assert len(set(cells)) == 9
    # Tertiles: each level of each dimension holds a sizeable share (ties in the ratings
    # make it only roughly a third).
    for dim in (0, 1):
        counts = {lvl: sum(c.split("/")[dim].endswith(lvl) for c in cells) for lvl in LEVELS}
        assert all(0.2 < n / len(cells) < 0.45 for n in counts.values()), counts


# ------------------------------------------------------------------ losses


def _reference_infonce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    logits = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T / temperature
    return F.cross_entropy(logits, torch.arange(len(a)))


def _reference_supcon_out(a: torch.Tensor, b: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """Khosla et al. 2020, Eq. 2 (L_out), written out loop by loop over the 2N views."""
    z = F.normalize(torch.cat([a, b]), dim=1).double()
    y = torch.cat([labels, labels]).tolist()
    sim = z @ z.T / temperature
    total = 0.0
    for i in range(len(y)):
        others = [k for k in range(len(y)) if k != i]
        log_denominator = torch.logsumexp(sim[i, others], dim=0)
        positives = [p for p in others if y[p] == y[i]]
        total = total - sum(sim[i, p] - log_denominator for p in positives) / len(positives)
    return total / len(y)


def _reference_nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's NT-Xent over 2N views: the positive is the other view of the same text,
    every other view (of either batch) a negative."""
    z = F.normalize(torch.cat([a, b]), dim=1).double()
    n = len(a)
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, target)


def test_simcse_matches_hand_written_infonce():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(16, 24, generator=gen), torch.randn(16, 24, generator=gen)
    for temperature in (0.05, 0.5):
        ours = SimCSELoss(temperature)(a, b)
        assert ours.shape == ()
        torch.testing.assert_close(ours, _reference_infonce(a, b, temperature), atol=1e-5, rtol=0)


def test_simcse_close_views_score_lower_and_gradients_flow():
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(16, 32, generator=gen, requires_grad=True)
    close = (a.detach() + 0.01 * torch.randn(16, 32, generator=gen)).requires_grad_(True)
    random = torch.randn(16, 32, generator=gen)
    loss_fn = SimCSELoss()
    low, high = loss_fn(a, close), loss_fn(a, random)
    assert low < 0.1 < 1.0 < high
    low.backward()
    for grad in (a.grad, close.grad):
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_supcon_matches_khosla_l_out():
    gen = torch.Generator().manual_seed(2)
    a, b = torch.randn(12, 16, generator=gen), torch.randn(12, 16, generator=gen)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 0, 1, 3, 3, 2])
    ours = SupConLoss(0.1)(a, b, labels)
    assert torch.isfinite(ours)
    ref = _reference_supcon_out(a, b, labels, 0.1)
    assert ours.item() == pytest.approx(ref.item(), abs=1e-4)
    # Another temperature is used, not ignored.
    assert SupConLoss(0.5)(a, b, labels).item() == pytest.approx(_reference_supcon_out(a, b, labels, 0.5).item(),
                                                                 abs=1e-4)


def test_supcon_with_distinct_labels_is_nt_xent_over_both_views():
    gen = torch.Generator().manual_seed(3)
    a, b = torch.randn(10, 16, generator=gen), torch.randn(10, 16, generator=gen)
    labels = torch.arange(10)
    ours = SupConLoss(0.1)(a, b, labels)
    assert ours.item() == pytest.approx(_reference_nt_xent(a, b, 0.1).item(), abs=1e-4)
    # ... which is not SimCSELoss: that one contrasts only against the other batch's views.
    assert abs(ours.item() - SimCSELoss(0.1)(a, b).item()) > 1e-2


def test_supcon_gradients_flow_and_close_views_score_lower():
    gen = torch.Generator().manual_seed(4)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    centres = torch.randn(4, 16, generator=gen) * 5
    a = (centres[labels] + 0.1 * torch.randn(8, 16, generator=gen)).requires_grad_(True)
    b = centres[labels] + 0.1 * torch.randn(8, 16, generator=gen)
    clustered = SupConLoss()(a, b, labels)
    scattered = SupConLoss()(torch.randn(8, 16, generator=gen), torch.randn(8, 16, generator=gen), labels)
    assert torch.isfinite(clustered) and clustered < scattered
    clustered.backward()
    assert torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0


# ------------------------------------------------------------------ baselines in the trainer


def baseline_config(tiny_encoder, data_dir, output_dir, overrides: dict) -> CarlConfig:
    base = {"data.train": ["emobank"], "data.data_dir": str(data_dir), "data.max_length": 24,
            "model.name_or_path": str(tiny_encoder), "model.projection_hidden": 32, "model.projection_dim": 16,
            "train.batch_size": 8, "train.max_steps": 3, "train.eval_every": 100, "train.save_every": 100,
            "train.log_every": 1, "train.output_dir": str(output_dir),
            "ptd.epsilon": 1e-2, "ptd.relative_epsilon": True}
    return CarlConfig().override({**base, **overrides})


def _query_weight(state: dict) -> torch.Tensor:
    key = next(k for k in state if k.endswith("encoder.layer.0.attention.self.query.weight"))
    return state[key]


@pytest.mark.parametrize("name, overrides", [
    ("supervised", {"objective.name": "supervised", "data.discrete_labels": "va_grid"}),
    ("simcse", {"objective.name": "simcse"}),
    ("supcon", {"objective.name": "supcon", "data.discrete_labels": "va_grid"}),
    ("one-hot", {"mccl.label_mode": "one_hot", "data.discrete_labels": "va_grid"}),
])
def test_baselines_and_one_hot_ablation_train(name, overrides, tiny_encoder, data_dir, tmp_path):
    out = tmp_path / name
    result = train(baseline_config(tiny_encoder, data_dir, out, overrides), progress=False)
    assert result.finished and result.steps == 3
    assert (out / "summary.json").is_file()
    assert json.loads((out / "summary.json").read_text())["steps"] == 3
    assert CarlConfig.load(out / "config.yaml").to_dict() == \
        baseline_config(tiny_encoder, data_dir, out, overrides).to_dict()
    # The exported model: a sentence-transformers folder with changed encoder weights.
    model = out / "model"
    assert (model / "modules.json").is_file() and (model / "config.json").is_file()
    meta = json.loads((model / "carl.json").read_text())
    assert meta["step"] == 3 and meta["config"]["objective"]["name"] == overrides.get("objective.name", "carl")
    initial = _query_weight(load_file(tiny_encoder / "model.safetensors"))
    trained = _query_weight(load_file(model / "model.safetensors"))
    assert trained.shape == initial.shape
    assert not torch.equal(trained, initial)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    losses = [r for r in rows if "loss" in r]
    assert [r["step"] for r in losses] == [1, 2, 3]
    assert all(math.isfinite(r["loss"]) and r["loss"] > 0 for r in losses)
    if name != "one-hot":  # baselines report no CARL components
        assert all(r["loss_mccl"] == 0 and r["loss_ptd"] == 0 for r in losses)
    assert any("dev/va_pearson" in r for r in rows)


@pytest.mark.parametrize("objective", ["supervised", "supcon"])
def test_class_baselines_on_va_corpus_need_va_grid(objective, tiny_encoder, data_dir, tmp_path):
    cfg = baseline_config(tiny_encoder, data_dir, tmp_path / objective, {"objective.name": objective})
    with pytest.raises(DataError, match="va_grid"):
        train(cfg, progress=False)
    assert not (tmp_path / objective / "model").exists()


def test_training_label_mode():
    assert training_label_mode(CarlConfig()) == "continuous"
    assert training_label_mode(CarlConfig().override({"mccl.label_mode": "one_hot"})) == "one_hot"
    for name, mode in {"simcse": "none", "supervised": "one_hot", "supcon": "one_hot"}.items():
        for label_mode in ("continuous", "one_hot"):
            cfg = CarlConfig().override({"objective.name": name, "mccl.label_mode": label_mode})
            assert training_label_mode(cfg) == mode, (name, label_mode)


# ------------------------------------------------------------------ carl reproduce: plan and variants


def test_variants_unique_and_their_overrides_valid():
    names = [v.name for v in rp.VARIANTS]
    labels = [v.label for v in rp.VARIANTS]
    assert len(set(names)) == len(names) and len(set(labels)) == len(labels)
    assert set(rp.VARIANT_BY_NAME) == set(names)
    assert {"carl", "supervised-ce", "simcse", "supcon"} <= set(names)
    default = CarlConfig().to_dict()
    for variant in rp.VARIANTS:
        cfg = CarlConfig().override(dict(variant.overrides)).validate()
        raw = cfg.to_dict()
        for key, value in variant.overrides.items():
            section, name = key.split(".")
            assert raw[section][name] == value, (variant.name, key)
        # Every variant but CARL itself changes something.
        assert (raw != default) == (variant.name != "carl"), variant.name
    for variant in rp.VARIANTS:  # classes are needed exactly when an objective needs them
        cfg = CarlConfig().override(dict(variant.overrides))
        if training_label_mode(cfg) == "one_hot":
            assert cfg.data.discrete_labels == "va_grid", variant.name


def test_plan_is_seed_major_and_applies_overrides(tmp_path):
    base, jobs = rp.plan(rp.PRESETS["cpu"], tmp_path, variants=["simcse", "carl", "supcon"], seeds=[3, 1],
                         model="some-model", data_dir="/data", extra={"train.batch_size": 8})
    assert [(j.variant.name, j.seed) for j in jobs] == [
        ("simcse", 3), ("carl", 3), ("supcon", 3), ("simcse", 1), ("carl", 1), ("supcon", 1)]
    assert base.train.max_steps == 200 and base.train.eval_every == 100  # the preset's overrides
    assert base.model.name_or_path == "some-model" and base.data.data_dir == "/data"
    assert base.train.batch_size == 8
    for job in jobs:
        assert job.run_dir == tmp_path / "runs" / job.variant.name / f"seed{job.seed}"
        assert job.eval_path == tmp_path / "evals" / job.variant.name / f"seed{job.seed}.json"
        assert job.config.train.seed == job.seed
        assert job.config.train.output_dir == str(job.run_dir)
        assert job.config.train.max_steps == 200 and job.config.train.batch_size == 8
        assert job.config.model.name_or_path == "some-model"
    by = {(j.variant.name, j.seed): j.config for j in jobs}
    assert by["carl", 3].objective.name == "carl" and by["carl", 3].data.discrete_labels == "native"
    assert by["simcse", 1].objective.name == "simcse"
    assert by["supcon", 1].objective.name == "supcon" and by["supcon", 1].data.discrete_labels == "va_grid"
    assert not (tmp_path / "runs").exists()  # planning creates nothing


def test_plan_all_variants_default_seeds(tmp_path):
    _, jobs = rp.plan(rp.PRESETS["cpu"], tmp_path)
    assert len(jobs) == len(rp.VARIANTS) * len(rp.PRESETS["cpu"].seeds)
    assert [j.seed for j in jobs[:len(rp.VARIANTS)]] == [0] * len(rp.VARIANTS)
    assert [j.variant for j in jobs[:len(rp.VARIANTS)]] == rp.VARIANTS
    for job in jobs:
        raw = job.config.to_dict()
        for key, value in job.variant.overrides.items():
            section, name = key.split(".")
            assert raw[section][name] == value, (job.variant.name, key)


def test_budget_study_preset_trains_its_own_variants_longer(tmp_path):
    base, jobs = rp.plan(rp.PRESETS["cpu-long"], tmp_path, seeds=[0])
    assert [j.variant.name for j in jobs] == list(rp.BUDGET_STUDY_VARIANTS)
    assert base.train.max_steps == 1000 and base.train.eval_every == 100
    assert rp.PRESETS["cpu-long"].max_train > rp.PRESETS["cpu"].max_train
    plus = next(j for j in jobs if j.variant.name == "carl-plus").config
    assert plus.mccl.label_similarity == "neg_sq_distance" and not plus.mccl.projection_heads
    assert not plus.ptd.enabled and not plus.mccl.momentum
    assert rp.VARIANT_BY_NAME["carl-plus"].label.startswith("CARL")
    queue = next(j for j in jobs if j.variant.name == "carl-plus-queue").config
    assert queue.mccl.queue_size == 256 and rp.VARIANT_BY_NAME["carl-plus-queue"].label.startswith("CARL")


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
    assert counts[2:] == ["| CARL+ | 2 | 1 of 2 | 1 | emobank |"]
    assert rp.above_every_baseline_counts(found, ["absent"], ["SupCon"]) == ""


def test_plan_rejects_unknown_variant_and_preset(tmp_path):
    with pytest.raises(ConfigError, match="no-such-variant"):
        rp.plan(rp.PRESETS["cpu"], tmp_path, variants=["carl", "no-such-variant"])
    with pytest.raises(ConfigError, match="preset"):
        rp.reproduce("tpu", tmp_path)
    assert not any(tmp_path.iterdir())


# ------------------------------------------------------------------ carl reproduce: report helpers


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


# ------------------------------------------------------------------ carl reproduce: resumable grid


class FakeGrid:
    """Stands in for training (writes summary.json + metrics.jsonl) and evaluation (a score
    that depends on which model is evaluated)."""

    SCORES = {"carl": {0: 0.6, 1: 0.7}, "simcse": {0: 0.4, 1: 0.5}}

    def __init__(self, fail_on_train_call: int | None = None):
        self.trained: list[tuple[str, int]] = []
        self.evaluated: list[str] = []
        self.finetuned: list[tuple[str, str, int]] = []
        self.fail_on_train_call = fail_on_train_call

    def train_job(self, job, *, keep_checkpoints=False):
        self.trained.append((job.variant.name, job.seed))
        if self.fail_on_train_call is not None and len(self.trained) == self.fail_on_train_call:
            raise RuntimeError("simulated interruption")
        (job.run_dir / "model").mkdir(parents=True, exist_ok=True)
        (job.run_dir / "metrics.jsonl").write_text(
            "\n".join(json.dumps(r) for r in [{"step": 0, "dev/va_pearson": 0.1}, {"step": 1, "loss": 2.0},
                                              {"step": 2, "dev/va_pearson": 0.3}]) + "\n")
        (job.run_dir / "summary.json").write_text(json.dumps({"steps": 2, "best_step": 2,
                                                              "best_dev_va_pearson": 0.3, "seconds": 12.0}))
        return 12.0

    def run_tasks(self, model_ref, tasks, data_dir=None, **kwargs):
        self.evaluated.append(str(model_ref))
        path = pathlib.Path(model_ref)
        if path.name == "model":  # runs/VARIANT/seedS/model
            score = self.SCORES[path.parent.parent.name][int(path.parent.name.removeprefix("seed"))]
        else:
            score = 0.3  # the frozen encoder
        return {"emobank": {"pearson_mean": score, "n_test": 10},
                "_meta": {"model": str(model_ref), "details": {"emobank": {"dev_scores": {"alpha=1": score}}}}}

    def finetune(self, model_ref, task, data_dir=None, *, seed=0, **kwargs):
        self.finetuned.append((str(model_ref), task, seed))
        base = 0.5 if model_ref == "minilm" else 0.6
        score = base + 0.1 * seed
        from carl.evaluation.finetune import PROTOCOL_VERSION

        meta = {"best_step": 100 + seed, "steps": kwargs["steps"], "protocol_version": PROTOCOL_VERSION}
        if task == "emobank":
            return {"pearson_mean": score, "pearson_v": score + 0.1, "pearson_a": score - 0.1, "_meta": meta}
        return {"macro_f1": score / 2, "accuracy": score, "_meta": meta}


@pytest.fixture
def fake_grid(monkeypatch):
    import carl.evaluation.tasks

    import carl.evaluation.finetune

    def install(fake: FakeGrid) -> FakeGrid:
        monkeypatch.setattr(rp, "train_job", fake.train_job)  # the grid's training jobs (carl.reproduce.reproduce)
        monkeypatch.setattr(rp.grid, "train_job", fake.train_job)  # re-training for the fine-tune stage
        monkeypatch.setattr(carl.evaluation.tasks, "run_tasks", fake.run_tasks)
        monkeypatch.setattr(carl.evaluation.finetune, "finetune", fake.finetune)
        return fake

    return install


def test_reproduce_is_resumable_and_reports(fake_grid, tmp_path):
    out = tmp_path / "grid"
    kwargs = dict(variants=["carl", "simcse"], seeds=[0, 1], plots=False, command="carl reproduce test")

    # 1. Interrupted during the third job (seed-major: carl 0, simcse 0, carl 1 ...).
    first = fake_grid(FakeGrid(fail_on_train_call=3))
    with pytest.raises(RuntimeError, match="simulated"):
        rp.reproduce("cpu", out, **kwargs)
    assert first.trained == [("carl", 0), ("simcse", 0), ("carl", 1)]
    assert first.evaluated == ["minilm", str(out / "runs/carl/seed0/model"), str(out / "runs/simcse/seed0/model")]
    report = (out / "REPORT.md").read_text()
    assert "2 of 4 training runs evaluated (incomplete" in report
    assert (out / "evals/frozen/seed0.json").is_file() and (out / "base-config.yaml").is_file()
    record = json.loads((out / "evals/carl/seed0.json").read_text())
    assert record["variant"] == "carl" and record["seed"] == 0 and record["train_seconds"] == 12.0
    assert record["best_step"] == 2 and record["result"]["emobank"]["pearson_mean"] == 0.6

    # 2. Re-run: only the missing jobs are trained and evaluated.
    second = fake_grid(FakeGrid())
    path = rp.reproduce("cpu", out, **kwargs)
    assert path == out / "REPORT.md"
    assert second.trained == [("carl", 1), ("simcse", 1)]
    assert second.evaluated == [str(out / "runs/carl/seed1/model"), str(out / "runs/simcse/seed1/model")]
    report = path.read_text()
    assert "**Status:** 4 of 4 training runs evaluated." in report and "incomplete" not in report
    assert "| frozen encoder | reference | 1 | 0.300 |" in report
    assert "| CARL | CARL | 2 | 0.650 ± 0.071 |" in report
    assert "| SimCSE | baseline | 2 | 0.450 ± 0.071 |" in report
    assert "| SimCSE | baseline | unsupervised SimCSE" in report  # the variants section
    assert "supervised CE" not in report  # only the chosen variants are described
    assert "carl reproduce test" in report
    summary = json.loads((out / "report.json").read_text())
    assert summary["summary"]["CARL"]["emobank"]["pearson_mean"]["n"] == 2
    # Each probe's dev detail stays in the evaluation files, not repeated in report.json.
    assert all("details" not in run["results"]["_meta"] and run["results"]["_meta"]["model"] for run in summary["runs"])
    assert json.loads((out / "evals/carl/seed1.json").read_text())["result"]["_meta"]["details"]["emobank"]

    # 3. Everything is cached: nothing is trained or evaluated again.
    third = fake_grid(FakeGrid())
    rp.reproduce("cpu", out, **kwargs)
    assert third.trained == [] and third.evaluated == []
    assert "4 of 4 training runs evaluated." in (out / "REPORT.md").read_text()

    # 4. A deleted evaluation re-runs exactly that job.
    (out / "evals/simcse/seed1.json").unlink()
    fourth = fake_grid(FakeGrid())
    rp.reproduce("cpu", out, **kwargs)
    assert fourth.trained == [("simcse", 1)]
    assert fourth.evaluated == [str(out / "runs/simcse/seed1/model")]
    assert (out / "evals/simcse/seed1.json").is_file()
    assert "| SimCSE | baseline | 2 | 0.450 ± 0.071 |" in (out / "REPORT.md").read_text()

    # 5. With plots: the summary bars and dev curves are written and linked.
    fifth = fake_grid(FakeGrid())
    rp.reproduce("cpu", out, **{**kwargs, "plots": True})
    assert fifth.trained == [] and fifth.evaluated == []
    report = (out / "REPORT.md").read_text()
    for name in ("summary-bars.png", "dev-curves.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
        assert f"]({name})" in report


def test_finetune_stage_runs_after_the_probes_is_cached_and_reported(fake_grid, tmp_path):
    out = tmp_path / "grid"
    kwargs = dict(variants=["carl", "simcse"], seeds=[0, 1], plots=False, command="carl reproduce test")

    # Interrupted before the grid's probes are complete: nothing is fine-tuned yet.
    first = fake_grid(FakeGrid(fail_on_train_call=2))
    with pytest.raises(RuntimeError, match="simulated"):
        rp.reproduce("cpu", out, **kwargs)
    assert first.finetuned == []
    assert "Fine-tuning protocol" not in (out / "REPORT.md").read_text()

    second = fake_grid(FakeGrid())
    rp.reproduce("cpu", out, **kwargs)
    carl0, carl1 = str(out / "runs/carl/seed0/model"), str(out / "runs/carl/seed1/model")
    tasks = rp.PRESETS["cpu"].finetune_tasks
    assert tasks == ("emobank", "carer")
    # Seed-major; only the frozen encoder and CARL (the preset's fine-tune variants), never SimCSE.
    assert second.finetuned == [(m, t, s) for m, s in [("minilm", 0), (carl0, 0), ("minilm", 1), (carl1, 1)]
                                for t in tasks]
    record = json.loads((out / "finetune/carl/seed1.json").read_text())
    assert record["variant"] == "carl" and record["seed"] == 1
    assert record["result"]["emobank"]["pearson_mean"] == pytest.approx(0.7)
    assert record["result"]["carer"]["_meta"]["steps"] == rp.PRESETS["cpu"].finetune_steps
    report = (out / "REPORT.md").read_text()
    assert "## Fine-tuning protocol" in report
    assert "| model | seeds | emobank pearson_mean | emobank pearson_v | emobank pearson_a | carer macro_f1 | carer accuracy | best step |" in report
    assert "| frozen encoder | 2 | 0.550 ± 0.071 | 0.650 ± 0.071 | 0.450 ± 0.071 | 0.275 ± 0.035 | 0.550 ± 0.071 | 100, 101 |" in report
    assert "| CARL | 2 | 0.650 ± 0.071 |" in report
    finetune_section = report.split("## Fine-tuning protocol")[1].split("## Variants")[0]
    assert "| CARL | 2 |" in finetune_section and "SimCSE" not in finetune_section
    assert json.loads((out / "report.json").read_text())["arguments"]["finetune"]["CARL"][0]["seed"] == 0

    # Cached: nothing is fine-tuned again.
    third = fake_grid(FakeGrid())
    rp.reproduce("cpu", out, **kwargs)
    assert third.finetuned == [] and third.trained == []

    # A fine-tune result whose trained model folder is gone: the run is trained again first.
    import shutil

    shutil.rmtree(out / "runs/carl/seed0/model")
    (out / "finetune/carl/seed0.json").unlink()
    fourth = fake_grid(FakeGrid())
    rp.reproduce("cpu", out, **kwargs)
    assert fourth.trained == [("carl", 0)]
    assert fourth.evaluated == []  # the probe result is kept
    assert fourth.finetuned == [(carl0, t, 0) for t in tasks]

    # A result from an older protocol or another step count is stale: left out of the report, redone.
    for name, change in [("frozen/seed1", {"protocol_version": 1}), ("carl/seed1", {"steps": 7})]:
        path = out / f"finetune/{name}.json"
        record = json.loads(path.read_text())
        record["result"]["emobank"]["_meta"].update(change)
        path.write_text(json.dumps(record))
    assert rp.stale_finetune(json.loads((out / "finetune/carl/seed1.json").read_text()), rp.PRESETS["cpu"]) == \
        f"emobank ran 7 steps, the preset asks for {rp.PRESETS['cpu'].finetune_steps}"
    preset = rp.PRESETS["cpu"]
    base, jobs = rp.plan(preset, out, variants=["carl", "simcse"], seeds=[0, 1])
    report = rp.write_grid_report(out, "cpu", preset, base, jobs, "carl reproduce test", plots=False).read_text()
    assert "| CARL | 1 |" in report and "| frozen encoder | 1 |" in report
    fifth = fake_grid(FakeGrid())
    rp.reproduce("cpu", out, **kwargs)
    assert fifth.finetuned == [(m, t, 1) for m in ("minilm", carl1) for t in tasks]
    assert "| CARL | 2 |" in (out / "REPORT.md").read_text()


def test_reproduce_with_no_time_left_only_evaluates_the_frozen_encoder(fake_grid, tmp_path):
    fake = fake_grid(FakeGrid())
    rp.reproduce("cpu", tmp_path, variants=["carl", "simcse"], seeds=[0, 1], plots=False, stop_after_minutes=0)
    assert fake.trained == []
    assert fake.evaluated == ["minilm"]
    assert "0 of 4 training runs evaluated (incomplete" in (tmp_path / "REPORT.md").read_text()
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------------------------ grid plots


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


def test_va_grid_relabel_rejects_unrated_records():
    rated = [Record(f"t{i}", i / 10, 1 - i / 10, (), "c", "train", str(i)) for i in range(10)]
    grid = VAGrid.fit(rated)
    with pytest.raises(DataError, match="no valence-arousal rating"):
        grid.relabel([*rated[:2], Record("x", None, 0.5, (), "c", "dev", "x")])


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


def test_records_name_their_machine_and_the_report_says_when_results_come_from_several(fake_grid, tmp_path):
    from carl.evaluation.report import machine_label
    from carl.reproduce.report import UNRECORDED_MACHINE

    fake_grid(FakeGrid())
    rp.reproduce("cpu", tmp_path, variants=["carl", "simcse"], seeds=[0], plots=False)
    here = machine_label()
    for name in ("frozen", "carl", "simcse"):
        assert json.loads((tmp_path / f"evals/{name}/seed0.json").read_text())["machine"] == here
    report = (tmp_path / "REPORT.md").read_text()
    assert f"- **Machine:** {here}; torch threads" in report
    assert "Results by machine" not in report  # one machine: nothing more to say

    # A sitting elsewhere, and a record from before records named their machine.
    for name, machine in (("carl", "Other CPU, 64 cores, no GPU"), ("simcse", None)):
        path = tmp_path / f"evals/{name}/seed0.json"
        record = json.loads(path.read_text())
        record.pop("machine")
        path.write_text(json.dumps({**record, **({"machine": machine} if machine else {})}))
    preset = rp.PRESETS["cpu"]
    base, jobs = rp.plan(preset, tmp_path, variants=["carl", "simcse"], seeds=[0])
    report = rp.write_grid_report(tmp_path, "cpu", preset, base, jobs, "carl reproduce test", plots=False).read_text()
    assert f"- **Machine of this sitting:** {here}; torch threads" in report
    line = next(l for l in report.splitlines() if l.startswith("- **Results by machine**"))
    assert f"{here}: frozen encoder;" in line
    assert "Other CPU, 64 cores, no GPU: CARL;" in line
    assert line.endswith(f"{UNRECORDED_MACHINE}: SimCSE")
