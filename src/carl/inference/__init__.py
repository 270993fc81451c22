"""The model users get: what ``carl.load(path)`` returns and everything it runs on.

Nothing here imports training, evaluation, scoring or serving (checked by the import contract in
pyproject.toml); they all build on this package.

* :mod:`carl.inference.embedder`: ``load`` -> :class:`CarlEmbedder` (torch) or
  :class:`OnnxEmbedder` (ONNX Runtime), and ``predict_va(folder, texts)``;
* :mod:`carl.inference.streaming`: ``predict_va`` and the ``iter_*`` methods every embedder has;
* :mod:`carl.inference.heads`: the heads a model folder ships (``va_head.json``, ``emotion_head.json``), inference only;
* :mod:`carl.inference.onnx_backend`: ``carl export-onnx`` and the ONNX Runtime embedder;
* :mod:`carl.inference.export`: writing a model folder (what ``carl train`` exports);
* :mod:`carl.inference.encoders`: pretrained encoders by alias, hub id or path (``minilm`` offline);
* :mod:`carl.inference.interpolation`: a trained folder's weights averaged with its base (WiSE-FT).
"""

from carl.inference.embedder import BACKENDS, CarlEmbedder, OnnxEmbedder, load, predict_va
from carl.inference.heads import EmotionHead, JsonHead, VAHead

__all__ = ["BACKENDS", "CarlEmbedder", "EmotionHead", "JsonHead", "OnnxEmbedder", "VAHead", "load", "predict_va"]
