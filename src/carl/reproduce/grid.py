"""The grid's definitions and jobs: variants, presets, the plan of runs, and the jobs that
train, evaluate and fine-tune one model each (resumable: a finished result is never recomputed)."""

from __future__ import annotations

import gzip
import json
import logging
import pathlib
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from carl.config import RECIPES, CarlConfig
from carl.errors import ConfigError
from carl.evaluation.report import _jsonable, machine_label
from carl.io import atomic_write
from carl.portable import portable

log = logging.getLogger("carl.reproduce")

PACKAGED_CONFIGS = pathlib.Path(__file__).parents[1] / "configs"
FROZEN = "frozen"
FROZEN_LABEL = "frozen encoder"


@dataclass(frozen=True)
class Variant:
    """One configuration of the grid: a name (folder), a label (report column), its group and
    the settings it changes relative to the preset."""

    name: str
    label: str
    group: str
    overrides: Mapping[str, object]
    description: str


VARIANTS: list[Variant] = [
    Variant("carl", "CARL", "CARL", {}, "MCCL + PTD with continuous V-A labels (the method)"),
    Variant("carl-plus", "CARL+ (recipe)", "recipe", RECIPES["carl-plus"],
            "the project's recipe (`--recipe carl-plus`): MCCL only, distance kernel on V-A labels, contrast on the "
            "pooled embeddings, online target under stop-gradient (docs/method.md)"),
    Variant("carl-plus-queue", "CARL+ queue (recipe)", "recipe", RECIPES["carl-plus-queue"],
            "`--recipe carl-plus-queue`: CARL+ with a label-aware queue of the last 256 targets (docs/method.md)"),
    Variant("supervised-ce", "supervised CE", "baseline",
            {"objective.name": "supervised", "data.discrete_labels": "va_grid"},
            "cross-entropy fine-tuning on the 3x3 V-A grid classes"),
    # The union preset's discrete contenders on the corpora's own emotion classes (carl.data.emotion_classes).
    Variant("supervised-ce-emotion", "supervised CE (emotion classes)", "baseline",
            {"objective.name": "supervised", "data.discrete_labels": "emotion"},
            "cross-entropy fine-tuning on the corpora's own emotion classes, names unified across corpora; "
            "rated-only texts (EmoBank, Facebook-VA) in their 3x3 V-A grid cell"),
    # Issue 38: the label type x objective square on the union's texts. Supervised on continuous labels:
    Variant("va-regression", "V-A regression", "baseline", {"objective.name": "regression"},
            "supervised regression on the continuous V-A labels (linear regressor, mean squared error): the "
            "counterpart of supervised CE for the labels CARL trains on (NRC-VAD points of class names included)"),
    # ... and the hybrid of both label types: CARL+ queue on every text plus CE on the texts that have an emotion.
    *[Variant(f"hybrid-w{w:g}", f"hybrid w={w:g} (recipe)", "recipe",
              {**RECIPES["carl-plus-queue"], "objective.emotion_weight": w},
              f"CARL+ queue's V-A loss on every text plus {w:g} x cross-entropy on the emotion classes of the texts "
              "that have one (rated texts: none, no V-A cell)")
      for w in (0.2, 1.0)],
    Variant("supcon-emotion", "SupCon (emotion classes)", "baseline",
            {"objective.name": "supcon", "data.discrete_labels": "emotion"},
            "supervised contrastive on the same emotion classes as supervised CE (emotion classes)"),
    Variant("simcse", "SimCSE", "baseline", {"objective.name": "simcse"},
            "unsupervised SimCSE, dropout views (sentence-transformers MultipleNegativesRankingLoss)"),
    # Issue 38: at the published temperature 0.05 SimCSE's loss is ~1e-5 on MiniLM (already contrastive), a
    # frozen-plus-noise control; softer temperatures, one of which dev chooses, keep a gradient.
    *[Variant(f"simcse-t{t:g}", f"SimCSE (τ {t:g})", "baseline",
              {"objective.name": "simcse", "objective.simcse_temperature": t},
              f"unsupervised SimCSE as above at temperature {t:g} (scale {1 / t:g}) instead of the published 0.05")
      for t in (0.1, 0.3, 1.0)],
    Variant("supcon", "SupCon", "baseline", {"objective.name": "supcon", "data.discrete_labels": "va_grid"},
            "supervised contrastive on the 3x3 V-A grid classes (pytorch-metric-learning SupConLoss)"),
    # The strongest baseline with the learning rate its dev trial chose (the recipe's trials: 3e-5, 1e-4).
    Variant("supcon-lr1e-4", "SupCon (lr 1e-4)", "baseline",
            {"objective.name": "supcon", "data.discrete_labels": "va_grid", "train.learning_rate": 1e-4},
            "SupCon with encoder learning rate 1e-4, the better of its two dev trials (results/recipe-dev)"),
    Variant("no-ptd", "CARL w/o PTD", "ablation", {"ptd.enabled": False}, "MCCL only"),
    Variant("no-mccl", "CARL w/o MCCL", "ablation", {"mccl.enabled": False},
            "PTD only (MCCL still gives the saliency, but is not trained)"),
    Variant("online-only", "CARL online-only", "ablation", {"mccl.momentum": False},
            "no momentum encoder: the target is the online branch under stop-gradient"),
    Variant("one-hot", "CARL one-hot labels", "ablation",
            {"mccl.label_mode": "one_hot", "data.discrete_labels": "va_grid"},
            "MCCL with one-hot 3x3 V-A grid classes instead of continuous V-A"),
    Variant("random-tokens", "CARL random tokens", "ablation", {"ptd.token_selection": "random"},
            "PTD perturbs random tokens instead of the most salient"),
    *[Variant(f"eps-rel-{eps:g}", f"CARL ε={eps:g}·‖e‖", "sweep", {"ptd.relative_epsilon": True, "ptd.epsilon": eps},
              f"PGD radius {eps:g} times each token embedding's norm (default: absolute 5e-9)")
      for eps in (0.01, 0.1, 1.0)],
    *[Variant(f"topk-{k:g}", f"CARL top-{k:g}", "sweep", {"ptd.top_fraction": k},
              f"PTD perturbs the top {k:.0%} salient tokens (default 10%)")
      for k in (0.3, 0.5)],
    # At the cpu budget (200 steps) the default 0.9996 moves the target at most ~8 % of the way to
    # the online weights; 0.99 moves it most of the way, between the default and online-only.
    Variant("momentum-0.99", "CARL momentum 0.99", "sweep", {"mccl.base_momentum": 0.99},
            "EMA target with base momentum 0.99 instead of 0.9996 (cosine schedule to 1 either way)"),
]
VARIANT_BY_NAME = {v.name: v for v in VARIANTS}

