"""Layer-wise learning-rate decay (discriminative fine-tuning, Howard & Ruder 2018; ELECTRA's LLRD).

Of L transformer layers, layer l (1 = lowest) learns at lr * d^(L - l) and the input embeddings
at lr * d^L: the lower layers, which hold the most general features, move least. Parameters
are located by name (``embeddings.``, ``layer.N.`` / ``layers.N.``), which covers the BERT, MPNet,
RoBERTa and ModernBERT families; anything else in the encoder (a pooler, a final norm) sits on
top and learns at lr.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from torch import nn

from carl.errors import ConfigError

_LAYER = re.compile(r"(?:^|\.)layers?\.(\d+)\.")
_EMBEDDINGS = re.compile(r"(?:^|\.)embeddings?\.")


def layer_depth(name: str) -> int | None:
    """Depth of a parameter from its name: 0 for the input embeddings, N + 1 for ``layer.N.``,
    None for anything else (placed on top by :func:`layer_decay_groups`)."""
    match = _LAYER.search(name)
    if match:
        return int(match.group(1)) + 1
    if _EMBEDDINGS.search(name):
        return 0
    return None


def layer_scale(depth: int, num_layers: int, decay: float) -> float:
    """d^(L - depth): 1 for the top layer (depth L), d^L for the embeddings (depth 0)."""
    return decay ** (num_layers - depth)


def layer_decay_groups(named_parameters: Iterable[tuple[str, nn.Parameter]], learning_rate: float,
                       decay: float, weight_decay: float) -> list[dict]:
    """AdamW parameter groups, one per depth, each with lr * d^(L - depth).

    Groups run from the top layer (lr itself: the first group's lr is the one logged) down to the
    embeddings. Only parameters that require gradients are grouped. Raises ConfigError when no parameter is
    named like a transformer layer (the decay would silently do nothing).
    """
    named = [(name, p) for name, p in named_parameters if p.requires_grad]
    depths = {name: layer_depth(name) for name, _ in named}
    layered = [d for d in depths.values() if d is not None and d > 0]
    if not layered:
        raise ConfigError("train.layer_lr_decay < 1 needs an encoder whose parameters are named like "
                          "'...layer.N...' (BERT, MPNet, RoBERTa, ModernBERT); this encoder has none: "
                          "set train.layer_lr_decay=1")
    num_layers = max(layered)
    by_depth: dict[int, list[nn.Parameter]] = {}
    for name, parameter in named:
        depth = depths[name]
        by_depth.setdefault(num_layers if depth is None else depth, []).append(parameter)
    return [{"params": params, "lr": learning_rate * layer_scale(depth, num_layers, decay),
             "weight_decay": weight_decay}
            for depth, params in sorted(by_depth.items(), reverse=True)]
