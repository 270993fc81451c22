"""The training network: encoder with projection / prediction heads, EMA target, token discriminator.

What users load after training is not this but the exported encoder: :mod:`carl.inference`.
"""

from carl.network.carl import CarlModel

__all__ = ["CarlModel"]
