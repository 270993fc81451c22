"""Each piece of CARL's math against its defining property."""

import math

import pytest
import torch

from carl.losses import FocalTokenLoss, LabelQueue, MCCLLoss, perturb_salient_tokens
from carl.losses import functional as CF


def test_centre_labels_maps_unit_interval_to_symmetric():
    y = torch.tensor([[0.0, 1.0], [0.5, 0.5]])
    assert torch.equal(CF.centre_labels(y), torch.tensor([[-1.0, 1.0], [0.0, 0.0]]))


def test_label_similarity_is_cosine_and_handles_origin():
    y = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0], [0.0, 0.0]])
    sim = CF.label_similarity(y)
    assert sim.shape == (4, 4)
    assert sim[0, 1] == pytest.approx(0.0)
    assert sim[0, 2] == pytest.approx(-1.0)
    assert sim[1, 1] == pytest.approx(1.0)
    assert torch.all(sim[3] == 0) and torch.isfinite(sim).all()


def test_centring_spreads_label_similarity():
    # Un-centred V-A in [0, 1]^2 are all in one quadrant: cosines crowd near 1.
    y = torch.rand(64, 2, generator=torch.Generator().manual_seed(0))
    raw = CF.label_similarity(y)
    centred = CF.label_similarity(CF.centre_labels(y))
    assert raw.min() >= 0
    assert centred.min() < -0.9 and centred.std() > 2 * raw.std()


def test_negative_squared_distance_is_minus_squared_euclidean():
    y = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    sim = CF.negative_squared_distance(y, y[:2])
    assert sim.shape == (3, 2)
    assert torch.equal(sim, torch.tensor([[0.0, -5.0], [-5.0, 0.0], [-1.0, -4.0]]))


def test_distance_kernel_tells_apart_near_neutral_labels_that_cosine_confuses():
    # Two near-neutral labels on opposite sides of the origin are 0.02 apart: the cosine calls
    # them opposites (-1), the distance kernel near-identical; intensity (0.1 vs 0.9 along
    # one direction) is invisible to the cosine and large for the distance.
    y = torch.tensor([[0.01, 0.0], [-0.01, 0.0], [0.1, 0.1], [0.9, 0.9]])
    cos, dist = CF.label_similarity(y), CF.negative_squared_distance(y)
    assert cos[0, 1] == pytest.approx(-1.0) and dist[0, 1] == pytest.approx(-4e-4)
    assert cos[2, 3] == pytest.approx(1.0) and dist[2, 3] == pytest.approx(-1.28)
    targets = CF.soft_targets(dist, 0.1)
    assert targets[2, 0] > targets[2, 3]


def test_mccl_loss_with_distance_kernel_prefers_embeddings_ordered_like_labels():
    va = torch.tensor([[0.9, 0.9], [0.1, 0.1], [0.9, 0.85], [0.1, 0.15]])
    aligned = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [1.0, 0.05], [-1.0, 0.05]])
    loss = MCCLLoss(0.1, 0.1, label_similarity="neg_sq_distance")
    assert loss(aligned, aligned, va) < loss(aligned[[0, 1, 3, 2]], aligned, va)
    assert loss(aligned, aligned, va) != MCCLLoss(0.1, 0.1)(aligned, aligned, va)


def test_soft_targets_rows_sum_to_one_and_prefer_similar_labels():
    sim = CF.label_similarity(torch.randn(8, 2))
    t = CF.soft_targets(sim, 0.1)
    assert torch.allclose(t.sum(-1), torch.ones(8))
    assert torch.all(t.argmax(-1) == sim.argmax(-1))


def test_embedding_similarity_scales_cosine_by_temperature():
    p = torch.tensor([[3.0, 0.0]])
    z = torch.tensor([[1.0, 0.0], [0.0, 5.0]])
    assert torch.allclose(CF.embedding_similarity(p, z, 0.5), torch.tensor([[2.0, 0.0]]))


