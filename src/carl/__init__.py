"""carl: emotion-aware text embeddings with CARL (MCCL + PTD).

    import carl
    model = carl.load("runs/main/model")
    vectors = model.encode(["I won", "I lost"])
"""

__version__ = "0.1.0"


def load(path, device=None):
    """Load a model written by ``carl train`` (see :class:`carl.export.CarlEmbedder`)."""
    from carl.export import load as _load

    return _load(path, device=device)


__all__ = ["load", "__version__"]
