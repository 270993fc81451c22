"""ONNX export of a carl model folder, and embeddings through ONNX Runtime (``--backend onnx``).

``carl export-onnx MODEL [--quantize int8]`` writes, inside the model folder, the files that
sentence-transformers' own ONNX backend looks for:

* ``onnx/model.onnx``: the transformer (``input_ids``, ``attention_mask``[, ``token_type_ids``]
  -> ``last_hidden_state``), float32;
* ``onnx/model_qint8.onnx``: the same with its weights dynamically quantised to int8.

Why not sentence-transformers' ``export_optimized_onnx_model`` /
``export_dynamic_quantized_onnx_model``: they run through optimum-onnx, whose newest release
(0.1.0) pins ``transformers<4.58`` and fails to import beside the transformers 5 that carl and
sentence-transformers 6 need (``cannot import name 'get_parameter_dtype'``). So the graph comes
from torch's own exporter (``torch.onnx.export(..., dynamo=True)``; the older TorchScript tracer
bakes transformers 5's attention-mask shapes into the graph and gives wrong vectors for other
batch shapes) and the int8 copy from ONNX Runtime's ``quantize_dynamic``, which is the call that
optimum's dynamic quantiser wraps.

:class:`OnnxEmbedder` then does what the sentence-transformers modules of the folder do
(tokenise with its tokenizer and maximum length, run the graph, pool, normalise when the folder
has a ``Normalize`` module), with the same ``encode`` signature as :class:`carl.inference.embedder.CarlEmbedder`.
"""

from __future__ import annotations

import json
import os
import pathlib
import tempfile
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from carl.errors import CarlError, ModelError
from carl.inference.streaming import StreamingMixin

ONNX_DIR = "onnx"
FLOAT_FILE = "onnx/model.onnx"
INT8_FILE = "onnx/model_qint8.onnx"
QUANTIZATIONS = ("int8",)
INSTALL_HINT = 'pip install "carl-affect[onnx]" (onnx, onnxruntime, onnxscript)'