#: One metric per task for the summary table (the JSON and the detail tables keep them all).
HEADLINE: dict[str, str] = {
    "emobank": "pearson_mean", "facebook-va": "pearson_mean", "goemotions-10": "macro_f1",
    "goemotions-ekman": "macro_f1", "dailydialog": "macro_f1_without_no_emotion", "tec": "macro_f1",
    "carer": "macro_f1", "carer-mteb": "accuracy", "sst2": "accuracy", "sst5": "accuracy", "mr": "accuracy",
    "cr": "accuracy", "mpqa": "accuracy",
}
GEOMETRY = ("alignment_va", "uniformity_emobank")
#: The headline tasks split by what they measure: affect (V-A regression, emotion classification)
#: and sentence polarity (sentiment transfer).
AFFECT_TASKS = ("emobank", "facebook-va", "goemotions-10", "goemotions-ekman", "dailydialog", "tec", "carer",
                "carer-mteb")
POLARITY_TASKS = ("sst2", "sst5", "mr", "cr", "mpqa")
#: Where the paper reports its gains from continuous labels: emotion classification, every metric named.
THESIS_METRICS: dict[str, tuple[str, ...]] = {
    "goemotions-10": ("accuracy", "macro_f1"), "dailydialog": ("accuracy", "macro_f1", "macro_f1_without_no_emotion"),
    "tec": ("accuracy", "macro_f1")}