def test_symmetric_ce_is_minimised_by_logits_matching_targets():
    labels = CF.centre_labels(torch.rand(6, 2, generator=torch.Generator().manual_seed(1)))
    sim = CF.label_similarity(labels)
    matched = CF.symmetric_soft_cross_entropy(sim / 0.1, sim, 0.1)
    rand = CF.symmetric_soft_cross_entropy(torch.randn(6, 6) * 3, sim, 0.1)
    entropy = -(CF.soft_targets(sim, 0.1) * CF.soft_targets(sim, 0.1).log()).sum(-1).mean()
    assert matched == pytest.approx(float(entropy), abs=1e-5)  # CE(T, T) = H(T), the minimum
    assert rand > matched


def test_symmetric_ce_uses_both_directions():
    sim = CF.label_similarity(torch.randn(5, 2))
    logits = torch.randn(5, 5)
    rows = CF.soft_cross_entropy(logits, CF.soft_targets(sim, 0.2))
    cols = CF.soft_cross_entropy(logits.T, CF.soft_targets(sim.T, 0.2))
    assert CF.symmetric_soft_cross_entropy(logits, sim, 0.2) == pytest.approx(float(rows + cols) / 2)


def test_mccl_loss_prefers_embeddings_ordered_like_labels():
    va = torch.tensor([[0.9, 0.9], [0.1, 0.1], [0.9, 0.85], [0.1, 0.15]])
    aligned = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [1.0, 0.05], [-1.0, 0.05]])
    crossed = aligned[[0, 1, 3, 2]]
    loss = MCCLLoss(0.1, 0.1)
    assert loss(aligned, aligned, va) < loss(crossed, aligned, va)


def test_cosine_momentum_endpoints_and_monotone():
    m0 = 0.9996
    assert CF.cosine_momentum(0, 100, m0) == pytest.approx(m0)
    assert CF.cosine_momentum(100, 100, m0) == 1.0
    assert CF.cosine_momentum(50, 100, m0) == pytest.approx(1 - (1 - m0) / 2)
    values = [CF.cosine_momentum(k, 100, m0) for k in range(101)]
    assert all(b >= a for a, b in zip(values, values[1:]))
    assert CF.cosine_momentum(500, 100, m0) == 1.0


def test_ema_update_interpolates():
    target = [torch.zeros(3)]
    online = [torch.ones(3)]
    CF.ema_update_(target, online, 0.75)
    assert torch.allclose(target[0], torch.full((3,), 0.25))
    CF.ema_update_(target, online, 1.0)
    assert torch.allclose(target[0], torch.full((3,), 0.25))


def test_saliency_is_squared_gradient_norm():
    g = torch.tensor([[[3.0, 4.0], [1.0, 0.0]]])
    assert torch.equal(CF.saliency_scores(g), torch.tensor([[25.0, 1.0]]))


def test_top_fraction_never_selects_padding_or_specials_and_selects_at_least_one():
    scores = torch.tensor([[9.0, 1.0, 2.0, 3.0, 100.0, 50.0], [5.0, 4.0, 0.0, 0.0, 0.0, 0.0]])
    candidates = torch.tensor([[0, 1, 1, 1, 0, 0], [0, 1, 0, 0, 0, 0]], dtype=torch.bool)
    mask = CF.top_fraction_mask(scores, candidates, 0.1)
    assert mask.sum(-1).tolist() == [1, 1]
    assert mask[0, 3] and mask[1, 1]
    assert not (mask & ~candidates).any()


def test_top_fraction_count_and_empty_rows():
    scores = torch.randn(3, 40)
    candidates = torch.zeros(3, 40, dtype=torch.bool)
    candidates[0, 1:31] = True   # 30 real tokens -> 3 selected
    candidates[1, 1:5] = True    # 4 real tokens -> at least one
    mask = CF.top_fraction_mask(scores, candidates, 0.1)
    assert mask.sum(-1).tolist() == [3, 1, 0]
    top3 = scores[0].masked_fill(~candidates[0], -1e9).topk(3).indices
    assert set(mask[0].nonzero().flatten().tolist()) == set(top3.tolist())


def test_random_fraction_has_same_count_as_saliency():
    candidates = torch.zeros(2, 30, dtype=torch.bool)
    candidates[:, 1:21] = True
    g = torch.Generator().manual_seed(0)
    mask = CF.random_fraction_mask(candidates, 0.1, g)
    assert mask.sum(-1).tolist() == [2, 2]
    assert not (mask & ~candidates).any()


