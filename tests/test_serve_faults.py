"""The server's fault suite, over real HTTP (uvicorn in a thread, the tiny test encoder): a forward pass that
fails (single- and multi-part requests, several at once), texts with unpaired surrogates, unexpected errors
(500s are counted and carry nosniff), and clients that trickle their body in. Afterwards ``/health`` answers
and every request got an answer within its deadline."""

import socket
import threading
import time

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

from carl.serving import ServeSettings  # noqa: E402
from serve_models import build_tiny_model  # noqa: E402
from test_serve_scheduling import gated_server, sample  # noqa: E402


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory, export_tiny_model, data_dir):
    return build_tiny_model(tmp_path_factory.getbasetemp() / "serve-models", export_tiny_model, data_dir)


class FailOn:
    """The model's forward pass, failing on the passes ``when`` picks (by pass number and texts)."""

    def __init__(self, forward, when):
        self.forward, self.when, self.passes = forward, when, 0

    def __call__(self, texts, tokens):
        self.passes += 1
        if self.when(self.passes, texts):
            raise RuntimeError("CUDA out of memory (injected)")
        return self.forward(texts, tokens)


@pytest.fixture(scope="module")
def failing(tiny_folder):
    settings = ServeSettings(model=str(tiny_folder), max_batch_texts=2, max_wait_ms=0, request_timeout_s=30,
                             base_model="none")
    with gated_server(settings) as (app, gate, url):
        yield app, gate, url


def test_a_failed_pass_of_a_multi_part_request_answers_500_promptly_and_the_server_goes_on(failing):
    """Before: the request stayed queued, the batcher looped without awaiting, and nothing answered again,
    /health and SIGTERM included."""
    app, gate, url = failing
    gate.forward = FailOn(app.state.engine.forward, lambda n, texts: n == 2)  # the request's second part
    started = time.monotonic()
    answer = httpx.post(url + "/v1/embeddings", json={"input": [f"text number {i}" for i in range(8)]}, timeout=15)
    took = time.monotonic() - started
    error = answer.json()["error"]
    assert answer.status_code == 500 and error["code"] == "forward_failed" and error["type"] == "server_error"
    assert "RuntimeError" in error["message"] and "out of memory" not in error["message"] and took < 10
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(url + "/health", timeout=5).json() == {"status": "ok"}
    assert httpx.post(url + "/v1/embeddings", json={"input": ["a", "b", "c"]}, timeout=15).status_code == 200
    assert sample(app, "carl_http_requests_total", route="/v1/embeddings", method="POST", status="500") == 1
    assert app.state.batcher.depth == 0 and app.state.batcher.queued_tokens == 0


def test_several_failing_requests_at_once_fail_alone(failing):
    app, gate, url = failing
    gate.forward = FailOn(app.state.engine.forward, lambda n, texts: any("poison" in t for t in texts))
    bodies = {f"poison {k}": {"input": [f"poison {k} {i}" for i in range(5)]} for k in range(3)}
    bodies.update({f"fine {k}": {"input": [f"fine {k} {i}" for i in range(5)]} for k in range(3)})
    bodies["single poison"] = {"input": "poison alone"}
    results = {}

    def post(name, body):
        results[name] = httpx.post(url + "/v1/embeddings", json=body, timeout=20)

    threads = [threading.Thread(target=post, args=item) for item in bodies.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert {name: r.status_code for name, r in results.items()} == {
        name: 500 if "poison" in name else 200 for name in bodies}
    assert all(len(results[f"fine {k}"].json()["data"]) == 5 for k in range(3))
    assert httpx.get(url + "/health", timeout=5).status_code == 200
    assert app.state.batcher.depth == 0 and app.state.batcher.queued_tokens == 0
