"""carl: emotion-aware text embeddings with CARL (MCCL + PTD).

    import carl
    model = carl.load("runs/main/model")
    vectors = model.encode(["I won", "I lost"])
"""

__version__ = "0.1.0"


def load(path, device=None, *, backend="torch", onnx_file=None):
    """Load a model written by ``carl train`` (see :func:`carl.export.load`; ``backend="onnx"`` after
    ``carl export-onnx``)."""
    from carl.export import load as _load

    return _load(path, device=device, backend=backend, onnx_file=onnx_file)


__all__ = ["load", "__version__"]
