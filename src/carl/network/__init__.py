"""Encoders, heads and the CARL network."""

from carl.model.carl import CarlModel
from carl.model.encoder import load_encoder, resolve_model_path

__all__ = ["CarlModel", "load_encoder", "resolve_model_path"]
