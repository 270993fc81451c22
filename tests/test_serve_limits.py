"""`carl serve` against hostile requests, as a real process on loopback: a request may cost the server
memory only in proportion to its size, and every refusal comes back in the documented error shape.

The memory checks read the server's resident set (psutil) before and after one hostile request: the
bound is ``RSS_FACTOR`` times the body's size plus ``RSS_SLACK`` bytes (allocator pages, one-off
imports). The factor is what Python's own JSON objects cost: an empty object, 3 bytes of the body
(``{},``), is a 64-byte dict plus a list slot once parsed (measured: ~25x for a list of empty objects,
~18x of empty lists, ~5x of numbers). Before the limits existed, a 32 MiB chunked body was read whole and a 0.4 MB list of
wrong-typed items grew the server by ~200 MB of validation errors.
"""

import json
import socket

import pytest

httpx = pytest.importorskip("httpx")
psutil = pytest.importorskip("psutil")

from serve_models import LiveServer, build_tiny_model  # noqa: E402

MAX_BODY = 1024 * 1024
MAX_INPUTS = 64
MAX_TEXT_CHARS = 2000
RSS_FACTOR = 32
RSS_SLACK = 8 * 1024 * 1024


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory, export_tiny_model, data_dir):
    folder = build_tiny_model(tmp_path_factory.getbasetemp() / "serve-models", export_tiny_model, data_dir)
    live = LiveServer(folder, "--max-body-bytes", str(MAX_BODY), "--max-inputs", str(MAX_INPUTS),
                      "--max-text-chars", str(MAX_TEXT_CHARS), "--timeout-headers", "1", "--base-model", "none",
                      "--allowed-hosts", "carl.internal",
                      log=tmp_path_factory.mktemp("limits") / "serve.log")
    try:
        yield live.wait_ready()
    finally:
        live.stop()


def rss(server) -> int:
    return psutil.Process(server.process.pid).memory_info().rss


def warm_up(server):
    """One request of each kind first, so that what is measured is the hostile request, not first-use imports."""
    httpx.post(server.url + "/v1/embeddings", json={"input": ["warm", "up"]}, timeout=60)
    httpx.post(server.url + "/v1/embeddings", json={"input": [1, 2]}, timeout=60)
    httpx.post(server.url + "/v1/embeddings", content=b"x" * (MAX_BODY + 1),
               headers={"content-type": "application/json"}, timeout=60)


def assert_openai_error(response_status: int, body: bytes, status: int, code: str | None = None) -> dict:
    assert response_status == status, body[:500]
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"], error
    if code is not None:
        assert error["code"] == code, error
    return error


