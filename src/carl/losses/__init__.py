"""CARL's objectives: MCCL (sentence level) and PTD (token level); the baselines' losses."""

from carl.losses.baselines import SimCSELoss, SupConLoss
from carl.losses.mccl import LabelQueue, MCCLLoss
from carl.losses.ptd import FocalTokenLoss, perturb_salient_tokens

__all__ = ["MCCLLoss", "LabelQueue", "FocalTokenLoss", "SimCSELoss", "SupConLoss", "perturb_salient_tokens"]
