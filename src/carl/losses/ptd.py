"""PTD: perturbed token detection."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from carl.losses import functional as CF


def perturb_salient_tokens(
    embeddings: torch.Tensor,
    first_grad: torch.Tensor,
    selected: torch.Tensor,
    *,
    epsilon: float,
    relative_epsilon: bool,
    steps: int,
    step_scale: float,
    loss_grad: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """PGD inside an epsilon-ball on the selected tokens, ascending the MCCL loss (Eq. 9).

    embeddings: (N, T, H) input embeddings e; first_grad: dL/de at delta = 0, which is the
    gradient the saliency already came from, so step 1 costs no extra pass; selected:
    (N, T) bool. ``loss_grad(delta)`` returns dL/d(delta) at e + delta and is called only
    for steps 2..K. Returns delta (N, T, H), zero outside ``selected``, ||delta_t|| <= radius.
    """
    radius = CF.epsilon_radius(embeddings, epsilon, relative_epsilon)
    step_size = radius * step_scale
    delta = CF.pgd_ascent_step(torch.zeros_like(embeddings, dtype=torch.float32), first_grad, selected, step_size, radius)
    for _ in range(steps - 1):
        if loss_grad is None:
            raise ValueError("pgd steps > 1 need loss_grad")
        delta = CF.pgd_ascent_step(delta, loss_grad(delta), selected, step_size, radius)
    return delta


class FocalTokenLoss(nn.Module):
    """Focal loss of the token discriminator.

    Inputs: logits (N, T) from the discriminator on the perturbed input; perturbed (N, T)
    bool, the tokens that were perturbed (target 1); valid (N, T) bool, real tokens
    (padding is ignored). Output: scalar. Reference: Lin et al. 2017; CARL Eq. 10.
    """

    def __init__(self, gamma: float = 2.0, alpha: float = 0.25):
        super().__init__()
        self.gamma = gamma
        self.alpha = alpha

    def forward(self, logits, perturbed, valid) -> torch.Tensor:
        return CF.binary_focal_loss(logits, perturbed, valid, self.gamma, self.alpha)
