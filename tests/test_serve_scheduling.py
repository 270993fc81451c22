"""What happens to requests while the model is busy, over real HTTP (uvicorn in a thread, the tiny test
encoder): a client that goes away has its queued work dropped, a request past ``--request-timeout`` gets
504, a full queue answers 429 before the body is even parsed, and a dead batching task makes ``/health``
say so. The model is held busy with a gate around its forward pass, so nothing here depends on timing.
"""

import contextlib
import socket
import threading
import time

import pytest

httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")

from carl.serving import ServeSettings, create_app  # noqa: E402
from serve_models import build_tiny_model, free_port  # noqa: E402

REQUEST_TIMEOUT_S = 2.0


class Gate:
    """Wraps the model's forward pass: holds every pass until released, and counts them."""

    def __init__(self, forward):
        self.forward = forward
        self.open = threading.Event()
        self.open.set()
        self.entered = threading.Event()
        self.calls: list[list[str]] = []

    def __call__(self, texts, tokens):
        self.calls.append(list(texts))
        self.entered.set()
        self.open.wait(60)
        return self.forward(texts, tokens)

    def close(self):
        self.open.clear()
        self.entered.clear()
        self.calls.clear()


@contextlib.contextmanager
def gated_server(settings: ServeSettings):
    """The app of ``settings`` under uvicorn in a thread, its forward pass behind a Gate."""
    app = create_app(settings)
    gate = Gate(app.state.batcher._forward)
    app.state.batcher._forward = gate
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "in-process server did not start"
        time.sleep(0.05)
    try:
        yield app, gate, f"http://127.0.0.1:{port}"
    finally:
        gate.open.set()
        server.should_exit = True
        thread.join(30)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory, export_tiny_model, data_dir):
    return build_tiny_model(tmp_path_factory.getbasetemp() / "serve-models", export_tiny_model, data_dir)


@pytest.fixture(scope="module")
def served(tiny_folder):
    with gated_server(ServeSettings(model=str(tiny_folder), max_batch_texts=2, max_queue=2, max_wait_ms=0,
                                    request_timeout_s=REQUEST_TIMEOUT_S, base_model="none")) as running:
        yield running


def sample(app, name, **labels):
    return app.state.metrics.registry.get_sample_value(name, labels) or 0.0


def wait_for(condition, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def post_in_thread(url, body, results, key):
    def post():
        results[key] = httpx.post(url + "/v1/embeddings", json=body, timeout=60)

    thread = threading.Thread(target=post)
    thread.start()
    return thread


def test_a_client_that_goes_away_has_its_queued_parts_dropped(served):
    app, gate, url = served
    gate.close()
    dropped_before = sample(app, "carl_dropped_parts_total", reason="cancelled")
    body = b'{"input": [' + b",".join(b'"text number %d"' % i for i in range(10)) + b"]}"
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body)
        assert gate.entered.wait(30)  # its first part (2 texts) is in the model
    # the connection is closed: the 4 parts still queued are dropped, not computed
    wait_for(lambda: sample(app, "carl_dropped_parts_total", reason="cancelled") == dropped_before + 4,
             "the queued parts to be dropped")
    gate.open.set()
    assert httpx.post(url + "/v1/embeddings", json={"input": "after"}, timeout=60).status_code == 200
    assert len(gate.calls) == 2 and gate.calls[-1] == ["after"]


def test_a_request_past_the_deadline_gets_504(served):
    app, gate, url = served
    gate.close()
    results = {}
    blocker = post_in_thread(url, {"input": "blocks the model"}, results, "blocker")
    assert gate.entered.wait(30)
    late = httpx.post(url + "/v1/embeddings", json={"input": "waits behind it"}, timeout=60)
    gate.open.set()
    blocker.join(60)
    error = late.json()["error"]
    assert late.status_code == 504 and error["code"] == "request_timeout" and "--request-timeout" in error["message"]
    assert ["waits behind it"] not in gate.calls  # dropped, never computed
    assert sample(app, "carl_dropped_parts_total", reason="timeout") >= 1


def test_a_full_queue_answers_429_before_reading_the_body(served):
    app, gate, url = served
    gate.close()
    results = {}
    threads = [post_in_thread(url, {"input": "in the model"}, results, "running")]
    assert gate.entered.wait(30)
    threads += [post_in_thread(url, {"input": f"queued {i}"}, results, f"queued {i}") for i in range(2)]
    wait_for(lambda: app.state.batcher.depth == 2, "two queued requests")
    # not even valid JSON: with the queue full it is refused before anyone reads it
    refused = httpx.post(url + "/v1/embeddings", content=b"{not json", headers={"content-type": "application/json"},
                         timeout=30)
    gate.open.set()
    for thread in threads:
        thread.join(60)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "queue_full"
    assert int(refused.headers["Retry-After"]) >= 1
    assert [r.status_code for r in results.values()] == [200, 200, 200]


def test_if_the_batching_task_dies_requests_fail_fast_and_health_says_so(served):
    """Runs last: it breaks this module's server."""
    app, gate, url = served
    gate.open.set()
    assert httpx.get(url + "/health", timeout=30).json() == {"status": "ok"}

    def broken_take():
        raise RuntimeError("bug in the gatherer")

    app.state.batcher._take = broken_take
    failed = httpx.post(url + "/v1/embeddings", json={"input": "x"}, timeout=30)
    assert failed.status_code == 503 and "bug in the gatherer" in failed.json()["error"]["message"]
    health = httpx.get(url + "/health", timeout=30)
    assert health.status_code == 503 and health.json()["error"]["code"] == "unhealthy"
    again = httpx.post(url + "/v1/embeddings", json={"input": "y"}, timeout=30)
    assert again.status_code == 503


def test_a_maximal_request_waiting_does_not_turn_small_requests_away(tiny_folder):
    """The queue's default token bound holds two of the largest requests: with one maximal request
    waiting (here 8,192 texts of the tiny model's 64 tokens, 524,288 tokens), a 1-text request is queued
    and answered, not refused. (The former fixed default, 262,144 tokens, was below one maximal request
    of the served MiniLM, and while one waited every other request got 429.)"""
    settings = ServeSettings(model=str(tiny_folder), max_inputs=8192, max_batch_texts=256, max_wait_ms=0,
                             base_model="none")
    with gated_server(settings) as (app, gate, url):
        gate.close()
        results = {}
        maximal = post_in_thread(url, {"input": ["word " * 80] * 8192}, results, "maximal")
        assert gate.entered.wait(60)  # its first part is in the model, the rest waits
        assert app.state.batcher.queued_tokens > 262_144
        small = post_in_thread(url, {"input": "one small text"}, results, "small")
        wait_for(lambda: len(app.state.batcher._pending) == 2 or "small" in results, "the small request to queue")
        gate.open.set()
        small.join(60)
        maximal.join(120)
    assert results["small"].status_code == 200, results["small"].text
    assert results["maximal"].status_code == 200 and len(results["maximal"].json()["data"]) == 8192
    assert any("one small text" in call for call in gate.calls)
