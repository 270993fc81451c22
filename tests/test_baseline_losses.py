"""The SimCSE and SupCon losses against hand-written references (InfoNCE, Khosla et al.'s L_out)."""

from __future__ import annotations


import pytest
import torch
import torch.nn.functional as F

from carl.losses import SimCSELoss, SupConLoss


def _reference_infonce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    logits = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T / temperature
    return F.cross_entropy(logits, torch.arange(len(a)))


def _reference_supcon_out(a: torch.Tensor, b: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """Khosla et al. 2020, Eq. 2 (L_out), written out loop by loop over the 2N views."""
    z = F.normalize(torch.cat([a, b]), dim=1).double()
    y = torch.cat([labels, labels]).tolist()
    sim = z @ z.T / temperature
    total = 0.0
    for i in range(len(y)):
        others = [k for k in range(len(y)) if k != i]
        log_denominator = torch.logsumexp(sim[i, others], dim=0)
        positives = [p for p in others if y[p] == y[i]]
        total = total - sum(sim[i, p] - log_denominator for p in positives) / len(positives)
    return total / len(y)


def _reference_nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's NT-Xent over 2N views: the positive is the other view of the same text,
    every other view (of either batch) a negative."""
    z = F.normalize(torch.cat([a, b]), dim=1).double()
    n = len(a)
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, target)


def test_simcse_matches_hand_written_infonce():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(16, 24, generator=gen), torch.randn(16, 24, generator=gen)
    for temperature in (0.05, 0.5):
        ours = SimCSELoss(temperature)(a, b)
        assert ours.shape == ()
        torch.testing.assert_close(ours, _reference_infonce(a, b, temperature), atol=1e-5, rtol=0)


def test_simcse_close_views_score_lower_and_gradients_flow():
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(16, 32, generator=gen, requires_grad=True)
    close = (a.detach() + 0.01 * torch.randn(16, 32, generator=gen)).requires_grad_(True)
    random = torch.randn(16, 32, generator=gen)
    loss_fn = SimCSELoss()
    low, high = loss_fn(a, close), loss_fn(a, random)
    assert low < 0.1 < 1.0 < high
    low.backward()
    for grad in (a.grad, close.grad):
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_supcon_matches_khosla_l_out():
    gen = torch.Generator().manual_seed(2)
    a, b = torch.randn(12, 16, generator=gen), torch.randn(12, 16, generator=gen)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 0, 1, 3, 3, 2])
    ours = SupConLoss(0.1)(a, b, labels)
    assert torch.isfinite(ours)
    ref = _reference_supcon_out(a, b, labels, 0.1)
    assert ours.item() == pytest.approx(ref.item(), abs=1e-4)
    # Another temperature is used, not ignored.
    assert SupConLoss(0.5)(a, b, labels).item() == pytest.approx(_reference_supcon_out(a, b, labels, 0.5).item(),
                                                                 abs=1e-4)


def test_supcon_with_distinct_labels_is_nt_xent_over_both_views():
    gen = torch.Generator().manual_seed(3)
    a, b = torch.randn(10, 16, generator=gen), torch.randn(10, 16, generator=gen)
    labels = torch.arange(10)
    ours = SupConLoss(0.1)(a, b, labels)
    assert ours.item() == pytest.approx(_reference_nt_xent(a, b, 0.1).item(), abs=1e-4)
    # ... which is not SimCSELoss: that one contrasts only against the other batch's views.
    assert abs(ours.item() - SimCSELoss(0.1)(a, b).item()) > 1e-2


def test_supcon_gradients_flow_and_close_views_score_lower():
    gen = torch.Generator().manual_seed(4)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    centres = torch.randn(4, 16, generator=gen) * 5
    a = (centres[labels] + 0.1 * torch.randn(8, 16, generator=gen)).requires_grad_(True)
    b = centres[labels] + 0.1 * torch.randn(8, 16, generator=gen)
    clustered = SupConLoss()(a, b, labels)
    scattered = SupConLoss()(torch.randn(8, 16, generator=gen), torch.randn(8, 16, generator=gen), labels)
    assert torch.isfinite(clustered) and clustered < scattered
    clustered.backward()
    assert torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0
