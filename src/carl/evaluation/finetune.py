"""The fine-tuning protocol (``carl finetune``): encoder + a linear head trained on one task.

Beside the frozen-embedding probes, because papers often report fine-tuned numbers. For a
``va_regression`` task the head predicts V and A (MSE on ratings standardised with the
training split's mean and std, mapped back before scoring); for a
``classification`` task it predicts the class (cross-entropy). The encoder and the head are
trained together with AdamW and linear warmup/decay for a fixed number of steps; the step
with the best dev score (mean Pearson, or macro-F1) is kept and scored once on test with the
same metrics as the probes. Splits, filters and ``max_train`` / ``max_eval`` subsampling are
those of :func:`carl.evaluation.tasks.run_tasks`, so fine-tuned and probed numbers cover the
same texts.
"""

from __future__ import annotations

import copy
import pathlib
import json
import time
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from carl.data import resolve_data_dir
from carl.data.specs import is_table
from carl.errors import CarlError
from carl.evaluation.probes import classification_metrics, va_metrics
from carl.evaluation.task_specs import TASKS, table_task
from carl.evaluation.tasks import EvalData, has_va, label_filter, single_label
from carl.inference.encoders import load_encoder, resolve_model_path
from carl.network.embedding import POOLERS

KINDS = ("va_regression", "classification")
PROTOCOL_VERSION = 2
"""Bumped when the protocol changes what a number means (2: V-A targets standardised), so a
grid knows its stored fine-tune results are stale."""


class FinetuneModel(nn.Module):
    """Encoder -> pooling -> linear head (2 outputs for V-A, one per class otherwise)."""

    def __init__(self, encoder: nn.Module, pooling: str, outputs: int):
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.head = nn.Linear(encoder.config.hidden_size, outputs)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(POOLERS[self.pooling](hidden, attention_mask))


@torch.no_grad()
def predict(model: FinetuneModel, tokenizer, texts: Sequence[str], max_length: int, batch_size: int = 64) -> np.ndarray:
    model.eval()
    out = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(list(texts[start:start + batch_size]), padding=True, truncation=True,
                          max_length=max_length, return_tensors="pt")
        out.append(model(batch["input_ids"], batch["attention_mask"]).float().numpy())
    model.train()
    return np.concatenate(out)


