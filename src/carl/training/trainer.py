"""The CARL training loop, readable top to bottom: data -> model -> step -> EMA -> log/eval/save.

Runs unchanged on CPU, one GPU or several processes (``accelerate launch -m carl.cli train``).
"""

from __future__ import annotations

import json
import logging
import math
import pathlib
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from carl.config import FP16_REFUSED, CarlConfig
from carl.data import VAGrid, load_corpus, resolve_data_dir
from carl.data.emotion_classes import emotion_class_ids, emotion_classes
from carl.data.specs import is_table, read_spec
from carl.data.specs import parse_table_spec as _parse_table_spec
from carl.errors import CarlError, CheckpointError, ConfigError, DataError
from carl.inference.export import base_normalizes, export_sentence_transformer
from carl.losses.functional import cosine_momentum
from carl.network.carl import CarlModel
from carl.network.embedding import encode_texts
from carl.inference.encoders import load_encoder
from carl.training import checkpoint as ckpt
from carl.training.baselines import NEEDS_CLASSES, BaselineModel, BaselineStep
from carl.training.batching import collate, encode_records, epoch_batches, label_vocabulary
from carl.training.dev import dev_score
from carl.training.layer_decay import layer_decay_groups
from carl.training.step import CarlStep, average_gradients

log = logging.getLogger("carl.train")


@dataclass
class TrainResult:
    output_dir: pathlib.Path
    model_dir: pathlib.Path
    steps: int
    best_dev: float | None
    best_step: int | None
    seconds: float
    finished: bool = True
    """False when the run stopped early (train.stop_after) and awaits --resume."""


def parse_table_spec(spec: str) -> tuple[str, dict]:
    """``reviews.csv:text=body,valence=v,arousal=a`` -> (path, read_table keyword arguments).

    The grammar (and how ``--data`` lists are split around its commas) is in
    :mod:`carl.data.specs`."""
    table = _parse_table_spec(spec)
    return table.path, table.read_kwargs()


def load_records(specs: list[str], data_dir: pathlib.Path, split: str, seed: int, on_bad_row: str = "error",
                 max_per_spec: int | Mapping[str, int] | None = None) -> list:
    """Records of corpus names (their ``split``) and table specs (every row, as ``split``);
    ``max_per_spec``: at most that many of each (a mapping: of the specs it names), a sample seeded
    by ``seed`` in file order."""
    records = []
    for spec in specs:
        if is_table(spec):
            found = read_spec(spec, split=split, on_bad_row=on_bad_row)
        else:
            found = load_corpus(spec, data_dir, [split], seed=seed)
        limit = max_per_spec.get(spec) if isinstance(max_per_spec, Mapping) else max_per_spec
        records.extend(capped(found, limit, seed))
    return records


def capped(records: list, limit: int | None, seed: int) -> list:
    """At most ``limit`` of ``records``: a uniform sample without replacement, in their original order."""
    if limit is None or len(records) <= limit:
        return records
    keep = np.sort(np.random.default_rng(seed).choice(len(records), size=limit, replace=False))
    return [records[i] for i in keep]


def training_label_mode(config: CarlConfig) -> str:
    """The label rows a run trains on: V-A (CARL), classes (one-hot ablation, supervised,
    supcon) or none (SimCSE needs no labels)."""
    name = config.objective.name
    if name == "simcse":
        return "none"
    if name in NEEDS_CLASSES:
        return "one_hot"
    if name == "regression":
        return "continuous"
    return config.mccl.label_mode


def require_single_label(labels: np.ndarray, records: list, objective: str) -> None:
    counts = labels.sum(axis=1)
    bad = np.flatnonzero(counts != 1)
    if bad.size:
        first = records[int(bad[0])]
        raise DataError(f"the {objective} baseline needs exactly one class per text; {bad.size} training texts have "
                        f"{int(counts[bad[0]])} (first: corpus {first.corpus!r}, id {first.id!r})",
                        fix="train it on single-label corpora, or on V-A corpora with data.discrete_labels=va_grid")


def build_optimizer(model, config: CarlConfig, total_steps: int, fused: bool):
    from transformers import get_linear_schedule_with_warmup

    encoder_params, head_params = model.trainable_groups()
    decay = config.train.weight_decay
    if config.train.layer_lr_decay < 1:
        encoder_groups = layer_decay_groups(model.encoder.named_parameters(), config.train.learning_rate,
                                            config.train.layer_lr_decay, decay)
    else:
        encoder_groups = [{"params": encoder_params, "lr": config.train.learning_rate, "weight_decay": decay}]
    optimizer = torch.optim.AdamW(
        [*encoder_groups, {"params": head_params, "lr": config.train.head_learning_rate, "weight_decay": decay}],
        fused=fused or None,
    )
    warmup = int(config.train.warmup_ratio * total_steps)
    return optimizer, get_linear_schedule_with_warmup(optimizer, warmup, total_steps)


