"""MCCL: momentum continuous contrastive learning."""

from __future__ import annotations

import torch
from torch import nn

from carl.losses import functional as CF


class MCCLLoss(nn.Module):
    """Symmetric soft cross-entropy between embedding and label similarities.

    Inputs:
        online: (N, D) predictions p of the online branch (differentiable).
        target: (M, D) projections z' of the target branch (no gradient). M = N on one
            process; under data parallelism M is the global batch, gathered.
        labels: (N, d) labels of the online rows; target_labels: (M, d) of the target rows.
            V-A in [0, 1] (continuous) or one-hot rows (discrete ablation).
    Output: scalar loss.

    ``label_similarity``: ``cosine`` (the paper's Eq. 4) or ``neg_sq_distance`` (a Gaussian kernel
    on V-A distance, :func:`carl.losses.functional.negative_squared_distance`).
    ``instance_weight`` alpha: targets (1 - alpha) T + alpha I, each text's own target view as an
    extra positive (:func:`carl.losses.functional.with_instance_targets`; 0: the paper).
    ``anchor_weight`` beta: targets (1 - beta) T + beta A, A the frozen encoder's in-batch
    neighbourhoods of ``anchors`` (:func:`carl.losses.functional.anchor_targets`; 0: the paper).
    ``arousal_weight`` w_A: the arousal coordinate counts w_A times in the label kernel
    (:func:`carl.losses.functional.weight_arousal`; 1: the paper).

    Reference: Son et al. 2025 (CARL), Eqs. 4-6; BYOL (Grill et al. 2020) for the branches.
    """

    def __init__(self, temperature: float = 0.1, label_temperature: float = 0.1, centre_labels: bool = True,
                 label_similarity: str = "cosine", instance_weight: float = 0.0, anchor_weight: float = 0.0,
                 anchor_temperature: float = 0.05, arousal_weight: float = 1.0):
        super().__init__()
        self.arousal_weight = arousal_weight
        self.instance_weight = instance_weight
        self.anchor_weight = anchor_weight
        self.anchor_temperature = anchor_temperature
        self.temperature = temperature
        self.label_temperature = label_temperature
        self.centre_labels = centre_labels
        self.label_similarity = CF.LABEL_SIMILARITIES[label_similarity]

    def forward(self, online, target, labels, target_labels=None, queue: LabelQueue | None = None,
                anchors: torch.Tensor | None = None) -> torch.Tensor:
        target_labels = labels if target_labels is None else target_labels
        n_current = target.shape[0]
        if queue is not None and len(queue):
            target = torch.cat([target, queue.embeddings.to(target.dtype)])
            target_labels = torch.cat([target_labels, queue.labels.to(target_labels.dtype)])
        if self.centre_labels:
            labels, target_labels = CF.centre_labels(labels), CF.centre_labels(target_labels)
        labels = CF.weight_arousal(labels, self.arousal_weight)
        target_labels = CF.weight_arousal(target_labels, self.arousal_weight)
        logits = CF.embedding_similarity(online.float(), target.float(), self.temperature)
        label_sim = self.label_similarity(labels.float(), target_labels.float())
        if self.anchor_weight > 0 and anchors is None:
            raise ValueError("anchor_weight > 0 needs the frozen encoder's embeddings of the batch (anchors)")
        anchor = CF.anchor_targets(anchors, self.anchor_temperature) if self.anchor_weight > 0 else None
        return CF.queued_soft_cross_entropy(logits, label_sim, self.label_temperature, n_current,
                                            self.instance_weight, anchor, self.anchor_weight)


class LabelQueue:
    """First-in-first-out memory of the last ``size`` target rows and their labels (MoCo's queue,
    He et al. 2020, carrying V-A labels so that soft targets extend to queued entries).

    At batch 32 each prediction sees 31 other targets; a queue of Q adds Q candidates (soft
    positives and negatives alike) per step at no extra forward pass. Entries are detached.
    :meth:`state_dict` / :meth:`load_state_dict` carry rows, labels, write pointer and fill through
    checkpoints, so a resumed run contrasts against the same queue as an uninterrupted one.
    """

    def __init__(self, size: int):
        if size < 1:
            raise ValueError(f"queue size must be >= 1, got {size}")
        self.size = size
        self._embeddings: torch.Tensor | None = None
        self._labels: torch.Tensor | None = None
        self._next = 0
        self._filled = 0

    def __len__(self) -> int:
        return self._filled

    @property
    def embeddings(self) -> torch.Tensor:
        """(len, D) queued targets, in slot order."""
        return self._embeddings[: self._filled]

    @property
    def labels(self) -> torch.Tensor:
        """(len, d) their labels."""
        return self._labels[: self._filled]

    @torch.no_grad()
    def push(self, embeddings: torch.Tensor, labels: torch.Tensor) -> None:
        """Store a batch's target rows, overwriting the oldest once full."""
        embeddings, labels = embeddings.detach(), labels.detach()
        if self._embeddings is None:
            self._embeddings = embeddings.new_zeros((self.size, embeddings.shape[1]))
            self._labels = labels.new_zeros((self.size, labels.shape[1]))
        rows = embeddings.shape[0]
        if rows > self.size:  # a batch larger than the queue keeps its last rows
            embeddings, labels, rows = embeddings[-self.size:], labels[-self.size:], self.size
        slots = (self._next + torch.arange(rows, device=self._embeddings.device)) % self.size
        self._embeddings[slots] = embeddings.to(self._embeddings.dtype)
        self._labels[slots] = labels.to(self._labels.dtype)
        self._next = (self._next + rows) % self.size
        self._filled = min(self.size, self._filled + rows)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors only (checkpoints load with ``weights_only=True``); empty before the first push."""
        if self._embeddings is None:
            return {}
        return {"embeddings": self._embeddings.cpu(), "labels": self._labels.cpu(),
                "next": torch.tensor(self._next), "filled": torch.tensor(self._filled)}

    def load_state_dict(self, state: dict[str, torch.Tensor], device: torch.device | str = "cpu") -> None:
        if not state:
            self._embeddings = self._labels = None
            self._next = self._filled = 0
            return
        if state["embeddings"].shape[0] != self.size:
            raise ValueError(f"the checkpoint's queue holds {state['embeddings'].shape[0]} rows, this run's "
                             f"mccl.queue_size is {self.size}")
        self._embeddings = state["embeddings"].to(device)
        self._labels = state["labels"].to(device)
        self._next, self._filled = int(state["next"]), int(state["filled"])