@dataclass
class Preset:
    """Training budget and evaluation settings shared by every variant."""

    config: str
    """Packaged YAML (src/carl/configs) the variants start from."""
    overrides: dict = field(default_factory=dict)
    seeds: tuple[int, ...] = (0, 1, 2)
    tasks: str = "all"
    max_train: int | None = None
    max_eval: int | None = None
    eval_seed: int = 0
    """Probe and subsample seed, the same for every model, so that all models are scored on
    the same test texts and seeds vary only the training."""
    finetune_tasks: tuple[str, ...] = ()
    """Tasks scored with the fine-tuning protocol too (``carl finetune``), after the probes."""
    finetune_variants: tuple[str, ...] = ("carl",)
    """Trained variants fine-tuned beside the frozen encoder."""
    finetune_steps: int = 300
    variants: tuple[str, ...] | None = None
    """The variants this preset trains by default (None: every variant of :data:`VARIANTS`)."""
    lr_trial: tuple[float, ...] = ()
    """Encoder learning rates every trained variant tries first (seed 0, ``lr_trial_steps`` steps,
    scored on the dev splits of every probe task); each variant then trains with its dev-best
    (carl.reproduce.lr_trial). Empty: the variants' own learning rates."""
    lr_trial_beyond: tuple[float, ...] = ()
    """Rates past ``lr_trial``'s ends, tried only by a variant whose dev-best rate so far is the largest (or
    smallest) it tried: the next one past that end, until its choice has a tried rate on each side or none is
    left (carl.reproduce.lr_trial.bracketing_rate). So every choice is bracketed without every variant paying
    for rates far from its optimum."""
    lr_trial_steps: int = 200
    lr_trial_cut_schedule: bool = False
    """False: a trial is a run of ``lr_trial_steps`` steps (warm-up and decay over them). True: a
    trial runs the grid's own schedule (its ``train.max_steps``) and stops after ``lr_trial_steps``
    steps, so the rate is judged under the learning rates the grid will use there."""
    lr_trial_max_train: int | None = 1000
    lr_trial_max_eval: int | None = 1000
    """The trials' dev probes: at most this many train / dev texts per task (the 200-step cpu
    preset's probe sizes, with which the recipes' own dev trials were scored)."""
    learning_rates: dict[str, float] = field(default_factory=dict)
    """Variant name -> the encoder learning rate it trains with here, over the variant's own (a rate another
    preset's dev trial chose, so that a longer budget changes the steps only)."""
    variant_notes: dict[str, str] = field(default_factory=dict)
    """What a variant trains on where this preset's data make the generic description wrong
    (variant name -> the description REPORT.md shows)."""

    def describe(self, variant: Variant) -> str:
        return self.variant_notes.get(variant.name, variant.description)


#: The cpu preset's grid: the method, its ablations and sweeps, the recipes and the V-A-grid baselines, i.e. what
#: results/reproduce-cpu ran. Named, so that variants added for other studies (the union's emotion-class rows,
#: issue 38's regression, hybrids and SimCSE temperatures) do not join it.
CPU_VARIANTS = ("carl", "carl-plus", "carl-plus-queue", "supervised-ce", "simcse", "supcon", "supcon-lr1e-4", "no-ptd",
                "no-mccl", "online-only", "one-hot", "random-tokens", "eps-rel-0.01", "eps-rel-0.1", "eps-rel-1",
                "topk-0.3", "topk-0.5", "momentum-0.99")

#: The budget study's variants: the method, its best ablations, the recipe and every baseline.
BUDGET_STUDY_VARIANTS = ("carl-plus-queue", "carl-plus", "supcon-lr1e-4", "carl", "online-only", "supcon",
                         "supervised-ce", "simcse", "no-ptd")

#: The union study's contenders (issue 29): continuous V-A labels (CARL and its recipes) against the
#: same texts' discrete classes, V-A grid cells and the corpora's own emotions, and SimCSE.
UNION_VARIANTS = ("carl-plus-queue", "carl-plus", "carl", "online-only", "supervised-ce", "supcon",
                  "supervised-ce-emotion", "supcon-emotion", "simcse")
#: Every affect corpus of the data folder with a train split, discrete emotions placed in V-A by NRC-VAD.
UNION_TRAIN = ["emobank", "facebook-va", "goemotions-single", "dailydialog", "tec", "carer"]

