"""CARL's objectives: MCCL (sentence level) and PTD (token level)."""

from carl.losses.mccl import MCCLLoss
from carl.losses.ptd import FocalTokenLoss, perturb_salient_tokens

__all__ = ["MCCLLoss", "FocalTokenLoss", "perturb_salient_tokens"]