def test_projection_respects_ball():
    delta = torch.randn(4, 7, 16) * 10
    radius = torch.full((4, 7, 1), 0.5)
    projected = CF.project_to_ball(delta, radius)
    assert torch.all(projected.norm(dim=-1) <= 0.5 + 1e-6)
    small = torch.randn(4, 7, 16) * 1e-4
    assert torch.allclose(CF.project_to_ball(small, radius), small)


def test_relative_epsilon_scales_with_token_norm():
    e = torch.tensor([[[3.0, 4.0], [0.0, 1.0]]])
    assert torch.allclose(CF.epsilon_radius(e, 0.1, relative=True).squeeze(-1), torch.tensor([[0.5, 0.1]]))
    assert torch.allclose(CF.epsilon_radius(e, 0.1, relative=False).squeeze(-1), torch.tensor([[0.1, 0.1]]))


def test_pgd_perturbs_only_selected_tokens_within_epsilon_and_ascends():
    torch.manual_seed(0)
    e = torch.randn(2, 5, 8)
    w = torch.randn(8)

    def loss_of(x):
        return (x @ w).pow(2).sum()

    x = e.clone().requires_grad_(True)
    grad = torch.autograd.grad(loss_of(x), x)[0]
    selected = torch.zeros(2, 5, dtype=torch.bool)
    selected[0, 1] = selected[1, 3] = True

    def loss_grad(d):
        d = d.detach().requires_grad_(True)
        return torch.autograd.grad(loss_of(e + d), d)[0]

    delta = perturb_salient_tokens(e, grad, selected, epsilon=0.05, relative_epsilon=False, steps=3,
                                   step_scale=0.5, loss_grad=loss_grad)
    assert torch.all(delta[~selected] == 0)
    assert torch.all(delta.norm(dim=-1) <= 0.05 + 1e-6)
    assert torch.all(delta[selected].norm(dim=-1) > 0.04)
    assert loss_of(e + delta) > loss_of(e)


def test_paper_epsilon_is_below_float32_resolution_of_typical_embeddings():
    # Documented finding: with |e| ~ 0.05, eps = 5e-9 is below half the float32 spacing,
    # so e + delta rounds back to e for most coordinates.
    e = torch.full((1000,), 0.05)
    spacing = torch.finfo(torch.float32).eps * 0.05
    assert 5e-9 < spacing
    direction = torch.randn(1000)
    delta = 5e-9 * direction / direction.norm()
    assert torch.equal(e + delta, e)


def test_focal_loss_reduces_to_weighted_bce_at_gamma_zero_and_ignores_padding():
    logits = torch.tensor([[2.0, -1.0, 0.5, 7.0]])
    targets = torch.tensor([[1, 0, 1, 0]], dtype=torch.bool)
    valid = torch.tensor([[1, 1, 1, 0]], dtype=torch.bool)
    fl = CF.binary_focal_loss(logits, targets, valid, gamma=0.0, alpha=0.5)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits[:, :3], targets[:, :3].float())
    assert fl == pytest.approx(float(bce) * 0.5)
    changed = logits.clone()
    changed[0, 3] = -50.0
    assert CF.binary_focal_loss(changed, targets, valid) == CF.binary_focal_loss(logits, targets, valid)


def test_focal_loss_down_weights_easy_examples():
    targets = torch.ones(1, 2, dtype=torch.bool)
    valid = torch.ones(1, 2, dtype=torch.bool)
    easy = torch.tensor([[4.0, 4.0]])
    bce_easy = CF.binary_focal_loss(easy, targets, valid, gamma=0.0, alpha=1.0)
    focal_easy = CF.binary_focal_loss(easy, targets, valid, gamma=2.0, alpha=1.0)
    p = torch.sigmoid(torch.tensor(4.0))
    assert focal_easy == pytest.approx(float(bce_easy * (1 - p) ** 2), rel=1e-5)
    assert FocalTokenLoss()(easy, targets, valid) < bce_easy


