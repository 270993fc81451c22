"""The math of CARL as small pure functions.

Each function implements one equation of the method (see docs/method.md, which follows
../shared/docs/METHOD.md and the paper, Son et al. 2025, arXiv 2502.20613). They hold no
state and know nothing about models, so each is unit-tested in isolation.

Notation: N = batch size, T = sequence length, H = hidden size, d = label dimension
(2 for valence-arousal, C for one-hot discrete labels).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


# ---------------------------------------------------------------------------
# MCCL: momentum continuous contrastive learning (sentence level)
# ---------------------------------------------------------------------------


def centre_labels(labels: torch.Tensor) -> torch.Tensor:
    """Map labels normalised to [0, 1] onto [-1, 1].

    The circumplex's origin is "neutral". Cosine similarity between un-centred V-A vectors,
    which all live in the positive quadrant, is close to 1 for almost every pair and carries
    almost no signal; centring restores the angle (project decision, see docs/method.md).
    """
    return labels * 2.0 - 1.0


def label_similarity(labels: torch.Tensor, other: torch.Tensor | None = None) -> torch.Tensor:
    """Cosine similarity between label vectors, L_ij = cos(y_i, y_j) (paper Eq. 4).

    labels: (N, d); other: (M, d), defaults to ``labels``. Returns (N, M). A label at the
    exact origin (zero vector) has similarity 0 to everything rather than NaN.
    """
    other = labels if other is None else other
    return F.normalize(labels, dim=-1, eps=1e-8) @ F.normalize(other, dim=-1, eps=1e-8).T


def negative_squared_distance(labels: torch.Tensor, other: torch.Tensor | None = None) -> torch.Tensor:
    """Distance kernel between label vectors, L_ij = -||y_i - y_j||^2 (project recipe, docs/method.md).

    An alternative to the paper's cosine (Eq. 4): after the soft-target softmax it is a
    Gaussian kernel on V-A distance, T_ij ∝ exp(-||y_i - y_j||² / tau_y), so intensity counts
    and labels near the neutral origin (about 18 % of EmoBank within 0.1 of it, where the
    angle between label vectors is mostly rounding noise) are no longer arbitrary.
    labels: (N, d); other: (M, d), defaults to ``labels``. Returns (N, M), 0 on the diagonal.
    """
    other = labels if other is None else other
    return -(labels[:, None, :] - other[None, :, :]).pow(2).sum(dim=-1)


def weight_arousal(labels: torch.Tensor, arousal_weight: float) -> torch.Tensor:
    """Scale the arousal coordinate of (N, 2) V-A labels by sqrt(w_A) (project option, docs/method.md).

    With the distance kernel the label similarity becomes L_ij = -((v_i - v_j)^2 + w_A (a_i - a_j)^2):
    w_A < 1 lets valence, the dimension sentence polarity depends on and the one annotators agree
    on most, shape the soft targets more than arousal. w_A = 1 returns the labels unchanged.
    """
    if arousal_weight == 1.0:
        return labels
    if labels.shape[-1] != 2:
        raise ValueError(f"arousal weighting needs (N, 2) valence-arousal labels, got shape {tuple(labels.shape)}")
    scale = labels.new_tensor([1.0, arousal_weight ** 0.5])
    return labels * scale


LABEL_SIMILARITIES = {"cosine": label_similarity, "neg_sq_distance": negative_squared_distance}
"""``mccl.label_similarity`` -> the function computing L."""


def soft_targets(label_sim: torch.Tensor, temperature: float) -> torch.Tensor:
    """Soft contrastive targets T = softmax_rows(L / tau_y) (paper Eq. 5). Rows sum to 1."""
    return torch.softmax(label_sim / temperature, dim=-1)


def embedding_similarity(online: torch.Tensor, target: torch.Tensor, temperature: float) -> torch.Tensor:
    """S_ij = cos(p_i, z'_j) / tau between online predictions and target projections.

    online: (N, D), target: (M, D). Returns (N, M) logits.
    """
    return F.normalize(online, dim=-1) @ F.normalize(target, dim=-1).T / temperature


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over rows of CE(t_i, softmax(s_i)) = -sum_j t_ij log softmax(s_i)_j."""
    return -(targets * torch.log_softmax(logits, dim=-1)).sum(dim=-1).mean()


def symmetric_soft_cross_entropy(
    logits: torch.Tensor, label_sim: torch.Tensor, label_temperature: float
) -> torch.Tensor:
    """MCCL loss (paper Eq. 6): 1/2 [CE(T, softmax_rows(S)) + CE(T', softmax_cols(S))].

    ``T`` are the row-softmax soft targets of the label similarities and ``T'`` the
    row-softmax of their transpose, so both directions compare proper distributions
    (for a square, symmetric L this is T itself). logits: S, (N, N); label_sim: L, (N, N).
    """
    rows = soft_cross_entropy(logits, soft_targets(label_sim, label_temperature))
    cols = soft_cross_entropy(logits.T, soft_targets(label_sim.T, label_temperature))
    return 0.5 * (rows + cols)


def with_instance_targets(targets: torch.Tensor, weight: float) -> torch.Tensor:
    """T_alpha = (1 - alpha) T + alpha I: soft targets mixed with each text's own target view
    (the diagonal of the first N columns; queued columns get none). alpha = 0 is T itself;
    alpha = 1 is SimCSE's instance discrimination (Gao et al. 2021, Eq. 1). Rows still sum to 1.

    targets: (N, M) with M >= N, row i's own view in column i.
    """
    if weight == 0:
        return targets
    eye = torch.eye(targets.shape[0], targets.shape[1], dtype=targets.dtype, device=targets.device)
    return (1 - weight) * targets + weight * eye


def anchor_targets(anchors: torch.Tensor, temperature: float) -> torch.Tensor:
    """A_ij = softmax_{j != i}(cos(a_i, a_j) / tau_a): each text's neighbours in the batch as the
    *frozen* pretrained encoder sees them (its embeddings a of the same texts, computed once
    before training). The diagonal is 0: the text itself is not its own semantic neighbour here
    (that is :func:`with_instance_targets`). anchors: (N, D). Returns (N, N), rows summing to 1.

    Project option (docs/method.md, "anchor targets"): a relational distillation target in the
    spirit of relational knowledge distillation (Park et al. 2019), inside MCCL's soft targets.
    """
    sim = F.normalize(anchors.float(), dim=-1) @ F.normalize(anchors.float(), dim=-1).T / temperature
    eye = torch.eye(sim.shape[0], dtype=torch.bool, device=sim.device)
    return torch.softmax(sim.masked_fill(eye, float("-inf")), dim=-1)


def with_anchor_targets(targets: torch.Tensor, anchor: torch.Tensor | None, weight: float) -> torch.Tensor:
    """T_beta = (1 - beta) T + beta [A | 0]: soft label targets mixed with the frozen encoder's
    neighbourhoods A (:func:`anchor_targets`) over the first N columns (queued columns get none),
    so MCCL reshapes the space by affect while keeping who-is-near-whom of the pretrained space.
    beta = 0 (or no anchor) is T itself. targets: (N, M), M >= N; anchor: (N, N). Rows still sum to 1.
    """
    if weight == 0 or anchor is None:
        return targets
    padded = torch.zeros_like(targets)
    padded[:, : anchor.shape[1]] = anchor.to(targets.dtype)
    return (1 - weight) * targets + weight * padded


def queued_soft_cross_entropy(
    logits: torch.Tensor, label_sim: torch.Tensor, label_temperature: float, n_current: int,
    instance_weight: float = 0.0, anchor: torch.Tensor | None = None, anchor_weight: float = 0.0,
) -> torch.Tensor:
    """MCCL (Eq. 6) with a memory queue of past targets (MoCo's queue, He et al. 2020, with
    soft labels): logits S = [S_batch | S_queue], (N, M + Q), and label similarities L likewise.

    Rows (each online prediction against the current and the queued targets) use all M + Q
    columns: CE(softmax_rows(L / tau_y), softmax_rows(S)). Columns use the current M targets
    only, as in Eq. 6: a queued entry was embedded by an older encoder and is a candidate, not an
    anchor. With no queue (``n_current == M + Q``) this equals :func:`symmetric_soft_cross_entropy`.
    ``instance_weight`` alpha mixes both directions' targets with the identity
    (:func:`with_instance_targets`), then ``anchor_weight`` beta with the frozen encoder's
    neighbourhoods ``anchor`` (:func:`with_anchor_targets`; A is symmetric in its similarities,
    so the column direction uses the same rows).
    """
    if not 0 < n_current <= logits.shape[1]:
        raise ValueError(f"n_current must be in [1, {logits.shape[1]}], got {n_current}")
    def targets(sim: torch.Tensor) -> torch.Tensor:
        mixed = with_instance_targets(soft_targets(sim, label_temperature), instance_weight)
        return with_anchor_targets(mixed, anchor, anchor_weight)

    rows = soft_cross_entropy(logits, targets(label_sim))
    current_logits, current_sim = logits[:, :n_current], label_sim[:, :n_current]
    cols = soft_cross_entropy(current_logits.T, targets(current_sim.T))
    return 0.5 * (rows + cols)


def cosine_momentum(step: int, total_steps: int, base_momentum: float) -> float:
    """EMA momentum at optimiser step k: m_k = 1 - (1 - m_0)(cos(pi k / K) + 1) / 2 (BYOL).

    Starts at m_0 (k = 0) and reaches exactly 1 at k = K; steps past K stay at 1.
    """
    if total_steps <= 0:
        return base_momentum
    progress = min(max(step, 0), total_steps) / total_steps
    return 1.0 - (1.0 - base_momentum) * (math.cos(math.pi * progress) + 1.0) / 2.0


@torch.no_grad()
def ema_update_(target: list[torch.Tensor], online: list[torch.Tensor], momentum: float) -> None:
    """In place: xi <- m xi + (1 - m) theta, for each pair of target / online tensors."""
    if not target:
        return
    torch._foreach_lerp_(target, online, 1.0 - momentum)


# ---------------------------------------------------------------------------
# Supervised sentence-level terms: V-A regression and the emotion-class term of the hybrid
# ---------------------------------------------------------------------------


def va_regression_loss(predicted: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean squared error to the centred V-A labels, (1 / N d) sum_i ||y_hat_i - (2 y_i - 1)||^2.

    The supervised counterpart of cross-entropy for continuous labels (objective
    ``regression``). predicted: (N, d) regressor outputs; labels: (N, d) normalised to [0, 1]
    and centred here (:func:`centre_labels`), so an untrained regressor (outputs near 0)
    predicts the neutral origin.
    """
    return F.mse_loss(predicted.float(), centre_labels(labels.float()))


def labelled_cross_entropy(logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Cross-entropy -log softmax(logits_i)[c_i], averaged over the rows that have a class.

    The hybrid's emotion term (``objective.emotion_weight``). logits: (N, C); classes: (N,)
    class ids, -1 for a text without an emotion class (a rated text). A batch without any
    class gives 0 (with a gradient of zeros), not the NaN of an empty mean.
    """
    labelled = classes >= 0
    if not bool(labelled.any()):
        return logits.float().sum() * 0.0
    return F.cross_entropy(logits[labelled].float(), classes[labelled])


# ---------------------------------------------------------------------------
# PTD: perturbed token detection (token level)
# ---------------------------------------------------------------------------


def saliency_scores(embedding_grad: torch.Tensor) -> torch.Tensor:
    """Token saliency g_t = ||dL/de_t||^2 (paper Eq. 7). (N, T, H) -> (N, T)."""
    return embedding_grad.float().pow(2).sum(dim=-1)


def top_fraction_mask(scores: torch.Tensor, candidates: torch.Tensor, fraction: float) -> torch.Tensor:
    """Select the top ``fraction`` of candidate tokens per row by score (paper Eq. 8).

    scores: (N, T); candidates: (N, T) bool, True for real (non-padding, non-special)
    tokens. Each row selects k = max(1, floor(fraction * n_candidates)) tokens, never a
    non-candidate; a row with no candidates selects nothing. Returns a bool mask (N, T).
    """
    candidates = candidates.bool()
    n_candidates = candidates.sum(dim=-1)
    k = torch.clamp((n_candidates.float() * fraction).floor().long(), min=1)
    k = torch.minimum(k, n_candidates)
    masked = scores.masked_fill(~candidates, float("-inf"))
    order = masked.argsort(dim=-1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(-1, order, torch.arange(scores.shape[-1], device=scores.device).expand_as(order))
    return (ranks < k.unsqueeze(-1)) & candidates


def random_fraction_mask(
    candidates: torch.Tensor, fraction: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Ablation of saliency: the same number of tokens as :func:`top_fraction_mask`, at random."""
    noise = torch.rand(candidates.shape, generator=generator, device="cpu").to(candidates.device)
    return top_fraction_mask(noise, candidates, fraction)


def epsilon_radius(embeddings: torch.Tensor, epsilon: float, relative: bool) -> torch.Tensor:
    """Per-token radius of the epsilon-ball: epsilon, or epsilon * ||e_t|| when relative.

    Returns (N, T, 1). The paper's epsilon = 5e-9 is absolute; relative radii make a sweep
    comparable across encoders whose embedding norms differ.
    """
    if relative:
        return epsilon * embeddings.detach().float().norm(dim=-1, keepdim=True)
    return torch.full_like(embeddings[..., :1], epsilon, dtype=torch.float32)


def project_to_ball(delta: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Project each token's perturbation onto the L2 ball ||delta_t|| <= radius_t (PGD projection)."""
    norm = delta.float().norm(dim=-1, keepdim=True)
    scale = torch.clamp(radius / norm.clamp_min(1e-30), max=1.0)
    return (delta.float() * scale).to(delta.dtype)


def pgd_ascent_step(
    delta: torch.Tensor, grad: torch.Tensor, selected: torch.Tensor, step_size: torch.Tensor, radius: torch.Tensor
) -> torch.Tensor:
    """One projected-gradient ascent step on the selected tokens only (paper Eq. 9).

    delta <- Proj_ball(delta + alpha * g_t / ||g_t||), then zeroed outside ``selected``.
    The per-token normalised gradient makes the step size a length in embedding space.
    delta, grad: (N, T, H); selected: (N, T) bool; step_size, radius: broadcastable (N, T, 1).
    """
    direction = grad.float() / grad.float().norm(dim=-1, keepdim=True).clamp_min(1e-30)
    stepped = project_to_ball(delta.float() + step_size * direction, radius)
    return (stepped * selected.unsqueeze(-1)).to(delta.dtype)


def binary_focal_loss(
    logits: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor, gamma: float = 2.0, alpha: float = 0.25
) -> torch.Tensor:
    """Focal loss FL = -alpha_t (1 - p_t)^gamma log p_t (Lin et al. 2017; paper Eq. 10).

    logits, targets, valid: (N, T). ``alpha`` weighs the positive (perturbed) class and
    1 - alpha the negative one. Averaged over valid tokens only (padding never counts).
    """
    logits = logits.float()
    targets = targets.float()
    log_p = F.logsigmoid(logits)
    log_not_p = F.logsigmoid(-logits)
    log_p_t = targets * log_p + (1 - targets) * log_not_p
    p_t = log_p_t.exp()
    alpha_t = targets * alpha + (1 - targets) * (1 - alpha)
    loss = -alpha_t * (1 - p_t).pow(gamma) * log_p_t
    valid = valid.float()
    return (loss * valid).sum() / valid.sum().clamp_min(1.0)


# ---------------------------------------------------------------------------
# Encoder pooling
# ---------------------------------------------------------------------------


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token states over real tokens: (N, T, H), (N, T) -> (N, H)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)


def cls_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """State of the first token ([CLS] / <s>): (N, T, H) -> (N, H)."""
    return hidden[:, 0]
