"""WiSE-FT weight interpolation: the equation, its edge cases and the folder it writes."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from carl.errors import ModelError
from carl.inference.interpolation import interpolate_with_base
from carl.inference.interpolation import interpolate_weights


def _weights(value: float) -> dict[str, torch.Tensor]:
    return {"layer.weight": torch.full((2, 3), value), "layer.bias": torch.tensor([value, -value]),
            "embeddings.token_type_ids": torch.tensor([[0, 1]])}


def test_endpoints_and_midpoint():
    pretrained, trained = _weights(1.0), _weights(3.0)
    assert torch.equal(interpolate_weights(pretrained, trained, 0.0)["layer.weight"], pretrained["layer.weight"])
    assert torch.equal(interpolate_weights(pretrained, trained, 1.0)["layer.weight"], trained["layer.weight"])
    mixed = interpolate_weights(pretrained, trained, 0.75)
    # (1 - 0.75) * 1 + 0.75 * 3 = 2.5; bias (1, -1) and (3, -3) -> (2.5, -2.5)
    assert torch.allclose(mixed["layer.weight"], torch.full((2, 3), 2.5))
    assert torch.allclose(mixed["layer.bias"], torch.tensor([2.5, -2.5]))


def test_integer_buffers_come_from_the_trained_model_and_pretrained_extras_are_dropped():
    pretrained = {**_weights(1.0), "embeddings.position_ids": torch.arange(4)}
    pretrained["embeddings.token_type_ids"] = torch.tensor([[9, 9]])
    mixed = interpolate_weights(pretrained, _weights(3.0), 0.5)
    assert torch.equal(mixed["embeddings.token_type_ids"], torch.tensor([[0, 1]]))
    assert "embeddings.position_ids" not in mixed
    assert mixed["layer.weight"].dtype == torch.float32


def test_dtype_of_the_trained_model_is_kept():
    trained = {k: v.half() if v.is_floating_point() else v for k, v in _weights(3.0).items()}
    mixed = interpolate_weights(_weights(1.0), trained, 0.5)
    assert mixed["layer.weight"].dtype == torch.float16
    assert torch.allclose(mixed["layer.weight"].float(), torch.full((2, 3), 2.0))


@pytest.mark.parametrize("alpha", [-0.1, 1.5])
def test_alpha_outside_unit_interval_is_refused(alpha):
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\]"):
        interpolate_weights(_weights(1.0), _weights(3.0), alpha)


def test_a_different_architecture_is_refused_with_the_weight_named():
    other = _weights(1.0)
    other["layer.weight"] = torch.zeros(3, 3)
    with pytest.raises(ModelError, match=r"layer\.weight: shape \(2, 3\) in the trained model, \(3, 3\)"):
        interpolate_weights(other, _weights(3.0), 0.5)
    del other["layer.weight"]
    with pytest.raises(ModelError, match="pretrained encoder has no weight layer.weight"):
        interpolate_weights(other, _weights(3.0), 0.5)


def test_folder_is_a_copy_with_mixed_weights_and_a_record(tmp_path):
    base, model = tmp_path / "base", tmp_path / "model"
    for folder, value in ((base, 1.0), (model, 3.0)):
        folder.mkdir()
        save_file(_weights(value), str(folder / "model.safetensors"))
    (model / "carl.json").write_text(json.dumps({"pooling": "mean", "step": 200}))
    (model / "tokenizer.json").write_text("{}")
    out = interpolate_with_base(model, base, 0.25, tmp_path / "mixed")
    weights = load_file(str(out / "model.safetensors"))
    assert torch.allclose(weights["layer.weight"], torch.full((2, 3), 1.5))  # 0.75 * 1 + 0.25 * 3
    meta = json.loads((out / "carl.json").read_text())
    assert meta["step"] == 200 and meta["weight_interpolation"] == {"pretrained": str(base), "alpha": 0.25}
    assert (out / "tokenizer.json").is_file()
    assert torch.allclose(load_file(str(model / "model.safetensors"))["layer.weight"], torch.full((2, 3), 3.0))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left behind


def test_folder_without_weights_names_the_folder(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "model").mkdir()
    with pytest.raises(ModelError, match=r"model has no model\.safetensors; give the trained model's folder"):
        interpolate_with_base(tmp_path / "model", tmp_path / "base", 0.5, tmp_path / "out")
    save_file(_weights(3.0), str(tmp_path / "model" / "model.safetensors"))
    with pytest.raises(ModelError, match=r"base has no model\.safetensors; give the pretrained encoder's folder"):
        interpolate_with_base(tmp_path / "model", tmp_path / "base", 0.5, tmp_path / "out")
