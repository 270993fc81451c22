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


# ---------------------------------------------------------------------- texts from all of Unicode, surrogates included

TEXT_ROUTES = [("/v1/embeddings", "input"), ("/embeddings", "input"), ("/embed", "inputs"), ("/", "inputs"),
               ("/v1/affect", "input"), ("/v1/compare", "input"), ("/v1/map", "input")]


def post_raw(url, route, field, texts):
    """The body as a client's JSON encoder writes it: an unpaired surrogate becomes a "\\udXXX" escape."""
    import json

    body = json.dumps({field: texts}).encode("ascii")
    return httpx.post(url + route, content=body, headers={"content-type": "application/json"}, timeout=30)


@pytest.mark.parametrize("route, field", TEXT_ROUTES)
def test_an_unpaired_surrogate_is_a_400_naming_the_text_on_every_text_route(failing, route, field):
    """Before: 500 on every route (the tokenizer's TypeError)."""
    app, gate, url = failing
    gate.forward = app.state.engine.forward
    answer = post_raw(url, route, field, ["I won", "half an emoji \ud83d", "I lost"])
    assert answer.status_code == 400, answer.text
    assert answer.headers["x-content-type-options"] == "nosniff"
    if route in ("/embed", "/"):
        assert answer.json()["error_type"] == "Validation" and "unpaired UTF-16 surrogate" in answer.json()["error"]
    else:
        error = answer.json()["error"]
        assert error["code"] == "invalid_text" and error["param"] == f"{field}[1]"
        assert "U+D83D at character 15" in error["message"]
    paired = post_raw(url, route, field, ["I won", "a whole emoji \ud83d\ude00", "I lost"])
    assert paired.status_code == 200, paired.text


def test_texts_drawn_from_all_of_unicode_never_get_a_5xx(failing):
    """Property: whatever the characters (control characters, noncharacters, private use, unpaired surrogates),
    every text route answers 200, or a 4xx in its documented shape."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    app, gate, url = failing
    gate.forward = app.state.engine.forward
    statuses = []
    text = st.text(alphabet=st.characters(exclude_categories=()), min_size=1, max_size=40)  # surrogates too

    @given(route=st.sampled_from(TEXT_ROUTES), texts=st.lists(text, min_size=2, max_size=3),
           cut=st.sampled_from(["", "\ud83d", "\ude00"]))
    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(route, texts, cut):
        texts = [texts[0] + cut, *texts[1:]]
        answer = post_raw(url, *route, texts)
        statuses.append(answer.status_code)
        assert answer.status_code < 500, (texts, answer.text)
        if answer.status_code >= 400:
            body = answer.json()
            assert set(body) == ({"error", "error_type"} if route[0] in ("/embed", "/") else {"error"})
        if any(0xD800 <= ord(c) <= 0xDFFF for t in texts for c in t) and all(t.strip() for t in texts):
            assert answer.status_code == 400, (texts, answer.text)

    check()
    assert 200 in statuses and 400 in statuses
    assert httpx.get(url + "/health", timeout=5).status_code == 200


# ---------------------------------------------------------------------- unexpected errors


def test_an_unexpected_error_is_a_500_counted_in_metrics_with_nosniff(failing, monkeypatch):
    """Before: Starlette's outermost handler answered it, outside the middleware that counts and sets headers."""
    app, gate, url = failing
    gate.forward = app.state.engine.forward

    def broken(texts):
        raise KeyError("a bug")

    monkeypatch.setattr(app.state.engine, "measure", broken)
    before = sample(app, "carl_http_requests_total", route="/v1/affect", method="POST", status="500")
    answer = httpx.post(url + "/v1/affect", json={"input": "I won"}, timeout=15)
    monkeypatch.undo()
    assert answer.status_code == 500 and answer.json()["error"]["code"] == "internal_error"
    assert "a bug" not in answer.text and "Traceback" not in answer.text
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert sample(app, "carl_http_requests_total", route="/v1/affect", method="POST", status="500") == before + 1
    assert httpx.post(url + "/v1/affect", json={"input": "I won"}, timeout=15).status_code == 200


