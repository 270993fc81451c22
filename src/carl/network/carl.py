"""The CARL network: online encoder with heads, EMA target, token discriminator.

Only the online encoder and its pooling are what users get (exported by :mod:`carl.inference.export`); the heads, the
target branch and the discriminator exist for training.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from carl.config import MCCLConfig, ModelConfig
from carl.losses.functional import ema_update_
from carl.network.embedding import POOLERS
from carl.network.heads import MLPHead, TokenDiscriminator


class CarlModel(nn.Module):
    """Online branch f_theta -> g_theta -> q_theta, target branch f_xi -> g_xi, discriminator.

    ``target_encoder`` / ``target_projection`` are None in the online-only ablation
    (``mccl.momentum = false``), where the target is the online branch under stop-gradient.
    Without projection heads (``mccl.projection_heads = false``) ``projection`` and
    ``prediction`` are None and MCCL contrasts the pooled embeddings h and h' directly.
    """

    def __init__(self, encoder: nn.Module, model_config: ModelConfig, use_momentum: bool = True,
                 projection_heads: bool = True, num_emotions: int = 0):
        super().__init__()
        hidden = encoder.config.hidden_size
        self.pooling = model_config.pooling
        self.encoder = encoder
        if projection_heads:
            self.projection = MLPHead(hidden, model_config.projection_hidden, model_config.projection_dim)
            self.prediction = MLPHead(model_config.projection_dim, model_config.projection_hidden,
                                      model_config.projection_dim)
        else:
            self.projection = self.prediction = None
        self.discriminator = TokenDiscriminator(hidden)
        # The hybrid's emotion classifier on the pooled embedding (objective.emotion_weight > 0), initialised
        # off the global random stream, so that the hybrid draws the same dropout masks as the run without it.
        self.emotion_classifier = None
        if num_emotions:
            with torch.random.fork_rng(devices=[]):
                self.emotion_classifier = nn.Linear(hidden, num_emotions)
        self.target_encoder = copy.deepcopy(encoder).requires_grad_(False) if use_momentum else None
        self.target_projection = (copy.deepcopy(self.projection).requires_grad_(False)
                                  if use_momentum and projection_heads else None)

    @classmethod
    def from_config(cls, encoder: nn.Module, model_config: ModelConfig, mccl_config: MCCLConfig,
                    num_emotions: int = 0) -> "CarlModel":
        return cls(encoder, model_config, use_momentum=mccl_config.momentum,
                   projection_heads=mccl_config.projection_heads, num_emotions=num_emotions)

    # -- pieces -------------------------------------------------------------

    def word_embeddings(self, input_ids: torch.Tensor) -> torch.Tensor:
        """e_t: the encoder's input (word) embeddings, before position/type embeddings."""
        return self.encoder.get_input_embeddings()(input_ids)

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return POOLERS[self.pooling](hidden, attention_mask)

    def online_hidden(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.encoder(inputs_embeds=inputs_embeds, attention_mask=attention_mask).last_hidden_state

    def predict(self, pooled: torch.Tensor) -> torch.Tensor:
        """p = q(g(h)) for pooled online embeddings h; h itself without projection heads."""
        if self.projection is None:
            return pooled
        return self.prediction(self.projection(pooled))

    @torch.no_grad()
    def target_projection_of(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """z' = g_xi(pool(f_xi(x))) (h' = pool(f_xi(x)) without heads), without autograd (stop-gradient)."""
        encoder = self.target_encoder if self.target_encoder is not None else self.encoder
        projection = self.target_projection if self.target_projection is not None else self.projection
        pooled = self.pool(encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state, attention_mask)
        return pooled if projection is None else projection(pooled)

    def discriminate(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.discriminator(hidden)

    # -- momentum -----------------------------------------------------------

    def online_target_pairs(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Matching (target, online) floating tensors, collected once (loading a state dict copies in place)."""
        if getattr(self, "_ema_pairs", None) is not None:
            return self._ema_pairs
        if self.target_encoder is None:
            return [], []
        target, online = [], []
        for t_module, o_module in ((self.target_encoder, self.encoder), (self.target_projection, self.projection)):
            if t_module is None:
                continue
            for (_, t), (_, o) in zip(t_module.state_dict(keep_vars=True).items(), o_module.state_dict(keep_vars=True).items()):
                if t.dtype.is_floating_point:
                    target.append(t.data)
                    online.append(o.data)
        self._ema_pairs = (target, online)
        return self._ema_pairs

    def update_target(self, momentum: float) -> None:
        """xi <- m xi + (1 - m) theta over parameters and floating buffers."""
        target, online = self.online_target_pairs()
        ema_update_(target, online, momentum)

    def trainable_groups(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(encoder parameters, head parameters): heads learn with their own, larger learning rate."""
        encoder = [p for p in self.encoder.parameters() if p.requires_grad]
        heads = [p for m in (self.projection, self.prediction, self.discriminator, self.emotion_classifier)
                 if m is not None
                 for p in m.parameters()]
        return encoder, heads
