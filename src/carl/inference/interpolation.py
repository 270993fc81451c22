"""Weight-space interpolation between the pretrained encoder and a trained one (WiSE-FT).

Wortsman et al. 2022 ("Robust fine-tuning of zero-shot models") average a fine-tuned network's
weights with the network it started from, θ_α = (1 − α)·θ₀ + α·θ₁: the result often keeps much
of the fine-tuning's gain on its own task and much of the pretrained model's transfer elsewhere.
Here it is a post-hoc step on an exported model folder (no training;
:func:`interpolate_with_base` writes the folder), used by
``scripts/weight_interpolation_dev.py`` to test on dev whether it softens the trade-off between
affect and sentence polarity (results/recipe-dev/NOTES.md, "A fifth round").
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Mapping

import torch
from safetensors.torch import load_file, save_file

from carl.errors import ModelError
from carl.inference.export import CARL_META, copy_model


def interpolate_weights(pretrained: Mapping[str, torch.Tensor], trained: Mapping[str, torch.Tensor],
                        alpha: float) -> dict[str, torch.Tensor]:
    """θ_α = (1 − α)·θ₀ + α·θ₁ for every floating-point tensor (WiSE-FT, Wortsman et al. 2022, eq. 1).

    ``alpha`` is the weight of the trained model: 0 gives the pretrained weights, 1 the trained
    ones. The result has the trained model's names and dtypes: non-float tensors (index buffers)
    are copied from it, and entries only the pretrained file holds (an older save's
    ``embeddings.position_ids``) are not carried over. Every float weight of the trained model
    must exist in the pretrained one with the same shape.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1] (the trained model's weight), got {alpha}")
    missing = sorted(name for name, t in trained.items() if t.is_floating_point() and name not in pretrained)
    if missing:
        raise ModelError(f"the pretrained encoder has no weight {missing[0]} ({len(missing)} missing); interpolate "
                         "a trained model only with the encoder it was trained from")
    out = {}
    for name, theta1 in trained.items():
        if not theta1.is_floating_point():
            out[name] = theta1.clone()
            continue
        theta0 = pretrained[name]
        if theta0.shape != theta1.shape:
            raise ModelError(f"weight {name}: shape {tuple(theta1.shape)} in the trained model, "
                             f"{tuple(theta0.shape)} in the pretrained one; they are not the same architecture")
        out[name] = ((1.0 - alpha) * theta0.float() + alpha * theta1.float()).to(theta1.dtype)
    return out


def interpolate_with_base(model_dir: str | os.PathLike, base_dir: str | os.PathLike, alpha: float,
                          out_dir: str | os.PathLike) -> pathlib.Path:
    """Write a copy of the exported model ``model_dir`` whose encoder weights are averaged with
    those of ``base_dir`` (the pretrained encoder's folder) by
    :func:`interpolate_weights`; ``carl.json`` records it."""
    weights = "model.safetensors"
    model_dir, base_dir, out_dir = pathlib.Path(model_dir), pathlib.Path(base_dir), pathlib.Path(out_dir)
    for folder, role in ((model_dir, "trained model"), (base_dir, "pretrained encoder")):
        if not (folder / weights).is_file():
            raise ModelError(f"{folder} has no {weights}; give the {role}'s folder")
    mixed = interpolate_weights(load_file(str(base_dir / weights)), load_file(str(model_dir / weights)), alpha)

    def write_mixed(staged: pathlib.Path) -> None:
        save_file(mixed, str(staged / weights), metadata={"format": "pt"})
        meta_path = staged / CARL_META
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        meta["weight_interpolation"] = {"pretrained": str(base_dir), "alpha": alpha}
        meta_path.write_text(json.dumps(meta, indent=1, default=str))

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    copy_model(model_dir, out_dir, edit=write_mixed)
    return out_dir
