"""``carl serve``: an HTTP API (OpenAI- and TEI-shaped embeddings, V-A affect) and a web explorer.

Layout (dependencies point one way: serving imports the model users get, :mod:`carl.inference`, never the reverse):

* :mod:`carl.serving.settings` - every limit and option of the server, validated;
* :mod:`carl.serving.engine` - the loaded model (torch or ONNX), its tokenizer, V-A head and base encoder;
* :mod:`carl.serving.batching` - requests split into parts and micro-batched into shared forward passes;
* :mod:`carl.serving.affect` - emotion words placed on the circumplex by the model's own V-A head;
* :mod:`carl.serving.schemas` / :mod:`carl.serving.errors` - request/response models, OpenAI-shaped errors;
* :mod:`carl.serving.limits` - the body-size limit (on the bytes received) and uvicorn's connection limits;
* :mod:`carl.serving.metrics` - Prometheus metrics;
* :mod:`carl.serving.app` - the FastAPI application factory :func:`create_app`;
* ``static/`` - the explorer page (HTML, CSS, JS; no CDN).
"""

from carl.serving.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]


def create_app(*args, **kwargs):
    """See :func:`carl.serving.app.create_app` (imported lazily: FastAPI is an optional dependency)."""
    from carl.serving.app import create_app as _create_app  # optional: fastapi (carl-affect[serve])

    return _create_app(*args, **kwargs)