def _require(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise CarlError(f"the ONNX backend needs the Python package {module!r}; install it with {INSTALL_HINT}") from None


@dataclass(frozen=True)
class StLayout:
    """What the sentence-transformers modules of a model folder say: tokenizer folder, maximum
    length, pooling mode, and whether embeddings are L2-normalised by the folder itself."""

    transformer_dir: pathlib.Path
    max_seq_length: int
    pooling: str
    normalize: bool


def read_layout(folder: pathlib.Path) -> StLayout:
    """Read ``modules.json`` + module configs; only Transformer -> Pooling [-> Normalize] is supported."""
    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        raise ModelError(f"{folder} has no modules.json; the ONNX backend needs a sentence-transformers folder "
                         "(the one `carl train` writes as OUTPUT/model)")
    modules = json.loads(modules_file.read_text())
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise ModelError(f"{folder}: modules {kinds} are not supported by the ONNX backend "
                         "(Transformer -> Pooling [-> Normalize]); use --backend torch")
    transformer_dir = folder / modules[0].get("path", "")
    max_len = 512
    for name in ("sentence_bert_config.json", "sentence_transformers_config.json"):
        cfg = transformer_dir / name
        if cfg.is_file():
            max_len = int(json.loads(cfg.read_text()).get("max_seq_length") or max_len)
            break
    pool_cfg = json.loads((folder / modules[1]["path"] / "config.json").read_text())
    pooling = pool_cfg.get("pooling_mode")
    if pooling is None:  # older sentence-transformers: one boolean per mode
        chosen = [m for m in ("cls", "mean", "max") if pool_cfg.get(f"pooling_mode_{m}_token" if m == "cls"
                                                                   else f"pooling_mode_{m}_tokens")]
        pooling = chosen[0] if len(chosen) == 1 else None
    if pooling not in ("mean", "cls", "max"):
        raise ModelError(f"{folder}: pooling {pooling!r} is not supported by the ONNX backend (mean, cls, max)")
    return StLayout(transformer_dir, max_len, pooling, len(kinds) == 3)


def export_onnx(model_dir: str | os.PathLike, *, quantize: str | None = None, opset: int = 18) -> list[pathlib.Path]:
    """Write ``onnx/model.onnx`` (and ``onnx/model_qint8.onnx`` when ``quantize="int8"``) into the folder.

    Each file is written to a temporary name and renamed, so an interrupted export never leaves a
    half-written graph that ``--backend onnx`` would load. Returns the written paths.
    """
    import torch
    from transformers import AutoModel, AutoTokenizer

    if quantize not in (None, *QUANTIZATIONS):
        raise CarlError(f"--quantize {quantize!r}: supported: {', '.join(QUANTIZATIONS)}")
    _require("onnxscript")
    _require("onnxruntime")
    folder = pathlib.Path(model_dir)
    layout = read_layout(folder)
    tokenizer = AutoTokenizer.from_pretrained(layout.transformer_dir)
    # sdpa exports to plain ONNX ops; "eager" would also work but is slower in ONNX Runtime.
    encoder = AutoModel.from_pretrained(layout.transformer_dir).eval()
    sample = tokenizer(["an example sentence to trace", "a second one"], padding=True, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]

    class _Graph(torch.nn.Module):
        """Keyword call into the encoder: transformers 5's forward takes no positional token_type_ids."""

        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            given = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
            return self.model(**{n: given[n] for n in names}).last_hidden_state

    out_dir = folder / ONNX_DIR
    out_dir.mkdir(exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".export.") as tmp:
        staged = pathlib.Path(tmp) / "model.onnx"
        with torch.no_grad():
            program = torch.onnx.export(_Graph(encoder), tuple(sample[n] for n in names), dynamo=True,
                                        input_names=names, output_names=["last_hidden_state"], opset_version=opset,
                                        dynamic_axes={n: {0: "batch", 1: "sequence"}
                                                      for n in [*names, "last_hidden_state"]}, optimize=True,
                                        external_data=False, verbose=False)
        program.save(str(staged))
        os.replace(staged, folder / FLOAT_FILE)
        written.append(folder / FLOAT_FILE)
        if quantize == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            staged = pathlib.Path(tmp) / "model_qint8.onnx"
            # Per-channel signed int8 weights, activations quantised on the fly (what optimum's
            # avx512_vnni / avx2 dynamic configs do); MatMul and Gather carry nearly all weights.
            quantize_dynamic(str(folder / FLOAT_FILE), str(staged), weight_type=QuantType.QInt8, per_channel=True)
            os.replace(staged, folder / INT8_FILE)
            written.append(folder / INT8_FILE)
    return written


def resolve_onnx_file(folder: pathlib.Path, onnx_file: str | None) -> pathlib.Path:
    """The graph to load: ``onnx_file`` (relative to the folder) or ``onnx/model.onnx``."""
    path = folder / (onnx_file or FLOAT_FILE)
    if not path.is_file():
        raise ModelError(f"{path} not found; create it with `carl export-onnx {folder}`"
                         + (" --quantize int8" if onnx_file and "qint8" in onnx_file else ""))
    return path


class OnnxEmbedder(StreamingMixin):
    """Embeddings of an exported model folder through ONNX Runtime (CPU), same API as ``CarlEmbedder``."""

    backend = "onnx"

    def __init__(self, path: str | os.PathLike, onnx_file: str | None = None, *, threads: int | None = None):
        from transformers import AutoTokenizer

        ort = _require("onnxruntime")
        self.path = pathlib.Path(path)
        if not self.path.is_dir():
            raise ModelError(f"model path {path} is not a folder; the ONNX backend needs the folder that "
                             "`carl train` wrote (OUTPUT/model), exported with `carl export-onnx`")
        self.layout = read_layout(self.path)
        self.onnx_path = resolve_onnx_file(self.path, onnx_file)
        self.tokenizer = AutoTokenizer.from_pretrained(self.layout.transformer_dir)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3  # warnings about unused initialisers are noise here
        self.session = ort.InferenceSession(str(self.onnx_path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        meta = self.path / "carl.json"
        self.metadata = json.loads(meta.read_text()) if meta.is_file() else {}
        self.max_seq_length = self.layout.max_seq_length
        self.dimension = int(self.session.get_outputs()[0].shape[-1]) if isinstance(
            self.session.get_outputs()[0].shape[-1], int) else int(self.encode(["x"]).shape[1])

    def _forward(self, texts: list[str]) -> np.ndarray:
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_seq_length, return_tensors="np")
        feeds = {name: enc[name].astype(np.int64) for name in self.input_names}
        hidden = self.session.run(None, feeds)[0]
        mask = enc["attention_mask"].astype(np.float32)[..., None]
        if self.layout.pooling == "mean":
            return (hidden * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
        if self.layout.pooling == "cls":
            return hidden[:, 0]
        return np.where(mask > 0, hidden, -1e9).max(1)

    def encode(self, texts: Iterable[str], *, batch_size: int = 64, normalize: bool = False,
               show_progress_bar: bool = False) -> np.ndarray:
        """(N, H) float32 embeddings in input order; texts run longest-first so batches pad little."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, getattr(self, "dimension", 0)), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out: np.ndarray | None = None
        for start in range(0, len(texts), batch_size):
            idx = order[start:start + batch_size]
            vectors = self._forward([texts[i] for i in idx])
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[idx] = vectors
        if self.layout.normalize or normalize:
            out /= np.clip(np.linalg.norm(out, axis=1, keepdims=True), 1e-12, None)
        return out
