"""Training-only heads: BYOL-style projection / prediction MLPs and the token discriminator."""

from __future__ import annotations

from torch import nn


class MLPHead(nn.Sequential):
    """Linear -> LayerNorm -> ReLU -> Linear.

    BYOL uses BatchNorm here; LayerNorm keeps every example independent of the rest of
    the batch, so data-parallel training equals single-process training on the global batch.
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int):
        super().__init__(nn.Linear(in_dim, hidden_dim), nn.LayerNorm(hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, out_dim))


class TokenDiscriminator(nn.Module):
    """Per-token logit that the token's input embedding was perturbed (ELECTRA-style head)."""

    def __init__(self, hidden_dim: int):
        super().__init__()
        self.dense = nn.Linear(hidden_dim, hidden_dim)
        self.act = nn.GELU()
        self.out = nn.Linear(hidden_dim, 1)

    def forward(self, hidden):
        return self.out(self.act(self.dense(hidden))).squeeze(-1)
