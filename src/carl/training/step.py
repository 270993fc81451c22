"""One CARL optimisation step, top to bottom.

Cost (forward = 1, backward = 2): online forward+backward (3) whose backward also yields
the saliency and the first PGD gradient, target forward without autograd (1), perturbed
forward+backward for the discriminator (3). Further PGD steps (pgd_steps > 1) cost one
online forward+backward each, taken w.r.t. delta only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.distributed as dist

from carl.config import CarlConfig
from carl.errors import CarlError
from carl.losses import FocalTokenLoss, LabelQueue, MCCLLoss, SupConLoss, perturb_salient_tokens
from carl.losses import functional as CF
from carl.network.carl import CarlModel


class NonFiniteLossError(CarlError):
    """A loss became NaN or inf; the step was not applied."""


@dataclass
class StepOutput:
    loss: torch.Tensor       # weighted total, detached
    mccl: torch.Tensor       # detached
    ptd: torch.Tensor        # detached
    perturbed_fraction: torch.Tensor  # share of real tokens perturbed
    spread: torch.Tensor     # collapse monitor, see embedding_spread


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def gather_rows(x: torch.Tensor, differentiable: bool) -> torch.Tensor:
    """Concatenate a tensor's rows from every process (identity on one process).

    ``differentiable``: gradients flow back to each process's own slice (used for the
    online predictions, so the MCCL loss over the global batch trains every replica).
    """
    if world_size() == 1:
        return x
    if differentiable:
        from torch.distributed.nn.functional import all_gather

        return torch.cat(all_gather(x), dim=0)
    parts = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts, dim=0)


def global_sum(x: torch.Tensor) -> torch.Tensor:
    if world_size() == 1:
        return x
    x = x.clone()
    dist.all_reduce(x)
    return x


class CarlStep:
    """Computes the losses of one batch and runs their backward passes.

    ``backward`` is the accelerator's (fp32 or bf16: no loss scaling; fp16 is refused by
    ``CarlConfig.validate``). Gradients of all
    processes are averaged by :func:`average_gradients` after this returns.
    """

    def __init__(self, config: CarlConfig, backward: Callable[[torch.Tensor], None], generator: torch.Generator):
        self.config = config
        self.backward = backward
        self.generator = generator
        self.mccl_loss = MCCLLoss(config.mccl.temperature, config.mccl.label_temperature,
                                  centre_labels=config.mccl.centre_labels and config.mccl.label_mode == "continuous",
                                  label_similarity=config.mccl.label_similarity,
                                  instance_weight=config.mccl.instance_weight,
                                  anchor_weight=config.mccl.anchor_weight,
                                  anchor_temperature=config.mccl.anchor_temperature,
                                  arousal_weight=config.mccl.arousal_weight)
        self.focal_loss = FocalTokenLoss(config.ptd.focal_gamma, config.ptd.focal_alpha)
        # Every process gathers the same global targets, so every process's queue is the same.
        self.queue = LabelQueue(config.mccl.queue_size) if config.mccl.queue_size > 0 else None
        self.class_loss = SupConLoss(config.mccl.class_temperature) if config.mccl.class_weight > 0 else None

    def global_mccl(self, model: CarlModel, pooled, target, all_labels, all_classes=None,
                    all_anchors=None) -> torch.Tensor:
        """MCCL over the global batch (and the queue): every process computes the same full loss.

        With ``mccl.class_weight`` = lambda > 0 it is soft cross-entropy + lambda * SupCon, the
        online predictions as anchors and the targets as second views, V-A grid cells as classes.
        """
        online = gather_rows(model.predict(pooled), differentiable=True)
        loss = self.mccl_loss(online, target, all_labels, queue=self.queue, anchors=all_anchors)
        if self.class_loss is not None:
            loss = loss + self.config.mccl.class_weight * self.class_loss(online, target, all_classes)
        return loss

    def __call__(self, model: CarlModel, batch: dict[str, torch.Tensor], step: int) -> StepOutput:
        mccl_cfg, ptd_cfg = self.config.mccl, self.config.ptd
        ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
        zero = torch.zeros((), device=ids.device)

        embeddings = model.word_embeddings(ids)
        if ptd_cfg.enabled:
            embeddings.retain_grad()
        pooled = model.pool(model.online_hidden(embeddings, mask), mask)
        spread = embedding_spread(pooled.detach())
        target = gather_rows(model.target_projection_of(ids, mask), differentiable=False)
        all_labels = gather_rows(labels, differentiable=False)
        all_classes = gather_rows(batch["classes"], differentiable=False) if self.class_loss is not None else None
        all_anchors = gather_rows(batch["anchors"], differentiable=False) if "anchors" in batch else None
        mccl = self.global_mccl(model, pooled, target, all_labels, all_classes, all_anchors)
        self._check(mccl, "MCCL", step)
        emotion = self.emotion_term(model, pooled, batch)
        if emotion is not None:
            self._check(emotion, "emotion-class", step)

        if mccl_cfg.enabled:
            # The hybrid's emotion term joins MCCL's backward pass (so PTD's saliency, if on, reads both).
            sentence_loss = mccl * mccl_cfg.weight
            if emotion is not None:
                sentence_loss = sentence_loss + emotion * self.config.objective.emotion_weight
            self.backward(sentence_loss)
            embedding_grad = embeddings.grad if ptd_cfg.enabled else None
        else:
            embedding_grad = torch.autograd.grad(mccl, embeddings)[0] if ptd_cfg.enabled else None
        extra = emotion.detach() * self.config.objective.emotion_weight if emotion is not None else zero
        if not ptd_cfg.enabled:
            self._enqueue(target, all_labels)
            return StepOutput(mccl.detach() * mccl_cfg.weight + extra, mccl.detach(), zero, zero, spread)

        selected = self.select_tokens(embedding_grad, batch["candidates"])
        delta = perturb_salient_tokens(
            embeddings.detach(), embedding_grad, selected,
            epsilon=ptd_cfg.epsilon, relative_epsilon=ptd_cfg.relative_epsilon,
            steps=ptd_cfg.pgd_steps, step_scale=ptd_cfg.pgd_step_scale,
            loss_grad=lambda d: self.mccl_grad_wrt_delta(model, embeddings.detach(), d, mask, target, all_labels,
                                                         all_classes, all_anchors),
        )
        self._enqueue(target, all_labels)  # after PGD, which contrasts against the queue of this step's loss
        perturbed = model.word_embeddings(ids) + delta.to(embeddings.dtype)
        logits = model.discriminate(model.online_hidden(perturbed, mask))
        valid = mask.bool()
        # Normalise by the global count of real tokens so that averaging gradients over
        # processes equals the single-process loss on the global batch.
        local_tokens = valid.sum().float()
        share = local_tokens * world_size() / global_sum(local_tokens).clamp_min(1.0)
        ptd = self.focal_loss(logits, selected, valid) * share
        self._check(ptd, "PTD", step)
        self.backward(ptd * ptd_cfg.weight)
        ptd_report = global_sum(ptd.detach()) / world_size()
        weight = mccl_cfg.weight if mccl_cfg.enabled else 0.0
        return StepOutput(
            (mccl.detach() * weight + extra + ptd_report * ptd_cfg.weight),
            mccl.detach(), ptd_report,
            selected.sum() / valid.sum().clamp_min(1), spread,
        )

    def emotion_term(self, model: CarlModel, pooled: torch.Tensor, batch: dict[str, torch.Tensor]):
        """The hybrid's cross-entropy over this process's texts that have an emotion class
        (None without ``objective.emotion_weight``). Local, not gathered: the gradient average
        over processes makes it the mean of the processes' means."""
        if model.emotion_classifier is None:
            return None
        return CF.labelled_cross_entropy(model.emotion_classifier(pooled), batch["emotions"])

    def _enqueue(self, target: torch.Tensor, labels: torch.Tensor) -> None:
        if self.queue is not None:
            self.queue.push(target, labels)

    def select_tokens(self, embedding_grad: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        if self.config.ptd.token_selection == "random":
            return CF.random_fraction_mask(candidates, self.config.ptd.top_fraction, self.generator)
        return CF.top_fraction_mask(CF.saliency_scores(embedding_grad), candidates, self.config.ptd.top_fraction)

    def mccl_grad_wrt_delta(self, model, embeddings, delta, mask, target, all_labels, all_classes=None,
                            all_anchors=None) -> torch.Tensor:
        delta = delta.detach().requires_grad_(True)
        pooled = model.pool(model.online_hidden(embeddings + delta.to(embeddings.dtype), mask), mask)
        loss = self.global_mccl(model, pooled, target, all_labels, all_classes, all_anchors)
        return torch.autograd.grad(loss, delta)[0]

    def _check(self, loss: torch.Tensor, component: str, step: int) -> None:
        if self.config.train.check_finite:
            raise_if_not_finite(loss, component, step)


def raise_if_not_finite(loss: torch.Tensor, component: str, step: int) -> None:
    """Stop before a NaN/inf loss is applied (one host-device sync)."""
    if not torch.isfinite(loss):
        raise NonFiniteLossError(
            f"the {component} loss is {loss.item()} at step {step}; the step was not applied. "
            "Likely causes: a learning rate too high, an overflow in low precision (use bf16 or fp32), or invalid labels. "
            "The last good checkpoint is kept; resume from it with --resume after fixing the cause."
        )


def embedding_spread(pooled: torch.Tensor) -> torch.Tensor:
    """Per-dimension std of the L2-normalised sentence embeddings over the batch, times sqrt(H).

    About 1 for directions spread uniformly on the sphere, 0 when every text maps to the
    same point (representation collapse); pretrained encoders typically sit well above 0.2.
    """
    unit = torch.nn.functional.normalize(pooled.float(), dim=-1)
    return unit.std(dim=0).mean() * unit.shape[-1] ** 0.5


def average_gradients(parameters) -> None:
    """Average .grad over processes (plain all-reduce; no DDP wrapper, because a CARL step
    runs two backward passes through different sub-networks)."""
    n = world_size()
    if n == 1:
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= n
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()