PRESETS: dict[str, Preset] = {
    # 2-core CPU: ~200 steps of batch 32 (0.6 epoch of EmoBank + Facebook-VA); probes on at
    # most 1000 training and 1000 dev/test texts per task.
    # Fine-tuning protocol: frozen MiniLM vs CARL on one V-A and one emotion task, 300 steps
    # (~10 epochs of the 1000 subsampled texts; at 150 every run still improved at its last step).
    "cpu": Preset("cpu.yaml", {"train.max_steps": 200, "train.eval_every": 100, "train.save_every": 100},
                  max_train=1000, max_eval=1000, finetune_tasks=("emobank", "carer"), finetune_steps=300,
                  finetune_variants=("carl", "carl-plus"), variants=CPU_VARIANTS),
    # Budget study on a 2-core CPU: 1000 steps of batch 32 (~3 epochs of EmoBank + Facebook-VA train),
    # dev checks every 100 steps; probes on up to 4000 train / 2000 dev+test texts per task (4x / 2x
    # the cpu preset's, so that probe noise stays below the gaps between methods).
    "cpu-long": Preset("cpu.yaml", {"train.max_steps": 1000, "train.eval_every": 100, "train.save_every": 100},
                       max_train=4000, max_eval=2000, variants=BUDGET_STUDY_VARIANTS),
    # Base-size check on a 2-core CPU: all-mpnet-base-v2 (install it with `python ../shared/tools/encoders.py
    # install`), one epoch of batch 32 (~325 steps), one seed, the cpu preset's probes: the frozen encoder, the
    # recipe (MAIN_RECIPE), the lr-searched SupCon, the paper's CARL, then supervised CE (the best baseline on
    # most tasks at the budget study's 1,000 steps), SimCSE and SupCon at 3e-5, so that every baseline of the
    # other grids is there. Seed 0 ran first (2026-12-01/02); `--seeds 0,1,2` completes three seeds.
    "cpu-base": Preset("cpu.yaml", {"model.name_or_path": "mpnet", "train.epochs": 1, "train.max_steps": None,
                                    "train.eval_every": 100, "train.save_every": 100},
                       seeds=(0,), max_train=1000, max_eval=1000,
                       variants=("carl-plus-queue", "supcon-lr1e-4", "carl", "supervised-ce", "simcse", "supcon")),
    # The union study: the budget study's steps, batch and probes, trained on the train splits of every
    # affect corpus (at most 8,000 texts each, about EmoBank's train size, so that DailyDialog's 87k
    # utterances do not drown the rest; 1,000 dev texts each for checkpoint selection); every trained
    # contender first tries lr 3e-5 and 1e-4 (seed 0, 200 steps, dev splits of the 12 probe tasks).
    "cpu-union": Preset("cpu.yaml", {"data.train": UNION_TRAIN, "data.max_train_per_corpus": 8000,
                                     "data.max_dev_per_corpus": 1000, "train.max_steps": 1000,
                                     "train.eval_every": 100, "train.save_every": 100},
                        max_train=4000, max_eval=2000, variants=UNION_VARIANTS, lr_trial=(3e-5, 1e-4)),
    # Issue 38, part 1: the label type x objective square and the hybrid on the union study's texts, steps,
    # batch and probes; each contender's trial brackets the union study's choice (1e-4) and runs the grid's
    # 1,000-step schedule cut after 200 steps. The rows: the new ones (V-A regression, the hybrid at its dev-chosen
    # weight w = 1; w = 0.2 lost the weight trial), the union study's contenders trained again here (so that every
    # pair has test predictions) and SimCSE at the temperature chosen on dev (tau 0.1; results/union-labels-cpu).
    "cpu-union-labels": Preset("cpu.yaml", {"data.train": UNION_TRAIN, "data.max_train_per_corpus": 8000,
                                            "data.max_dev_per_corpus": 1000, "train.max_steps": 1000,
                                            "train.eval_every": 100, "train.save_every": 100},
                               max_train=4000, max_eval=2000,
                               variants=("va-regression", "hybrid-w1", "supervised-ce-emotion", "supcon-emotion",
                                         "carl-plus-queue", "carl", "simcse-t0.1"),
                               lr_trial=(3e-5, 1e-4, 3e-4), lr_trial_beyond=(1e-5, 1e-3), lr_trial_cut_schedule=True),
    # Issue 38, part 3: the three strongest rows of cpu-union-labels by dev mean (CE on emotion classes, the hybrid,
    # CARL+ queue) at two epochs of the same union texts (2 x 1,323 batches of 32; warm-up, linear decay and the
    # momentum schedule over the whole budget), each at the learning rate its cpu-union-labels trial chose on dev
    # (no new trial), dev checked every 100 steps as there. Only the number of steps differs from that grid.
    "cpu-union-2ep": Preset("cpu.yaml", {"data.train": UNION_TRAIN, "data.max_train_per_corpus": 8000,
                                         "data.max_dev_per_corpus": 1000, "train.epochs": 2, "train.max_steps": None,
                                         "train.eval_every": 100, "train.save_every": 100},
                            max_train=4000, max_eval=2000,
                            variants=("supervised-ce-emotion", "hybrid-w1", "carl-plus-queue"),
                            learning_rates={"supervised-ce-emotion": 3e-4, "hybrid-w1": 1e-4, "carl-plus-queue": 1e-4}),
    # GPU: all-mpnet-base-v2, 3 epochs, bf16, full evaluation splits.
    "gpu": Preset("gpu.yaml", finetune_tasks=("emobank", "facebook-va", "carer", "goemotions-10"),
                  finetune_steps=1000),
}

