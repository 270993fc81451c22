"""Losses of the baselines, taken from well-kept libraries so that no baseline is handicapped
by this project's own code (docs/method.md, "Baselines").

Both take two dropout views of the same batch (the texts encoded twice with dropout on).
"""

from __future__ import annotations

import torch
from torch import nn


class SimCSELoss(nn.Module):
    """Unsupervised SimCSE: InfoNCE where text i's second view is its positive and every other
    text's second view a negative.

    Inputs: view_a, view_b: (N, D) sentence embeddings of the same N texts (differentiable).
    Output: scalar loss.

    Implementation: sentence-transformers' ``MultipleNegativesRankingLoss`` (cosine
    similarity, ``scale = 1 / temperature``) on the pair (view_a, view_b).
    Reference: Gao, Yao & Chen 2021, "SimCSE", Eq. 1 (temperature 0.05).
    """

    def __init__(self, temperature: float = 0.05):
        super().__init__()
        try:  # sentence-transformers >= 6
            from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
        except ImportError:  # older releases
            from sentence_transformers.losses import MultipleNegativesRankingLoss
        # The library loss only uses its model to embed raw features; we hand it embeddings.
        self.ranking = MultipleNegativesRankingLoss(model=None, scale=1.0 / temperature)

    def forward(self, view_a: torch.Tensor, view_b: torch.Tensor) -> torch.Tensor:
        return self.ranking.compute_loss_from_embeddings([view_a.float(), view_b.float()], None)


class SupConLoss(nn.Module):
    """Supervised contrastive loss: for each anchor, all other views with the same discrete label
    are positives, every other view a negative.

    Inputs: view_a, view_b: (N, D) embeddings of the same N texts; labels: (N,) class ids.
    Output: scalar loss.

    Implementation: pytorch-metric-learning's ``SupConLoss`` over the 2N views (cosine
    similarity on L2-normalised embeddings).
    Reference: Khosla et al. 2020, "Supervised Contrastive Learning", Eq. 2 (L_out; temperature 0.1).
    With all labels distinct it is SimCLR's NT-Xent over the 2N views. Note: the library
    returns 0 (no gradient) for a batch whose texts all share one label, where Eq. 2 is
    defined; with 9 V-A grid classes and batch 32 such a batch is practically impossible.
    """

    def __init__(self, temperature: float = 0.1):
        super().__init__()
        from pytorch_metric_learning.losses import SupConLoss as _SupCon

        self.supcon = _SupCon(temperature=temperature)

    def forward(self, view_a: torch.Tensor, view_b: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        embeddings = torch.cat([view_a, view_b]).float()
        return self.supcon(embeddings, torch.cat([labels, labels]))
