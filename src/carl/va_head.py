"""``python -m carl.va_head MODEL``: fit a V-A head on a model's embeddings and save it as ``va_head.json``.

The command is :func:`carl.evaluation.head_fitting.main`. The head class and its helpers that
this module held until 0.1 moved: :class:`carl.inference.heads.va.VAHead` (reading, writing,
predicting) and :mod:`carl.evaluation.head_fitting` (``fit_va_head``, ``train_va_head``); importing
them from here still works for this release, with a :class:`DeprecationWarning`.
"""

from __future__ import annotations

import importlib
import sys
import warnings

from carl.evaluation.head_fitting import main

__all__ = ["main"]

_MOVED = {
    "VAHead": "carl.inference.heads.va", "HEAD_FILE": "carl.inference.heads.va", "FORMAT": "carl.inference.heads.va",
    "FIT_COMMAND": "carl.inference.heads.va", "predict_va": "carl.inference.embedder",
    "_finite_or_none": ("carl.inference.heads.base", "finite_or_none"),
    "fit_va_head": "carl.evaluation.head_fitting", "train_va_head": "carl.evaluation.head_fitting",
    "TooFewTexts": "carl.evaluation.head_fitting", "DEFAULT_ALPHAS": "carl.evaluation.head_fitting",
    "DEFAULT_CORPORA": "carl.evaluation.head_fitting",
}


def __getattr__(name: str):
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attr = _MOVED[name] if isinstance(_MOVED[name], tuple) else (_MOVED[name], name)
    warnings.warn(f"carl.va_head.{name} moved to {module}.{attr}; the old name goes away in the next release",
                  DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(module), attr)


if __name__ == "__main__":
    sys.exit(main())
