"""Baselines that the CARL trainer runs on the same encoder, data, batches, optimiser and step
budget as CARL (``objective.name``), so a comparison changes the objective and nothing else.

* ``supervised``: cross-entropy fine-tuning, pooled embedding -> linear classifier over the
  discrete labels (``data.discrete_labels``).
* ``regression``: the same with continuous labels, pooled embedding -> linear regressor onto
  the centred V-A labels, mean squared error (:func:`carl.losses.functional.va_regression_loss`).
* ``simcse``: unsupervised SimCSE; the batch is encoded twice with dropout on, and
  :class:`carl.losses.SimCSELoss` (sentence-transformers) pulls the two views together.
* ``supcon``: supervised contrastive learning on two dropout views with the discrete labels
  (:class:`carl.losses.SupConLoss`, pytorch-metric-learning).

SimCSE and SupCon contrast the pooled embedding directly, with **no projection head** (their
papers train through one and discard it; docs/method.md, "no projection head", says why
carl keeps it this way).

A :class:`BaselineModel` offers what the trainer needs of a :class:`carl.network.CarlModel`
(``encoder``, ``trainable_groups``, ``update_target``); what users get is again the encoder
with its pooling.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from carl.config import CarlConfig
from carl.losses import SimCSELoss, SupConLoss
from carl.losses.functional import va_regression_loss
from carl.network.embedding import POOLERS
from carl.training.step import StepOutput, embedding_spread, gather_rows, raise_if_not_finite

NEEDS_CLASSES = ("supervised", "supcon")
#: Dimension of the regression baseline's output: valence and arousal.
VA_DIM = 2


class BaselineModel(nn.Module):
    """Encoder + pooling, plus a linear classifier (supervised baseline) or a linear V-A
    regressor (regression baseline)."""

    def __init__(self, encoder: nn.Module, pooling: str, num_classes: int | None = None, va_regressor: bool = False):
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.classifier = nn.Linear(encoder.config.hidden_size, num_classes) if num_classes else None
        self.regressor = nn.Linear(encoder.config.hidden_size, VA_DIM) if va_regressor else None

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return POOLERS[self.pooling](hidden, attention_mask)

    def trainable_groups(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        heads = [p for m in (self.classifier, self.regressor) if m is not None for p in m.parameters()]
        return [p for p in self.encoder.parameters() if p.requires_grad], heads

    def update_target(self, momentum: float) -> None:
        """No target branch: nothing to update."""


class BaselineStep:
    """One optimisation step of a baseline; same contract as :class:`carl.training.step.CarlStep`."""

    def __init__(self, config: CarlConfig, backward: Callable[[torch.Tensor], None]):
        self.name = config.objective.name
        self.backward = backward
        self.check_finite = config.train.check_finite
        self.simcse = SimCSELoss(config.objective.simcse_temperature) if self.name == "simcse" else None
        self.supcon = SupConLoss(config.objective.supcon_temperature) if self.name == "supcon" else None

    def __call__(self, model: BaselineModel, batch: dict[str, torch.Tensor], step: int) -> StepOutput:
        ids, mask = batch["input_ids"], batch["attention_mask"]
        classes = batch["labels"].argmax(dim=1) if self.name in NEEDS_CLASSES else None
        view_a = model.embed(ids, mask)
        if self.name == "supervised":
            loss = nn.functional.cross_entropy(model.classifier(view_a).float(), classes)
        elif self.name == "regression":
            loss = va_regression_loss(model.regressor(view_a), batch["labels"])
        else:
            # Second dropout view; gathered so that every process contrasts against the global batch.
            view_b = model.embed(ids, mask)
            a, b = gather_rows(view_a, differentiable=True), gather_rows(view_b, differentiable=True)
            if self.name == "simcse":
                loss = self.simcse(a, b)
            else:
                loss = self.supcon(a, b, gather_rows(classes, differentiable=False))
        if self.check_finite:
            raise_if_not_finite(loss, self.name, step)
        self.backward(loss)
        zero = torch.zeros((), device=ids.device)
        return StepOutput(loss.detach(), zero, zero, zero, embedding_spread(view_a.detach()))