# Issue 38, part 5: label type x objective on one set of texts with human labels of both kinds: the SemEval-2007
# headlines that EmoBank rated (corpus semeval-headlines: EmoBank's V-A and the dominant of six emotion intensities,
# carl's own seeded split). One change at a time: contrastive V-A (CARL+ queue) against contrastive classes (SupCon),
# supervised V-A (V-A regression) against supervised classes (CE). The class rows are the union study's emotion-class
# variants: every headline has its dominant emotion as its one label, so data.discrete_labels=emotion trains on
# exactly that (carl.data.emotion_classes gives a V-A cell only to texts without an emotion; no headline lacks one).
HEADLINES_VARIANTS = ("carl-plus-queue", "supcon-emotion", "va-regression", "supervised-ce-emotion")
#: The headline tasks, then the affect tasks that share no text with the headlines (emobank and geometry do: EmoBank's
#: test split holds 118 of them, most in the headline train split, so their V-A would leak into those scores).
HEADLINES_TASKS = ("semeval-headlines-va,semeval-headlines-emotion,facebook-va,goemotions-10,goemotions-ekman,"
                   "dailydialog,tec,carer")
HEADLINE.update({"semeval-headlines-va": "pearson_mean", "semeval-headlines-emotion": "macro_f1"})
# 930 training headlines: 300 steps of batch 32 are about 10 epochs; every variant at the recipe's lr 1e-4 (no lr
# trial: the grid's trial scores the 12 general tasks' dev splits, not the headlines'); dev checked at step 0 and at
# the end only, so every run keeps its last step: the trainer's selection rule reads dev V-A, which would favour the
# V-A rows. Probes as the cpu preset's (every headline split fits under 1,000).
PRESETS["cpu-headlines"] = Preset(
    "cpu.yaml", {"data.train": ["semeval-headlines"], "train.max_steps": 300, "train.learning_rate": 1e-4,
                 "train.eval_every": 300, "train.save_every": 100},
    max_train=1000, max_eval=1000, tasks=HEADLINES_TASKS, variants=HEADLINES_VARIANTS,
    variant_notes={
        "supervised-ce-emotion": "cross-entropy fine-tuning on each headline's dominant SemEval-2007 emotion (human; "
                                 "every headline has one, so no V-A cells)",
        "supcon-emotion": "supervised contrastive on the same dominant emotions as supervised CE",
        "va-regression": "supervised regression on the headlines' EmoBank V-A ratings (human; linear regressor, mean "
                         "squared error): the counterpart of supervised CE for V-A labels"})


@dataclass
class Job:
    variant: Variant
    seed: int
    config: CarlConfig
    run_dir: pathlib.Path
    eval_path: pathlib.Path