def test_pooling():
    hidden = torch.tensor([[[1.0, 1.0], [3.0, 5.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert torch.equal(CF.mean_pool(hidden, mask), torch.tensor([[2.0, 3.0]]))
    assert torch.equal(CF.cls_pool(hidden, mask), torch.tensor([[1.0, 1.0]]))
    assert math.isfinite(float(CF.mean_pool(hidden, torch.zeros(1, 3)).sum()))


# ------------------------------------------------------------------ the label-aware queue


def test_queued_ce_without_queue_is_the_symmetric_ce():
    sim = CF.label_similarity(torch.randn(5, 2, generator=torch.Generator().manual_seed(2)))
    logits = torch.randn(5, 5, generator=torch.Generator().manual_seed(3))
    assert CF.queued_soft_cross_entropy(logits, sim, 0.1, 5) == pytest.approx(
        float(CF.symmetric_soft_cross_entropy(logits, sim, 0.1)))


def test_queued_ce_rows_see_the_queue_and_columns_do_not():
    g = torch.Generator().manual_seed(4)
    logits, sim = torch.randn(4, 7, generator=g), torch.randn(4, 7, generator=g)
    rows = CF.soft_cross_entropy(logits, CF.soft_targets(sim, 0.2))
    cols = CF.soft_cross_entropy(logits[:, :4].T, CF.soft_targets(sim[:, :4].T, 0.2))
    assert CF.queued_soft_cross_entropy(logits, sim, 0.2, 4) == pytest.approx(float(rows + cols) / 2)
    with pytest.raises(ValueError, match="n_current"):
        CF.queued_soft_cross_entropy(logits, sim, 0.2, 8)


def test_label_queue_is_first_in_first_out_and_keeps_labels_with_rows():
    queue = LabelQueue(5)
    assert len(queue) == 0
    queue.push(torch.arange(3.0).repeat(2, 1).T, torch.tensor([[0.0], [1.0], [2.0]]))
    assert len(queue) == 3 and queue.labels.flatten().tolist() == [0, 1, 2]
    queue.push(torch.arange(3.0, 7.0).repeat(2, 1).T, torch.tensor([[3.0], [4.0], [5.0], [6.0]]))
    assert len(queue) == 5
    # rows 0 and 1 were overwritten by 5 and 6; every row still carries its own label
    assert sorted(queue.labels.flatten().tolist()) == [2, 3, 4, 5, 6]
    assert torch.equal(queue.embeddings[:, 0], queue.labels.flatten())
    queue.push(torch.arange(10.0, 18.0).repeat(2, 1).T, torch.arange(10.0, 18.0)[:, None])  # larger than the queue
    assert sorted(queue.labels.flatten().tolist()) == [13, 14, 15, 16, 17]


def test_mccl_with_a_queue_pulls_towards_queued_rows_with_similar_labels():
    va = torch.tensor([[0.9, 0.9], [0.1, 0.1]])
    batch = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    queue = LabelQueue(2)
    queue.push(torch.tensor([[0.0, 1.0], [0.0, -1.0]]), torch.tensor([[0.9, 0.9], [0.1, 0.1]]))
    loss = MCCLLoss(0.1, 0.1, label_similarity="neg_sq_distance")
    toward = torch.tensor([[1.0, 1.0], [-1.0, -1.0]])  # online rows lean towards their label-mates in the queue
    away = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])
    assert loss(toward, batch, va, queue=queue) < loss(away, batch, va, queue=queue)
    assert loss(toward, batch, va) == pytest.approx(float(loss(away, batch, va)))  # without the queue: a tie


# ------------------------------------------------------------------ instance targets


def test_instance_targets_mix_the_identity_into_the_current_columns_only():
    targets = CF.soft_targets(torch.randn(3, 5, generator=torch.Generator().manual_seed(5)), 0.1)
    assert torch.equal(CF.with_instance_targets(targets, 0.0), targets)
    mixed = CF.with_instance_targets(targets, 0.25)
    assert torch.allclose(mixed.sum(dim=1), torch.ones(3))
    expected = 0.75 * targets
    expected[range(3), range(3)] += 0.25
    assert torch.allclose(mixed, expected)
    assert torch.allclose(mixed[:, 3:], 0.75 * targets[:, 3:])  # queued columns: no own view
    one_hot = CF.with_instance_targets(targets, 1.0)
    assert torch.equal(one_hot, torch.eye(3, 5))


def test_instance_weight_one_is_infonce_on_the_diagonal():
    g = torch.Generator().manual_seed(6)
    logits, sim = torch.randn(4, 4, generator=g), torch.randn(4, 4, generator=g)
    infonce = 0.5 * (torch.nn.functional.cross_entropy(logits, torch.arange(4))
                     + torch.nn.functional.cross_entropy(logits.T, torch.arange(4)))
    assert CF.queued_soft_cross_entropy(logits, sim, 0.1, 4, instance_weight=1.0) == pytest.approx(float(infonce))
    assert CF.queued_soft_cross_entropy(logits, sim, 0.1, 4, instance_weight=0.3) != pytest.approx(
        float(CF.queued_soft_cross_entropy(logits, sim, 0.1, 4)))


def test_mccl_instance_weight_raises_the_pull_towards_the_own_view():
    g = torch.Generator().manual_seed(7)
    target = torch.randn(4, 8, generator=g)
    labels = torch.tensor([[0.5, 0.5], [0.52, 0.5], [0.5, 0.52], [0.9, 0.1]])
    online = torch.randn(4, 8, generator=g)
    gains = {}
    for alpha in (0.0, 0.5):
        x = online.clone().requires_grad_(True)
        MCCLLoss(label_similarity="neg_sq_distance", instance_weight=alpha)(x, target, labels).backward()
        stepped = torch.nn.functional.normalize(x - 0.5 * x.grad, dim=-1)
        gains[alpha] = float((stepped[0] @ torch.nn.functional.normalize(target[0], dim=-1)).detach())
    assert gains[0.5] > gains[0.0]


# ------------------------------------------------------------------ anchor targets


def test_anchor_targets_are_the_frozen_neighbourhoods_without_the_text_itself():
    anchors = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    a = CF.anchor_targets(anchors, 0.05)
    assert torch.allclose(a.sum(dim=1), torch.ones(3)) and torch.all(a.diagonal() == 0)
    cos = torch.nn.functional.normalize(anchors, dim=-1) @ torch.nn.functional.normalize(anchors, dim=-1).T
    expected = torch.softmax(cos[0, 1:] / 0.05, dim=0)  # row 0 over texts 1 and 2
    assert torch.allclose(a[0, 1:], expected)
    assert a[0, 1] > 0.99 and a[2, 1] > a[2, 0]  # the near neighbour takes the mass


def test_anchor_mixing_fills_the_current_columns_only_and_zero_weight_is_the_identity():
    targets = CF.soft_targets(torch.randn(3, 5, generator=torch.Generator().manual_seed(8)), 0.1)
    anchor = CF.anchor_targets(torch.randn(3, 4, generator=torch.Generator().manual_seed(9)), 0.05)
    assert torch.equal(CF.with_anchor_targets(targets, anchor, 0.0), targets)
    assert torch.equal(CF.with_anchor_targets(targets, None, 0.5), targets)
    mixed = CF.with_anchor_targets(targets, anchor, 0.4)
    assert torch.allclose(mixed.sum(dim=1), torch.ones(3))
    assert torch.allclose(mixed[:, :3], 0.6 * targets[:, :3] + 0.4 * anchor)
    assert torch.allclose(mixed[:, 3:], 0.6 * targets[:, 3:])  # queued columns: no anchor


def test_anchor_weight_one_trains_towards_the_frozen_neighbourhoods_whatever_the_labels():
    g = torch.Generator().manual_seed(10)
    logits, anchors = torch.randn(4, 4, generator=g), torch.randn(4, 6, generator=g)
    a = CF.anchor_targets(anchors, 0.05)
    expected = 0.5 * (CF.soft_cross_entropy(logits, a) + CF.soft_cross_entropy(logits.T, a))
    for sim in (torch.randn(4, 4, generator=g), torch.zeros(4, 4)):
        assert CF.queued_soft_cross_entropy(logits, sim, 0.1, 4, anchor=a, anchor_weight=1.0) == pytest.approx(
            float(expected))


def test_mccl_anchor_weight_pulls_towards_the_frozen_neighbour():
    # Texts 0 and 1 are far apart in V-A but neighbours in the frozen space: the anchor term pulls
    # prediction 0 towards target 1 where the label targets alone push it away.
    target = torch.randn(3, 8, generator=torch.Generator().manual_seed(11))
    labels = torch.tensor([[0.9, 0.9], [0.1, 0.1], [0.85, 0.9]])
    anchors = torch.tensor([[1.0, 0.0], [0.95, 0.05], [0.0, 1.0]])
    online = torch.randn(3, 8, generator=torch.Generator().manual_seed(12))
    with pytest.raises(ValueError, match="anchors"):
        MCCLLoss(anchor_weight=0.5)(online, target, labels)
    gains = {}
    for beta in (0.0, 0.8):
        x = online.clone().requires_grad_(True)
        MCCLLoss(label_similarity="neg_sq_distance", anchor_weight=beta)(x, target, labels, anchors=anchors).backward()
        stepped = torch.nn.functional.normalize(x - 0.5 * x.grad, dim=-1)
        gains[beta] = float((stepped[0] @ torch.nn.functional.normalize(target[1], dim=-1)).detach())
    assert gains[0.8] > gains[0.0]


def test_weight_arousal_scales_only_the_arousal_term_of_the_distance_kernel():
    labels = torch.tensor([[0.2, 0.9], [0.6, 0.1], [0.5, 0.5]])
    weighted = CF.weight_arousal(labels, 0.25)
    similarity = CF.negative_squared_distance(weighted)
    dv = labels[:, None, 0] - labels[None, :, 0]
    da = labels[:, None, 1] - labels[None, :, 1]
    assert torch.allclose(similarity, -(dv ** 2 + 0.25 * da ** 2))
    assert torch.equal(CF.weight_arousal(labels, 1.0), labels)
    with pytest.raises(ValueError, match="valence-arousal"):
        CF.weight_arousal(torch.zeros(3, 5), 0.5)


def test_mccl_loss_with_a_vanishing_arousal_weight_ignores_arousal():
    torch.manual_seed(0)
    online, target = torch.randn(6, 8), torch.randn(6, 8)
    valence = torch.rand(6, 1)
    labels = torch.cat([valence, torch.rand(6, 1)], dim=1)
    flat = torch.cat([valence, torch.full((6, 1), 0.5)], dim=1)
    loss = MCCLLoss(label_similarity="neg_sq_distance", arousal_weight=1e-12)
    assert torch.allclose(loss(online, target, labels), loss(online, target, flat), atol=1e-6)
    plain = MCCLLoss(label_similarity="neg_sq_distance")
    assert not torch.allclose(plain(online, target, labels), plain(online, target, flat), atol=1e-3)


def test_va_regression_loss_is_the_mean_squared_error_to_the_centred_labels():
    labels = torch.tensor([[0.0, 1.0], [0.5, 0.25]])
    predicted = torch.tensor([[-1.0, 1.0], [0.0, -0.5]])  # exactly 2y - 1
    assert float(CF.va_regression_loss(predicted, labels)) == 0.0
    off = predicted + torch.tensor([[0.5, 0.0], [0.0, -1.0]])
    assert math.isclose(float(CF.va_regression_loss(off, labels)), (0.25 + 1.0) / 4)
    # An untrained regressor (outputs 0) predicts the neutral origin: labels at 0.5 cost nothing.
    assert float(CF.va_regression_loss(torch.zeros(3, 2), torch.full((3, 2), 0.5))) == 0.0


def test_labelled_cross_entropy_counts_only_texts_with_a_class():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 3.0, 0.0], [5.0, -5.0, 0.0]], requires_grad=True)
    classes = torch.tensor([0, -1, 2])
    expected = torch.nn.functional.cross_entropy(logits[[0, 2]], torch.tensor([0, 2]))
    loss = CF.labelled_cross_entropy(logits, classes)
    assert torch.allclose(loss, expected)
    loss.backward()
    assert torch.equal(logits.grad[1], torch.zeros(3))  # the unlabelled row gets no gradient
    none = CF.labelled_cross_entropy(logits, torch.full((3,), -1))
    assert float(none.detach()) == 0.0 and none.requires_grad  # a batch of rated texts only: 0, not NaN