def chunked_post(url: str, path: str, chunks, chunk_bytes: int) -> tuple[int, bytes]:
    """POST with Transfer-Encoding: chunked and no Content-Length, sending until the server answers or
    closes; returns (status, body)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode())
        try:
            for chunk in chunks:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: its answer is waiting
        raw = b""
        try:
            while part := sock.recv(65536):
                raw += part
        except ConnectionResetError:
            pass
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    if b"transfer-encoding: chunked" in head.lower():  # decode a chunked answer
        decoded, rest = b"", body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line, 16)
            if size == 0:
                break
            decoded, rest = decoded + rest[:size], rest[size + 2:]
        body = decoded
    return status, body


def test_a_chunked_body_past_the_limit_is_refused_without_being_read(limited_server):
    warm_up(limited_server)
    sent_bytes = 32 * 1024 * 1024
    chunk = b"a" * 65536

    def body():
        yield b'{"input": ["'
        for _ in range(sent_bytes // len(chunk)):
            yield chunk

    before = rss(limited_server)
    status, answer = chunked_post(limited_server.url, "/v1/embeddings", body(), len(chunk))
    grown = rss(limited_server) - before
    error = assert_openai_error(status, answer, 413, "body_too_large")
    assert str(MAX_BODY) in error["message"] and "--max-body-bytes" in error["message"]
    assert grown < 4 * MAX_BODY + RSS_SLACK, f"server grew by {grown / 2**20:.1f} MiB on a refused body"


def test_a_declared_length_past_the_limit_is_refused_before_reading(limited_server):
    answer = httpx.post(limited_server.url + "/embed", content=b"[" * (MAX_BODY + 10),
                        headers={"content-type": "application/json"}, timeout=60)
    assert_openai_error(answer.status_code, answer.content, 413, "body_too_large")


@pytest.mark.parametrize("item", [b"1", b"{}", b"[]", b"null"], ids=["ints", "objects", "lists", "nulls"])
def test_a_long_list_of_wrong_items_costs_memory_in_proportion_to_its_size(limited_server, item):
    warm_up(limited_server)
    items = (MAX_BODY - 100) // (len(item) + 1)
    body = b'{"input": [' + b",".join([item] * items) + b"]}"
    before = rss(limited_server)
    answer = httpx.post(limited_server.url + "/v1/embeddings", content=body,
                        headers={"content-type": "application/json"}, timeout=120)
    grown = rss(limited_server) - before
    error = assert_openai_error(answer.status_code, answer.content, 413, "too_many_inputs")
    assert f"at most {MAX_INPUTS}" in error["message"] and error["param"] == "input"
    assert grown <= RSS_FACTOR * len(body) + RSS_SLACK, (
        f"a {len(body)}-byte body grew the server by {grown / 2**20:.1f} MiB")


def test_wrong_items_within_the_count_limit_get_one_short_400(limited_server):
    answer = httpx.post(limited_server.url + "/v1/embeddings", json={"input": [{"text": i} for i in range(MAX_INPUTS)]}, timeout=60)
    error = assert_openai_error(answer.status_code, answer.content, 400, "invalid_request")
    assert error["param"] == "input" and len(error["message"]) < 500, error
    tei = httpx.post(limited_server.url + "/embed", json={"inputs": [None] * MAX_INPUTS}, timeout=60)
    assert tei.status_code in (400, 422) and len(tei.text) < 1000


def test_max_text_chars_from_the_command_line(limited_server):
    ok = httpx.post(limited_server.url + "/v1/embeddings", json={"input": "a" * MAX_TEXT_CHARS}, timeout=60)
    assert ok.status_code == 200
    over = httpx.post(limited_server.url + "/v1/embeddings", json={"input": ["b", "a" * (MAX_TEXT_CHARS + 1)]},
                      timeout=60)
    error = assert_openai_error(over.status_code, over.content, 413, "text_too_long")
    assert error["param"] == "input[1]" and "--max-text-chars" in error["message"]


def test_a_connection_that_never_finishes_its_headers_is_closed(limited_server):
    host, port = limited_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl")  # ... and nothing more
        assert sock.recv(1024) == b""  # closed by the server (--timeout-headers 1), not by our 30 s timeout
    # a normal request on a new connection is unaffected
    assert httpx.get(limited_server.url + "/health", timeout=30).status_code == 200


def test_uvicorn_runs_with_the_connection_limits(tiny_settings):
    from carl.serving.server import MAX_HEADER_BYTES, uvicorn_config

    config = uvicorn_config(object(), tiny_settings, host="127.0.0.1", port=0)
    assert config.limit_concurrency == 7 and config.timeout_keep_alive == 3
    assert config.h11_max_incomplete_event_size == MAX_HEADER_BYTES
    assert config.http.__name__ == "HeaderTimeoutH11Protocol"


@pytest.fixture
def tiny_settings():
    from carl.serving import ServeSettings

    return ServeSettings(model="unused", limit_concurrency=7, timeout_keep_alive_s=3).validate()


def test_allowed_hosts_widen_the_loopback_names(limited_server):
    for host, status in [("carl.internal", 200), (f"127.0.0.1:{limited_server.port}", 200), ("[::1]:80", 200),
                         ("evil.example", 400), ("carl.internal.evil.example", 400)]:
        assert httpx.get(limited_server.url + "/health", headers={"Host": host}, timeout=30).status_code == status, host