def plan(preset: Preset, out: pathlib.Path, *, variants: Sequence[str] | None = None,
         seeds: Sequence[int] | None = None, model: str | None = None, data_dir: str | None = None,
         extra: Mapping[str, object] | None = None, learning_rates: Mapping[str, float] | None = None,
         ) -> tuple[CarlConfig, list[Job]]:
    """The base config and the jobs, seed-major (every variant's seed 0 first), so that a
    partial grid already holds one complete comparison. ``learning_rates``: variant name -> encoder
    learning rate, applied over the variant's own settings (a learning-rate trial's choice)."""
    unknown = [v for v in variants or [] if v not in VARIANT_BY_NAME]
    if unknown:
        raise ConfigError(f"unknown variant(s) {unknown}; known: {', '.join(VARIANT_BY_NAME)}")
    variants = variants or preset.variants
    chosen = [VARIANT_BY_NAME[v] for v in variants] if variants else VARIANTS
    base = CarlConfig.load(PACKAGED_CONFIGS / preset.config).override(dict(preset.overrides))
    common = {k: v for k, v in {"model.name_or_path": model, "data.data_dir": data_dir}.items() if v is not None}
    base = base.override({**common, **dict(extra or {})}).validate()
    jobs = []
    for seed in seeds if seeds is not None else preset.seeds:
        for variant in chosen:
            run_dir = out / "runs" / variant.name / f"seed{seed}"
            rates = {**preset.learning_rates, **(learning_rates or {})}
            lr = {"train.learning_rate": rates[variant.name]} if variant.name in rates else {}
            cfg = base.override({**variant.overrides, **lr, "train.seed": seed, "train.output_dir": str(run_dir)})
            jobs.append(Job(variant, seed, cfg.validate(), run_dir, out / "evals" / variant.name / f"seed{seed}.json"))
    return base, jobs


def _comparable(cfg: CarlConfig) -> dict:
    raw = cfg.to_dict()
    raw["train"] = {k: v for k, v in raw["train"].items() if k not in ("resume", "stop_after")}
    return raw


def train_job(job: Job, *, keep_checkpoints: bool = False):
    """Train (or resume) one run unless it finished already. Returns seconds spent training now."""
    from carl.training import checkpoint as ckpt  # lazy: keeps carl --help fast
    from carl.training.trainer import train  # lazy: keeps carl --help fast

    if (job.run_dir / "summary.json").is_file():
        return 0.0
    saved = job.run_dir / "config.yaml"
    if saved.is_file() and _comparable(CarlConfig.load(saved)) != _comparable(job.config):
        raise ConfigError(f"{saved} was written by a different configuration than this grid asks for; use another "
                          "--output-dir (or delete that run) instead of mixing settings in one report")
    resume = bool(ckpt.complete_checkpoints(job.run_dir / "checkpoints"))
    cfg = job.config.override({"train.resume": resume})
    started = time.time()
    result = train(cfg)
    if result.finished and not keep_checkpoints:
        # The run is cached by model/ + summary.json; optimiser states and the last-step copy
        # would cost ~4x the model's size on disk for every run of the grid.
        shutil.rmtree(job.run_dir / "checkpoints", ignore_errors=True)
        shutil.rmtree(job.run_dir / "last-model", ignore_errors=True)
    return time.time() - started


def evaluate_job(model_ref: str, eval_path: pathlib.Path, preset: Preset, data_dir: str | None, split_seed: int,
                 info: Mapping) -> dict:
    """Evaluate one model unless its result file exists; returns the stored record.

    Every probe task's test predictions go beside the record (:func:`predictions_path`), so gaps between
    variants can be given with test sampling counted (:mod:`carl.evaluation.paired_bootstrap`) after
    the model folders are gone. The sidecar is written first: a record never exists without it.
    """
    from carl.evaluation.tasks import run_tasks  # lazy: keeps carl --help fast

    if eval_path.is_file():
        return json.loads(eval_path.read_text())
    result = run_tasks(model_ref, preset.tasks, data_dir, seed=preset.eval_seed, max_train=preset.max_train,
                       max_eval=preset.max_eval, split_seed=split_seed, keep_predictions=True)
    rows = {task: detail.pop("test_rows") for task, detail in result["_meta"]["details"].items()
            if "test_rows" in detail}
    if rows:
        write_predictions(eval_path, rows)
    return _write_record(eval_path, {**info, "result": result})