class MetricsLog:
    """metrics.jsonl (and TensorBoard when installed). On resume, rows past the checkpoint are dropped."""

    def __init__(self, path: pathlib.Path, resume_step: int | None, enabled: bool):
        self.path = path
        self.enabled = enabled
        self.tensorboard = None
        if not enabled:
            return
        if resume_step is not None and path.is_file():
            kept = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= resume_step]
            path.write_text("".join(line + "\n" for line in kept))
        elif resume_step is None:
            path.write_text("")
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tensorboard = SummaryWriter(str(path.parent / "tensorboard"))
        except ImportError:
            pass

    def write(self, row: dict) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        if self.tensorboard is not None:
            for key, value in row.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.tensorboard.add_scalar(key, value, row["step"])


class CollapseError(CarlError):
    """The sentence embeddings collapsed and train.on_collapse is "stop"."""


def check_collapse(spread: float, step: int, tc) -> None:
    if spread >= tc.collapse_threshold:
        return
    message = (f"embedding spread {spread:.4f} < {tc.collapse_threshold} at step {step}: the representation is "
               "collapsing (all texts map to nearly the same point). Try a lower learning rate, a larger batch, "
               "or a higher mccl.temperature.")
    if tc.on_collapse == "stop":
        raise CollapseError(message + " Stopped (train.on_collapse=stop); earlier checkpoints are kept.")
    log.warning(message)


SHARDING_ENGINES = ("DEEPSPEED", "FSDP", "MEGATRON_LM")


def require_replicated_weights(distributed_type) -> None:
    """Refuse Accelerate set-ups that shard or wrap the model.

    A CARL step needs the full weights on every process: the EMA target is copied from the
    online weights parameter by parameter, PGD differentiates through the input embeddings,
    and the gradients of two backward passes are all-reduced once (``average_gradients``).
    DeepSpeed ZeRO, FSDP and Megatron shard or wrap exactly those tensors.
    """
    name = getattr(distributed_type, "value", str(distributed_type))
    if name in SHARDING_ENGINES:
        raise ConfigError(
            f"Accelerate is configured for {name}, which carl train does not support: CARL keeps a full replica "
            "of the encoder per process (EMA target, PGD on input embeddings, one gradient all-reduce per step). "
            "Use plain data parallelism instead: `accelerate launch --multi_gpu --num_processes N -m carl.cli train ...` "
            "(or answer 'no' to DeepSpeed/FSDP in `accelerate config`). A base-size encoder fits on one GPU in bf16."
        )