# ---------------------------------------------------------------------- slow clients


def test_a_body_trickled_in_gets_408_and_its_connection_closed(tiny_folder):
    """A byte every 0.2 s: before, the server waited as long as the client kept sending, one connection (and a
    --limit-concurrency slot) per such client, for ever."""
    settings = ServeSettings(model=str(tiny_folder), timeout_body_s=1.0, base_model="none")
    with gated_server(settings) as (app, gate, url):
        host, port = url.removeprefix("http://").split(":")
        body = b'{"input": ["' + b"x" * 100 + b'"]}'
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body))
            started = time.monotonic()
            sock.setblocking(False)
            answer = b""
            for byte in body:
                try:
                    sock.send(bytes([byte]))
                except OSError:
                    break  # closed by the server
                time.sleep(0.2)
                try:
                    answer += sock.recv(65536)
                except BlockingIOError:
                    pass
                if b"\r\n\r\n" in answer or time.monotonic() - started > 8:
                    break
            took = time.monotonic() - started
            # the headers and the body may arrive in separate packets: read on until the server closes
            sock.setblocking(True)
            sock.settimeout(5)
            try:
                while chunk := sock.recv(65536):
                    answer += chunk
            except (ConnectionResetError, TimeoutError):
                pass  # what arrived before the reset or the pause is checked below
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b'"code":"body_timeout"' in answer and b"--timeout-body" in answer and took < 5
        assert httpx.get(url + "/health", timeout=5).status_code == 200
        assert sample(app, "carl_http_requests_total", route="/v1/embeddings", method="POST", status="408") == 1
        # a body sent at once is not affected
        assert httpx.post(url + "/v1/embeddings", json={"input": "fine"}, timeout=15).status_code == 200


# ---------------------------------------------------------------------- Host check


def test_the_host_check_takes_only_a_name_and_a_port():
    from carl.serving.page import host_allowed
    from carl.serving.server import LOOPBACK_NAMES, allowed_hosts

    for good in ("localhost", "localhost:8000", "127.0.0.1:9", "[::1]", "[::1]:8000", "LOCALHOST:80"):
        assert host_allowed(good, LOOPBACK_NAMES), good
    for bad in ("[::1]evil.example", "[::1].evil.example:80", "localhost:abc", "localhost:80:80", "127.0.0.1 x",
                "evil.example", "localhost.evil.example", "", "[::1", "127.0.0.1:"):
        assert not host_allowed(bad, LOOPBACK_NAMES), bad
    # bound to another loopback address, the server answers its own address (before: 400 host_not_allowed)
    assert host_allowed("127.0.0.2:8000", allowed_hosts("127.0.0.2", None))
    assert host_allowed("[::1]:8000", allowed_hosts("::1", None))
    assert not host_allowed("127.0.0.3:8000", allowed_hosts("127.0.0.2", None))
    assert allowed_hosts("0.0.0.0", None) is None and allowed_hosts("127.0.0.1", ("*",)) is None


def test_the_base_encoder_of_compare_reads_cut_texts():
    """/v1/compare's base encoder tokenised each text whole (no character cut, unlike the served model)."""
    import numpy as np

    from carl.serving.engine import CHARS_PER_TOKEN_READ, Engine

    class Base:
        max_seq_length = 128
        seen: list[int] = []

        def encode(self, texts, batch_size):
            self.seen.extend(len(t) for t in texts)
            return np.zeros((len(texts), 4), dtype=np.float32)

    engine = Engine.__new__(Engine)
    engine.base, engine.max_tokens = Base(), 256
    engine.base_forward(["x" * 1_000_000, "short"])
    assert Base.seen == [128 * CHARS_PER_TOKEN_READ, 5]
