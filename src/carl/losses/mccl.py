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

    Reference: Son et al. 2025 (CARL), Eqs. 4-6; BYOL (Grill et al. 2020) for the branches.
    """

    def __init__(self, temperature: float = 0.1, label_temperature: float = 0.1, centre_labels: bool = True,
                 label_similarity: str = "cosine"):
        super().__init__()
        self.temperature = temperature
        self.label_temperature = label_temperature
        self.centre_labels = centre_labels
        self.label_similarity = CF.LABEL_SIMILARITIES[label_similarity]

    def forward(self, online, target, labels, target_labels=None) -> torch.Tensor:
        target_labels = labels if target_labels is None else target_labels
        if self.centre_labels:
            labels, target_labels = CF.centre_labels(labels), CF.centre_labels(target_labels)
        logits = CF.embedding_similarity(online.float(), target.float(), self.temperature)
        label_sim = self.label_similarity(labels.float(), target_labels.float())
        return CF.symmetric_soft_cross_entropy(logits, label_sim, self.label_temperature)