def write_predictions(eval_path: pathlib.Path, rows: Mapping) -> None:
    """Store ``rows`` ({task: test rows}) beside ``eval_path`` (:func:`predictions_path`), atomically."""
    text = json.dumps(rows, separators=(",", ":"), allow_nan=False).encode()
    # mtime=0: the same predictions give the same bytes, so a rerun does not show as a change in git
    atomic_write(predictions_path(eval_path), lambda tmp: tmp.write_bytes(gzip.compress(text, mtime=0)))


def predictions_path(eval_path: pathlib.Path) -> pathlib.Path:
    """``evals/VARIANT/seedS.json`` -> ``evals/VARIANT/seedS.test-rows.json.gz``: per probe task, each test
    row's id, gold label and prediction (``run_tasks(keep_predictions=True)``)."""
    return eval_path.with_name(eval_path.stem + ".test-rows.json.gz")


def read_predictions(eval_path: pathlib.Path) -> dict | None:
    """The test rows stored beside ``eval_path`` by :func:`evaluate_job`, or None for a record without them
    (evaluated before they were kept)."""
    path = predictions_path(eval_path)
    return json.loads(gzip.decompress(path.read_bytes())) if path.is_file() else None


EXACT_PROBE_TOLERANCE = 1e-9
"""probes_differ's default: frozen dev scores must agree to rounding (one machine, one library set)."""


def probes_differ(grids: Sequence[pathlib.Path], tolerance: float = EXACT_PROBE_TOLERANCE) -> str | None:
    """Why grids cannot be compared row against row (their frozen encoder's probes scored differently on
    some task's dev split: they saw other texts or settings), or None when every grid's frozen evaluation
    agrees. Reads dev scores and, with a ``tolerance`` above the default, the test rows' text ids.

    ``tolerance``: how far a frozen dev score may differ. The same texts scored on another CPU or library
    version give V-A probes equal to ~1e-7 but logistic probes up to ~5e-3 apart (results/union-2ep-cpu), so
    grids evaluated on different machines need a looser one; then every task's test-row ids must be equal
    instead, which shows that the probes saw the same texts."""
    loose = tolerance > EXACT_PROBE_TOLERANCE  # only a loose comparison reads the texts' ids (a gzip per grid)
    scores, ids = [], []
    for grid in grids:
        path = grid / "evals" / FROZEN / "seed0.json"
        if not path.is_file():
            return f"{path} is missing: without the frozen encoder's scores the grids' probes cannot be compared"
        details = json.loads(path.read_text())["result"]["_meta"]["details"]
        scores.append({task: detail["dev_scores"] for task, detail in details.items() if "dev_scores" in detail})
        ids.append({task: rows["ids"] for task, rows in (read_predictions(path) or {}).items()} if loose else {})
    for grid, other, other_ids in zip(grids[1:], scores[1:], ids[1:]):
        differ = [task for task in set(scores[0]) | set(other)
                  if task not in scores[0] or task not in other or scores[0][task].keys() != other[task].keys()
                  or any(abs(scores[0][task][k] - other[task][k]) > tolerance for k in other[task])]
        if differ:
            worst = max((abs(scores[0][t][k] - other[t][k]) for t in differ if t in scores[0] and t in other
                         for k in other[t] if k in scores[0][t]), default=float("nan"))
            return (f"{grid} and {grids[0]}: the frozen encoder's scores differ on {', '.join(sorted(differ))} (by up "
                    f"to {worst:.2g}, tolerance {tolerance:g}), so their probes did not see the same texts or were "
                    "fitted on another machine; compare grids of one preset only (the same texts on another CPU or "
                    "library version differ by up to ~5e-3: allow that with a probe tolerance)")
        if loose and (not ids[0] or ids[0] != other_ids):
            return (f"{grid} and {grids[0]}: with a probe tolerance of {tolerance:g} the frozen encoder's test rows "
                    "must name the same texts, and " + ("one grid stores none" if not ids[0] or not other_ids else
                                                         "they differ"))
    return None