def standardisation(train_targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and std of the training targets; the head regresses ``(y - mean) / std``.

    EmoBank's [0, 1] ratings have a std near 0.1: unscaled, the MSE and its gradients are
    ~100x smaller than the learning rates assume, and a short fine-tune barely moves the head.
    A constant column (std below 1e-6, where float32 rounding leaves a nonzero std) gets std 1
    so it is not blown up into noise.
    """
    mean = train_targets.astype(np.float64).mean(0)
    std = train_targets.astype(np.float64).std(0)
    std = np.where(std > 1e-6, std, 1.0)
    return mean.astype(train_targets.dtype), std.astype(train_targets.dtype)


def _model_pooling(model_ref: str) -> str:
    meta = pathlib.Path(resolve_model_path(model_ref)) / "carl.json"
    try:
        return json.loads(meta.read_text()).get("pooling", "mean") if meta.is_file() else "mean"
    except (OSError, TypeError):
        return "mean"


def finetune(model_ref: str, task: str, data_dir=None, *, steps: int = 300, batch_size: int = 32,
             learning_rate: float = 3e-5, head_learning_rate: float = 1e-3, max_length: int = 64,
             eval_every: int = 100, seed: int = 0, split_seed: int = 0, max_train: int | None = None,
             max_eval: int | None = None) -> dict:
    """Fine-tune ``model_ref`` on ``task``; returns ``{metric: value, ..., "_meta": {...}}`` (test split)."""
    from transformers import get_linear_schedule_with_warmup

    spec = table_task(task) if is_table(task) else TASKS.get(task)
    if spec is None or spec.kind not in KINDS:
        usable = [name for name, t in TASKS.items() if t.kind in KINDS]
        raise CarlError(f"finetune: task {task!r} cannot be fine-tuned; tasks: {', '.join(usable)}")
    if steps < 1 or batch_size < 1 or eval_every < 1:
        raise CarlError("finetune: steps, batch size and eval_every must be >= 1")
    started = time.time()
    torch.manual_seed(seed)
    ctx = EvalData(resolve_data_dir(data_dir), seed, split_seed, max_train, max_eval)
    regression = spec.kind == "va_regression"
    if regression:
        rows = {s: ctx.split(spec.corpus, s, keep=has_va) for s in ("train", "dev", "test")}
        targets = {s: np.array([[r.valence, r.arousal] for r in rs], dtype=np.float32) for s, rs in rows.items()}
        classes: list[str] = []
        target_mean, target_std = standardisation(targets["train"])
    else:
        keep = label_filter(spec)
        rows = {s: ctx.split(spec.corpus, s, keep=keep, stratify=single_label) for s in ("train", "dev", "test")}
        classes = sorted({r.labels[0] for r in rows["train"]})
        index = {c: i for i, c in enumerate(classes)}
        targets = {"train": np.array([index[r.labels[0]] for r in rows["train"]])}  # dev/test are scored by name
    texts = {s: [r.text for r in rs] for s, rs in rows.items()}

    encoder, tokenizer = load_encoder(model_ref)
    model = FinetuneModel(encoder, _model_pooling(model_ref), 2 if regression else len(classes))
    optimizer = torch.optim.AdamW([{"params": model.encoder.parameters(), "lr": learning_rate},
                                   {"params": model.head.parameters(), "lr": head_learning_rate}], weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(0.1 * steps), steps)
    loss_fn = nn.MSELoss() if regression else nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)

    def score(split: str) -> dict:
        out = predict(model, tokenizer, texts[split], max_length)
        if regression:
            prediction = out.astype(np.float64) * target_std + target_mean
            return va_metrics(prediction, targets[split].astype(np.float64))
        gold = np.array([r.labels[0] for r in rows[split]])
        return classification_metrics(gold, np.array(classes)[out.argmax(1)], spec.exclude_label)

    selection = "pearson_mean" if regression else "macro_f1"
    best, best_state, best_step, history = -np.inf, None, 0, []
    order = rng.permutation(len(texts["train"]))
    cursor = 0
    model.train()
    for step in range(1, steps + 1):
        if cursor + batch_size > len(order):
            order, cursor = rng.permutation(len(texts["train"])), 0
        idx = order[cursor:cursor + batch_size]
        cursor += batch_size
        batch = tokenizer([texts["train"][i] for i in idx], padding=True, truncation=True, max_length=max_length,
                          return_tensors="pt")
        target = targets["train"][idx]
        target = torch.from_numpy((target - target_mean) / target_std if regression else target)
        loss = loss_fn(model(batch["input_ids"], batch["attention_mask"]).float(), target)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if step % eval_every == 0 or step == steps:
            dev = score("dev")[selection]
            history.append({"step": step, "loss": loss.item(), f"dev_{selection}": dev})
            if dev > best:
                best, best_step, best_state = dev, step, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    metrics = score("test")
    metrics.update({f"n_{s}": len(rs) for s, rs in rows.items()})
    metrics["_meta"] = {"model": model_ref, "task": task, "protocol": "finetune",
                        "protocol_version": PROTOCOL_VERSION, "steps": steps,
                        "batch_size": batch_size, "learning_rate": learning_rate,
                        "head_learning_rate": head_learning_rate, "max_length": max_length, "seed": seed,
                        "split_seed": split_seed, "max_train": max_train, "max_eval": max_eval,
                        "selection": f"dev {selection}",
                        "targets": "train-standardised" if regression else "class index",
                        "best_step": best_step, "history": history,
                        "seconds": round(time.time() - started, 1)}
    return metrics