def train(config: CarlConfig, *, progress: bool = True) -> TrainResult:
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    config.validate()
    tc = config.train
    started = time.time()
    accelerator = Accelerator(mixed_precision=tc.mixed_precision)
    if accelerator.mixed_precision == "fp16":  # validate() refuses it; never train fp16 without loss scaling
        raise ConfigError(FP16_REFUSED)
    require_replicated_weights(accelerator.distributed_type)
    world, rank = accelerator.num_processes, accelerator.process_index
    if tc.batch_size % world:
        raise ConfigError(f"train.batch_size {tc.batch_size} is not divisible by the {world} processes")
    set_seed(tc.seed)
    if tc.deterministic:
        torch.use_deterministic_algorithms(True)
    out = pathlib.Path(tc.output_dir)
    ckpt_dir = out / "checkpoints"
    model_dir = out / "model"

    # -- data ---------------------------------------------------------------
    data_dir = resolve_data_dir(config.data.data_dir)
    train_records = load_records(config.data.train, data_dir, "train", config.data.split_seed, config.data.on_bad_row,
                                 config.data.max_train_per_corpus)
    dev_specs = config.data.dev if config.data.dev is not None else [s for s in config.data.train if not is_table(s)]
    dev_records = [r for r in load_records(dev_specs, data_dir, "dev", config.data.split_seed, config.data.on_bad_row,
                                           config.data.max_dev_per_corpus)
                   if r.valence is not None and r.arousal is not None]
    if len(train_records) < tc.batch_size:
        raise ConfigError(f"only {len(train_records)} training texts, fewer than one batch of {tc.batch_size}; "
                          "lower train.batch_size or add data")

    # The hybrid's emotion term: each text's own emotion class (none for rated texts), read before
    # any relabelling below gives rated texts a V-A grid cell.
    emotion_ids, emotion_names = (emotion_class_ids(train_records) if config.objective.emotion_weight > 0
                                  else (None, []))
    if config.data.discrete_labels == "va_grid":
        grid = VAGrid.fit(train_records)
        train_records, dev_records = grid.relabel(train_records), grid.relabel(dev_records)
    elif config.data.discrete_labels == "emotion":
        train_records, dev_records = emotion_classes(train_records, dev_records)
    # The class term of MCCL (mccl.class_weight) needs each text's V-A grid cell as a class id.
    grid_classes = (VAGrid.fit(train_records).class_ids(train_records)
                    if config.objective.name == "carl" and config.mccl.class_weight > 0 else None)
    label_mode = training_label_mode(config)
    vocabulary = label_vocabulary(train_records) if label_mode == "one_hot" else None

    # -- model --------------------------------------------------------------
    encoder, tokenizer = load_encoder(config.model.name_or_path)
    encoded = encode_records(train_records, tokenizer, config.data.max_length, label_mode, vocabulary)
    if config.objective.name == "carl":
        model = CarlModel.from_config(encoder, config.model, config.mccl, num_emotions=len(emotion_names))
    else:
        if config.objective.name in NEEDS_CLASSES:
            require_single_label(encoded.labels, train_records, config.objective.name)
        classes = len(vocabulary) if config.objective.name == "supervised" else None
        model = BaselineModel(encoder, config.model.pooling, classes, va_regressor=config.objective.name == "regression")
    model = model.to(accelerator.device)
    if tc.compile:
        model.encoder.compile(dynamic=True)  # in place: parameter names, EMA pairs and export are unchanged
    lengths = [len(ids) for ids in encoded.input_ids]
    batches_per_epoch = len(encoded) // tc.batch_size
    total_steps = tc.max_steps or max(1, math.ceil(tc.epochs * batches_per_epoch))
    optimizer, scheduler = build_optimizer(model, config, total_steps, fused=accelerator.device.type in ("cuda", "cpu"))
    generator = torch.Generator().manual_seed(tc.seed + rank)
    if config.objective.name == "carl":
        step_fn = CarlStep(config, accelerator.backward, generator)
    else:
        step_fn = BaselineStep(config, accelerator.backward)
    special_ids = tokenizer.all_special_ids
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    # The anchor targets of MCCL (mccl.anchor_weight) need the pretrained encoder's embedding of
    # each training text: computed here, before a resume loads trained weights.
    anchors = (torch.from_numpy(encode_texts(model.encoder, tokenizer, [r.text for r in train_records],
                                             pooling=config.model.pooling, max_length=config.data.max_length))
               if config.objective.name == "carl" and config.mccl.anchor_weight > 0 else None)

    # -- resume -------------------------------------------------------------
    state = {"epoch": 0, "batch_in_epoch": 0, "best_dev": None, "best_step": None}
    step = 0
    resume_step = None
    if tc.resume:
        ckpt.clean_partial(ckpt_dir)
        found = ckpt.complete_checkpoints(ckpt_dir)
        if not found:
            raise CheckpointError(f"--resume: no complete checkpoint under {ckpt_dir}; start without --resume")
        state = ckpt.load_checkpoint(found[-1], model, optimizer, scheduler, generator, rank)
        queue = getattr(step_fn, "queue", None)
        if queue is not None:
            queue.load_state_dict(ckpt.load_queue(found[-1]), accelerator.device)
        step = resume_step = state.pop("step")
        log.info("resumed from %s (step %d)", found[-1], step)
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        config.save(out / "config.yaml")
    metrics = MetricsLog(out / "metrics.jsonl", resume_step, accelerator.is_main_process)
    if accelerator.is_main_process and not tc.resume:
        metrics.write({"step": 0, "event": "start", "train_texts": len(encoded), "dev_texts": len(dev_records),
                       "total_steps": total_steps, "processes": world, "device": str(accelerator.device)})

    def evaluate_and_keep_best(candidate: bool = True) -> None:
        if not dev_records or not accelerator.is_main_process:
            return
        score = dev_score(model.encoder, tokenizer, dev_records, pooling=config.model.pooling,
                          max_length=config.data.max_length, seed=tc.seed)
        metrics.write({"step": step, **{f"dev/{k}": v for k, v in score.items()}})
        if candidate and (state["best_dev"] is None or score["va_pearson"] > state["best_dev"]):
            state["best_dev"], state["best_step"] = score["va_pearson"], step
            export(model_dir)

    normalize = base_normalizes(config.model.name_or_path)  # keep the base model's Normalize module

    def export(path: pathlib.Path) -> None:
        export_sentence_transformer(model.encoder, tokenizer, path, pooling=config.model.pooling,
                                    max_seq_length=config.model.max_seq_length, normalize=normalize,
                                    metadata={"base_model": config.model.name_or_path, "step": step,
                                              "config": config.to_dict()})

    def save() -> None:
        rng_states = ckpt.all_rng_states(generator)
        if accelerator.is_main_process:
            queue = getattr(step_fn, "queue", None)
            ckpt.save_checkpoint(ckpt_dir, step, model, optimizer, scheduler, dict(state), rng_states, tc.keep_checkpoints,
                                 queue=queue.state_dict() if queue is not None else None)
        accelerator.wait_for_everyone()

    if step == 0:
        evaluate_and_keep_best(candidate=False)  # the starting point, for the learning curve

    # -- loop ---------------------------------------------------------------
    model.train()
    bar = tqdm(total=total_steps, initial=step, disable=not (progress and accelerator.is_main_process), desc=config.objective.name)
    per_process = tc.batch_size // world
    tick = time.time()
    stop_at = min(total_steps, tc.stop_after) if tc.stop_after else total_steps
    while step < stop_at:
        batches = epoch_batches(lengths, tc.batch_size, tc.seed, state["epoch"])
        if not batches:
            raise ConfigError("no full batch fits in the training data; lower train.batch_size")
        indices = batches[state["batch_in_epoch"]][rank * per_process : (rank + 1) * per_process]
        batch = collate([encoded.input_ids[i] for i in indices], pad_id, special_ids)
        batch["labels"] = torch.from_numpy(encoded.labels[indices])
        if grid_classes is not None:
            batch["classes"] = torch.from_numpy(grid_classes[indices])
        if emotion_ids is not None:
            batch["emotions"] = torch.from_numpy(emotion_ids[indices])
        if anchors is not None:
            batch["anchors"] = anchors[torch.as_tensor(indices)]
        batch = {k: v.to(accelerator.device) for k, v in batch.items()}

        try:
            with accelerator.autocast():
                result = step_fn(model, batch, step)
        except torch.cuda.OutOfMemoryError:
            raise CarlError(
                f"GPU out of memory at step {step} (batch {per_process} per process, up to {config.data.max_length} "
                "tokens): lower --batch-size or data.max_length, or use train.mixed_precision=bf16. "
                "The last checkpoint is kept; continue with --resume."
            ) from None
        average_gradients(model.parameters())
        grad_norm = accelerator.clip_grad_norm_(model.parameters(), tc.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        momentum = cosine_momentum(step, total_steps, config.mccl.base_momentum)
        model.update_target(momentum)

        step += 1
        state["batch_in_epoch"] += 1
        if state["batch_in_epoch"] >= len(batches):
            state["epoch"], state["batch_in_epoch"] = state["epoch"] + 1, 0
        bar.update(1)
        if step % tc.log_every == 0 or step == total_steps:
            values = {"loss": result.loss, "loss_mccl": result.mccl, "loss_ptd": result.ptd,
                      "perturbed_fraction": result.perturbed_fraction, "grad_norm": grad_norm,
                      "embedding_spread": result.spread}
            row = {"step": step, **{k: float(v) for k, v in values.items()}, "momentum": momentum,
                   "lr": scheduler.get_last_lr()[0], "seconds_per_step": (time.time() - tick) / tc.log_every}
            metrics.write(row)
            check_collapse(row["embedding_spread"], step, tc)
            bar.set_postfix(loss=f"{row['loss']:.3f}", mccl=f"{row['loss_mccl']:.3f}", ptd=f"{row['loss_ptd']:.4f}")
        if step % tc.eval_every == 0 or step == total_steps:
            evaluate_and_keep_best()
            model.train()
        if step % tc.save_every == 0 or step == stop_at:
            save()
        if step % tc.log_every == 0:
            tick = time.time()  # time steps only, not evaluation or checkpoints
    bar.close()

    if step < total_steps:
        log.warning("stopped at step %d of %d; continue with --resume", step, total_steps)
        return TrainResult(out, model_dir, step, state["best_dev"], state["best_step"], time.time() - started,
                           finished=False)
    if accelerator.is_main_process:
        if not dev_records:
            export(model_dir)
        export(out / "last-model")
        summary = {"steps": step, "best_dev_va_pearson": state["best_dev"], "best_step": state["best_step"],
                   "seconds": time.time() - started}
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
    accelerator.wait_for_everyone()
    return TrainResult(out, model_dir, step, state["best_dev"], state["best_step"], time.time() - started)