def _write_record(path: pathlib.Path, record: Mapping) -> dict:
    """Write one grid result as strict JSON, atomically (a killed sitting leaves no half file).
    The record names the machine it was produced on: a grid may be finished over sittings on
    different machines, and training times compare only within one."""
    record = portable(_jsonable({**record, "machine": record.get("machine") or machine_label()}))
    text = json.dumps(record, indent=1, allow_nan=False)
    atomic_write(path, lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))
    return record


def finetune_job(model_ref: str, path: pathlib.Path, preset: Preset, data_dir: str | None, split_seed: int,
                 seed: int, info: Mapping) -> dict:
    """Fine-tune one model on each of the preset's fine-tune tasks; write and return the record."""
    from carl.evaluation.finetune import finetune  # lazy: keeps carl --help fast

    result = {task: finetune(model_ref, task, data_dir, steps=preset.finetune_steps, seed=seed, split_seed=split_seed,
                             max_train=preset.max_train, max_eval=preset.max_eval)
              for task in preset.finetune_tasks}
    return _write_record(path, {**info, "seed": seed, "result": result})


def finetune_path(out: pathlib.Path, variant: str, seed: int) -> pathlib.Path:
    return out / "finetune" / variant / f"seed{seed}.json"


def stale_finetune(record: Mapping, preset: Preset) -> str | None:
    """Why a stored fine-tune ``record`` no longer matches the preset, or None if it does."""
    from carl.evaluation.finetune import PROTOCOL_VERSION  # lazy: keeps carl --help fast

    result = record["result"]
    if set(result) != set(preset.finetune_tasks):
        return f"its tasks {sorted(result)} are not the preset's {sorted(preset.finetune_tasks)}"
    for task, metrics in result.items():
        meta = metrics.get("_meta", {})
        steps, version = meta.get("steps"), meta.get("protocol_version", 1)
        if steps != preset.finetune_steps:
            return f"{task} ran {steps} steps, the preset asks for {preset.finetune_steps}"
        if version != PROTOCOL_VERSION:
            return f"{task} used fine-tune protocol version {version}, not {PROTOCOL_VERSION}"
    return None


def finetune_stage(out: pathlib.Path, preset: Preset, base: CarlConfig, jobs: Sequence[Job], data_dir: str | None,
                   commit: str, *, keep_checkpoints: bool, out_of_time) -> None:
    """The fine-tuning protocol for the frozen encoder and the fine-tune variants, per seed.

    A trained model whose folder is gone (the grid keeps only summaries in git) is trained
    again from scratch with the same seed first.
    """
    if not preset.finetune_tasks:
        return
    seeds = sorted({j.seed for j in jobs})
    targets = [(FROZEN, s, base.model.name_or_path, None) for s in seeds]
    targets += [(j.variant.name, j.seed, str(j.run_dir / "model"), j) for j in jobs
                if j.variant.name in preset.finetune_variants]
    for name, seed, model_ref, job in sorted(targets, key=lambda t: t[1]):
        path = finetune_path(out, name, seed)
        if path.is_file():
            reason = stale_finetune(json.loads(path.read_text()), preset)
            if reason is None:
                continue
            log.warning("%s is stale (%s); fine-tuning again", path, reason)
        if out_of_time():
            return
        log.warning("grid: fine-tuning %s seed %d on %s", name, seed, ", ".join(preset.finetune_tasks))
        if job is not None and not (job.run_dir / "model").is_dir():
            log.warning("%s has no model folder; training it again with seed %d", job.run_dir, seed)
            (job.run_dir / "summary.json").unlink(missing_ok=True)
            train_job(job, keep_checkpoints=keep_checkpoints)
        finetune_job(model_ref, path, preset, data_dir, base.data.split_seed, seed, {"variant": name, "commit": commit})


def git_commit(root: pathlib.Path | None = None) -> str:
    """Short commit of the code checkout, flagged when code (not results) has uncommitted changes."""
    try:
        root = root or pathlib.Path(__file__).resolve().parents[3]
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10)
        if rev.returncode != 0:
            return "unknown"
        # Results folders (this grid's own output included) are not code: only other changes
        # make the recorded commit inexact.
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results"],
                               cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
        return rev.stdout.strip() + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
