"""Heads that ship inside a model folder, one JSON file each, read and applied at inference time.

* :mod:`carl.inference.heads.base`: :class:`JsonHead`, what every head has (file, format, load, save);
* :mod:`carl.inference.heads.va`: :class:`VAHead` (``va_head.json``), valence and arousal;
* :mod:`carl.inference.heads.emotions`: :class:`EmotionHead` (``emotion_head.json``), emotion labels.

Fitting a head needs corpora and probes: :mod:`carl.evaluation.head_fitting`.
"""

from carl.inference.heads.base import JsonHead
from carl.inference.heads.emotions import EmotionHead
from carl.inference.heads.va import VAHead

__all__ = ["EmotionHead", "JsonHead", "VAHead"]
