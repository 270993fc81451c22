"""What the grid contains: the variants (recipes, baselines, ablations, sweeps), the tasks and their headline
metrics, and the presets (budget, evaluation settings, which variants) that `carl reproduce --preset` names."""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from carl.config import RECIPES

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
