"""carl: emotion-aware text embeddings with CARL (MCCL + PTD).

    import carl
    model = carl.load("runs/main/model")
    vectors = model.encode(["I won", "I lost"])
"""

from carl import _moved

__version__ = "0.1.0"


def load(path, device=None, *, backend="torch", onnx_file=None):
    """Load a model written by ``carl train`` (see :func:`carl.inference.embedder.load`; ``backend="onnx"``
    after ``carl export-onnx``)."""
    from carl.inference import load as _load  # lazy: `import carl` stays free of numpy and safetensors

    return _load(path, device=device, backend=backend, onnx_file=onnx_file)


_moved.install()  # old import paths (carl.export, carl.model, ...) keep working for one release

__all__ = ["load", "__version__"]
