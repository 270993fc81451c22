"""`carl serve`'s API in-process (FastAPI's TestClient) on the embedded MiniLM with a V-A head."""

import base64

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

import carl  # noqa: E402
from carl.errors import ModelError  # noqa: E402
from carl.serving import ServeSettings, create_app  # noqa: E402
from carl.serving.affect import EMOTION_WORDS, FRAME  # noqa: E402
from carl.inference.heads.va import VAHead  # noqa: E402
from serve_models import build_minilm_model  # noqa: E402

TEXTS = ["I won the match!", "I lost everything today.", "The report is due on Monday."]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, data_dir):
    return build_minilm_model(tmp_path_factory.getbasetemp() / "serve-models", data_dir)


@pytest.fixture(scope="module")
def reference(model_dir):
    """What `carl embed` computes: carl.load(folder).encode."""
    return carl.load(model_dir)


@pytest.fixture(scope="module")
def client(model_dir):
    app = create_app(ServeSettings(model=str(model_dir), max_inputs=8, max_text_chars=5000, max_wait_ms=2))
    with TestClient(app) as c:
        yield c


def cosine(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


def assert_error(response, status, param=None, code=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "Traceback" not in response.text
    if param is not None:
        assert body["error"]["param"] == param, body
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


def test_openai_embeddings_float_and_base64_match_carl_embed(client, reference):
    expected = reference.encode(TEXTS)
    floats = client.post("/v1/embeddings", json={"input": TEXTS, "model": "anything"}).json()
    assert floats["object"] == "list" and floats["model"] == "minilm-va"
    assert [d["index"] for d in floats["data"]] == [0, 1, 2] and all(d["object"] == "embedding" for d in floats["data"])
    got = np.array([d["embedding"] for d in floats["data"]])
    assert got.shape == (3, 384)
    assert np.all(cosine(got, expected) > 0.999)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)  # normalised, like OpenAI's
    b64 = client.post("/embeddings", json={"input": TEXTS, "encoding_format": "base64"}).json()
    decoded = np.array([np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") for d in b64["data"]])
    np.testing.assert_allclose(decoded, got, atol=1e-6)


def test_usage_counts_real_tokens_and_reports_truncation(client, reference):
    tokenizer = reference.tokenizer
    counts = [len(tokenizer(t)["input_ids"]) for t in TEXTS]
    usage = client.post("/v1/embeddings", json={"input": TEXTS}).json()["usage"]
    assert usage == {"prompt_tokens": sum(counts), "total_tokens": sum(counts), "truncated_inputs": 0}
    long_text = "happy " * 400  # far beyond the folder's 128-token maximum
    usage = client.post("/v1/embeddings", json={"input": [long_text, TEXTS[0]]}).json()["usage"]
    assert usage["truncated_inputs"] == 1 and usage["prompt_tokens"] == 128 + counts[0]


def test_dimensions_truncate_then_renormalise(client):
    full = client.post("/v1/embeddings", json={"input": TEXTS[0]}).json()["data"][0]["embedding"]
    short = client.post("/v1/embeddings", json={"input": TEXTS[0], "dimensions": 16}).json()["data"][0]["embedding"]
    assert len(short) == 16
    np.testing.assert_allclose(short, np.array(full[:16]) / np.linalg.norm(full[:16]), atol=1e-5)
    assert_error(client.post("/v1/embeddings", json={"input": "x", "dimensions": 0}), 400, "dimensions")
    assert_error(client.post("/v1/embeddings", json={"input": "x", "dimensions": 385}), 400, "dimensions")


def assert_tei_error(response, status, error_type):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "error_type"} and body["error"] and body["error_type"] == error_type, body
    return body["error"]


def test_tei_routes_answer_errors_in_teis_shape(client):
    long_text = "sad " * 300
    assert_tei_error(client.post("/embed", json={"inputs": long_text}), 413, "Validation")
    assert_tei_error(client.post("/embed", json={"inputs": ["t"] * 9}), 413, "Validation")
    assert_tei_error(client.post("/embed", json={"inputs": ""}), 400, "Empty")
    assert_tei_error(client.post("/embed", json={"inputs": 5}), 422, "Validation")
    assert_tei_error(client.post("/", json={"inputs": 5}), 422, "Validation")  # TEI's POST / as well
    assert client.post("/", json={"inputs": "x"}).status_code == 200


def test_tei_truncation_direction_keeps_the_end_asked_for(client, reference):
    text = "calm " * 200 + "furious " * 200
    tokenizer = reference.tokenizer
    head = tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"][:126])
    tail = tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"][-126:])
    right = client.post("/embed", json={"inputs": text, "truncate": True}).json()[0]
    left = client.post("/embed", json={"inputs": text, "truncate": True, "truncation_direction": "Left"}).json()[0]
    expected_head, expected_tail = reference.encode([head, tail], normalize=True)
    assert cosine(right, expected_head) > 0.999 and cosine(left, expected_tail) > 0.999
    assert cosine(left, right) < 0.99


def test_token_ids_get_a_400_that_names_the_langchain_setting(client):
    for tokens in ([[40, 2834]], [40, 2834]):
        error = assert_error(client.post("/v1/embeddings", json={"input": tokens}), 400, "input", "token_ids_not_supported")
        assert "check_embedding_ctx_length=False" in error["message"]


def test_tei_embed_shape_normalise_and_truncate(client, reference):
    raw = client.post("/embed", json={"inputs": TEXTS, "normalize": False}).json()
    assert isinstance(raw, list) and len(raw) == 3 and len(raw[0]) == 384
    np.testing.assert_allclose(raw, reference.encode(TEXTS), atol=1e-4)
    unit = client.post("/embed", json={"inputs": TEXTS[1]}).json()
    assert len(unit) == 1 and abs(np.linalg.norm(unit[0]) - 1) < 1e-5
    long_text = "sad " * 300
    assert_tei_error(client.post("/embed", json={"inputs": [TEXTS[0], long_text]}), 413, "Validation")
    assert client.post("/embed", json={"inputs": long_text, "truncate": True}).status_code == 200


@pytest.mark.parametrize("body, status, param", [
    ({"input": []}, 400, "input"),
    ({"input": ""}, 400, "input"),
    ({"input": ["fine", "   "]}, 400, "input[1]"),
    ({"input": 5}, 400, "input"),
    ({"input": [1, 2]}, 400, None),
    ({"input": None}, 400, "input"),
    ({}, 400, "input"),
    ({"input": "x", "encoding_format": "hex"}, 400, "encoding_format"),
    ({"input": "x", "dimensions": "many"}, 400, "dimensions"),
    ({"input": ["t"] * 9}, 413, "input"),
    ({"input": "x" * 5001}, 413, "input"),
])
def test_bad_requests_get_openai_shaped_errors(client, body, status, param):
    assert_error(client.post("/v1/embeddings", json=body), status, param)


def test_malformed_json_unknown_route_and_method(client):
    error = assert_error(client.post("/v1/embeddings", content=b"{not json", headers={"content-type": "application/json"}),
                         400)
    assert "JSON" in error["message"]
    assert_error(client.post("/v1/embeddings", content=b"[1, 2]", headers={"content-type": "application/json"}), 400)
    assert_error(client.get("/v2/nothing"), 404, code="not_found")
    assert_error(client.get("/v1/embeddings"), 405)


def test_info_models_health(client):
    info = client.get("/info").json()
    assert info["model_id"] == "minilm-va" and info["max_input_length"] == 128 and info["dimension"] == 384
    assert info["va_head"] is True and info["base_model"] == "minilm" and info["backend"] == "torch"
    assert info["max_client_batch_size"] == 8
    models = client.get("/v1/models").json()
    assert models["object"] == "list" and [m["id"] for m in models["data"]] == ["minilm-va"]
    assert client.get("/health").json() == {"status": "ok"}


def test_affect_uses_the_models_head_and_its_own_word_coordinates(client, reference, model_dir):
    head = VAHead.load(model_dir)
    expected = head.predict(reference.encode(TEXTS))
    answer = client.post("/v1/affect", json={"input": TEXTS, "top_k": 4}).json()
    got = np.array([[d["valence"], d["arousal"]] for d in answer["data"]])
    np.testing.assert_allclose(got, expected, atol=1e-4)
    words = {w["word"]: (w["valence"], w["arousal"]) for w in client.get("/v1/affect/words").json()["words"]}
    assert set(words) == set(EMOTION_WORDS)
    sample = ["happy", "furious", "calm"]
    np.testing.assert_allclose([words[w] for w in sample],
                               head.predict(reference.encode([FRAME.format(word=w) for w in sample])), atol=1e-4)
    for item, point in zip(answer["data"], got):
        distances = {w: float(np.hypot(v - point[0], a - point[1])) for w, (v, a) in words.items()}
        assert [n["word"] for n in item["nearest"]] == sorted(distances, key=distances.get)[:4]
    assert_error(client.post("/v1/affect", json={"input": "x", "top_k": 0}), 400, "top_k")


def test_compare_and_map_feed_the_explorer(client, reference):
    answer = client.post("/v1/compare", json={"input": ["I won", "I lost", "I won!"]}).json()
    assert answer["base_model"] == "minilm" and [(p["a"], p["b"]) for p in answer["pairs"]] == [(0, 1), (0, 2), (1, 2)]
    vectors = reference.encode(["I won", "I lost", "I won!"])
    assert abs(answer["pairs"][0]["model"] - cosine(vectors[0], vectors[1])) < 1e-4
    assert abs(answer["pairs"][0]["base"] - answer["pairs"][0]["model"]) < 1e-4  # this test model *is* its base
    # Standardised within each space by the cosines between the emotion-word frame sentences.
    frames = reference.encode([FRAME.format(word=w) for w in EMOTION_WORDS])
    pairwise = cosine(frames[:, None, :], frames[None, :, :])[np.triu_indices(len(frames), k=1)]
    ref = answer["reference"]
    assert ref["texts"] == len(EMOTION_WORDS) and ref["frame"] == FRAME
    assert ref["model_mean"] == pytest.approx(pairwise.mean(), abs=1e-4)
    assert ref["model_std"] == pytest.approx(pairwise.std(), abs=1e-4)
    for pair in answer["pairs"]:
        assert pair["model_z"] == pytest.approx((pair["model"] - pairwise.mean()) / pairwise.std(), abs=2e-3)
        assert pair["base_z"] == pytest.approx(pair["model_z"], abs=2e-3)
    assert_error(client.post("/v1/compare", json={"input": ["only one"]}), 400, "input", "too_few_inputs")
    texts = [f"sentence number {i} about {w}" for i, w in enumerate(["joy", "grief", "rain", "anger", "sleep"])]
    mapped = client.post("/v1/map", json={"input": texts, "method": "pca"}).json()
    assert mapped["method"] == "pca" and len(mapped["points"]) == 5 and len(mapped["valence"]) == 5
    unit = np.frombuffer(base64.b64decode(mapped["embeddings"]), dtype="<f4").reshape(5, mapped["dimension"])
    assert np.all(cosine(unit, reference.encode(texts)) > 0.999)


def test_metrics_count_requests_texts_and_batches(client):
    client.post("/v1/embeddings", json={"input": ["one", "two"]})
    text = client.get("/metrics").text
    for name in ("carl_http_requests_total", "carl_http_request_duration_seconds_bucket", "carl_texts_total",
                 "carl_queue_depth", "carl_batch_texts_bucket", "carl_forward_duration_seconds_count"):
        assert name in text, name
    line = next(x for x in text.splitlines() if x.startswith('carl_texts_total{route="/v1/embeddings"}'))
    assert float(line.split()[-1]) >= 2


def test_the_explorer_page_is_self_contained(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "<script src" not in page.text and "http://" not in page.text.replace("http://www.w3.org/2000/svg", "")
    assert "const API_KEY_REQUIRED = false" in page.text and "function drawCircumplex" in page.text


def test_api_key_guards_every_route_but_health(model_dir):
    app = create_app(ServeSettings(model=str(model_dir), api_key="s3cret", affect="off", base_model="none"))
    with TestClient(app) as c:
        assert c.get("/health").status_code == 200
        for method, path in [("post", "/v1/embeddings"), ("post", "/embed"), ("get", "/info"), ("get", "/metrics"),
                             ("get", "/v1/models"), ("get", "/openapi.json"), ("get", "/")]:
            r = getattr(c, method)(path, json={"input": "x", "inputs": "x"}) if method == "post" else c.get(path)
            if path == "/embed":
                assert_tei_error(r, 401, "Unauthorized")
            else:
                assert_error(r, 401, code="invalid_api_key")
            assert r.headers["www-authenticate"] == "Bearer"
        wrong = c.post("/v1/embeddings", json={"input": "x"}, headers={"Authorization": "Bearer s3cre"})
        assert_error(wrong, 401)
        ok = c.post("/v1/embeddings", json={"input": "x"}, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        unlock = c.get("/", headers={"Accept": "text/html"})
        assert unlock.status_code == 401 and "API key" in unlock.text
        page = c.get("/", headers={"Accept": "text/html", "Authorization": "Bearer s3cret"})
        assert page.status_code == 200 and "const API_KEY_REQUIRED = true" in page.text
        assert_error(c.post("/v1/affect", json={"input": "x"}, headers={"Authorization": "Bearer s3cret"}), 404,
                     code="no_va_head")


def test_affect_on_without_a_head_fails_at_start_up(tmp_path, export_tiny_model):
    folder = export_tiny_model("no-head")
    with pytest.raises(ModelError, match="va_head.json"):
        create_app(ServeSettings(model=str(folder), affect="on"))


def test_counting_tokens_while_the_model_runs_is_thread_safe(client):
    """Regression: request threads counting tokens while the worker thread tokenised for the model used to
    share one fast tokenizer and corrupt its padding state (ragged batch -> 500 under load)."""
    import threading

    engine = client.app.state.engine
    texts = ["short", "a much longer sentence with many more tokens than the first one in it", "mid length one"]
    failures = []

    def count():
        try:
            for i in range(200):
                engine.measure(texts[i % 3:] + ["word " * (i % 40 + 1)])
        except Exception as exc:  # noqa: BLE001
            failures.append(repr(exc))

    counters = [threading.Thread(target=count) for _ in range(2)]
    for t in counters:
        t.start()
    for i in range(15):
        batch = texts * (i % 4 + 1)
        engine.forward(batch, engine.measure(batch).tokens)
    for t in counters:
        t.join()
    assert failures == []


def test_token_counting_never_tokenises_past_the_models_maximum(client):
    """A 100,000-character text is counted with truncation at the maximum + 1: the count says it was cut,
    and the tokenizer never produced more ids than that (it used to produce all ~20,000)."""
    engine = client.app.state.engine
    produced, longest_text = [], []
    tokenizer = engine.tokenizer

    class Recording:
        def __call__(self, *args, **kwargs):
            out = tokenizer(*args, **kwargs)
            produced.extend(len(ids) for ids in out["input_ids"])
            longest_text.append(max(len(text) for text in args[0]))
            return out

    engine.tokenizer = Recording()
    try:
        measured = engine.measure(["joy " * 25_000, "short text", "word " * (engine.max_tokens - 2)])
    finally:
        engine.tokenizer = tokenizer
    assert measured.tokens == [engine.max_tokens, 4, engine.max_tokens] and measured.over == [0]
    assert max(produced) == engine.max_tokens + 1
    # and it never sees more characters than the model can read: a fast tokenizer encodes a whole string first
    assert max(longest_text) <= engine.max_tokens * 32 < 100_000


def test_standardised_similarity_is_relative_to_the_spaces_own_reference_pairs():
    from carl.serving.affect import similarity_reference, standardised

    # Three reference vectors at 0, 60 and 90 degrees: pair cosines 0.5, 0 and 0.5*sqrt(3)...
    vectors = np.array([[1.0, 0.0], [0.5, np.sqrt(3) / 2], [0.0, 2.0]])
    cosines = np.array([0.5, 0.0, np.sqrt(3) / 2])
    mean, std = similarity_reference(vectors)
    assert mean == pytest.approx(cosines.mean()) and std == pytest.approx(cosines.std())
    assert standardised(mean + 2 * std, (mean, std)) == pytest.approx(2.0)
    # A crowded space (every cosine high) and a spread one rank the same pair alike once standardised.
    assert standardised(0.95, (0.9, 0.025)) == pytest.approx(standardised(0.3, (0.1, 0.1)))
    assert standardised(0.7, (0.7, 0.0)) == 0.0


# ---------------------------------------------------------------------- the browser surface and the metrics


def test_the_page_and_the_unlock_page_carry_a_strict_csp_with_the_hashes_of_their_inline_code(client, model_dir):
    import hashlib
    import re

    def inline_hashes(html):
        return {"'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
                for body in re.findall(r"<(?:script|style)>(.*?)</(?:script|style)>", html, flags=re.S)}

    page = client.get("/")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert inline_hashes(page.text) and all(h in csp for h in inline_hashes(page.text))
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-frame-options"] == "DENY"
    assert client.post("/v1/embeddings", json={"input": "x"}).headers["x-content-type-options"] == "nosniff"
    app = create_app(ServeSettings(model=str(model_dir), api_key="s3cret", base_model="none"))
    with TestClient(app) as c:
        unlock = c.get("/", headers={"Accept": "text/html"})
        unlocked = c.get("/", headers={"Accept": "text/html", "Authorization": "Bearer s3cret"})
    assert unlock.status_code == 401 and "frame-ancestors 'none'" in unlock.headers["content-security-policy"]
    # the unlock page writes the explorer into itself, so its policy must admit the explorer's code too
    for h in inline_hashes(unlock.text) | inline_hashes(unlocked.text):
        assert h in unlock.headers["content-security-policy"]


def test_prometheus_labels_stay_bounded_whatever_the_client_sends(client):
    for method in ("FOO", "BAR", "PURGE"):
        client.request(method, "/v1/embeddings")
    for i in range(3):
        client.get(f"/no/such/path/{i}")
    text = client.get("/metrics").text
    assert 'method="other"' in text and 'route="other"' in text
    assert "FOO" not in text and "PURGE" not in text and "/no/such" not in text


def test_a_body_without_a_json_content_type_is_not_parsed_as_json(client):
    body = b'{"input": "hello"}'
    assert client.post("/v1/embeddings", content=body, headers={"content-type": "application/json"}).status_code == 200
    assert_error(client.post("/v1/embeddings", content=body, headers={"content-type": "text/plain"}), 400)
    assert_error(client.post("/v1/embeddings", content=body), 400)  # no Content-Type at all


def test_hosts_outside_the_allowed_list_are_refused(model_dir):
    settings = ServeSettings(model=str(model_dir), affect="off", base_model="none",
                             allowed_hosts=("localhost", "127.0.0.1", "carl.internal"))
    with TestClient(create_app(settings), base_url="http://localhost:8000") as c:
        assert c.get("/health").status_code == 200
        assert c.get("/health", headers={"Host": "carl.internal:8000"}).status_code == 200
        assert_error(c.get("/health", headers={"Host": "rebound.attacker.example"}), 400, code="host_not_allowed")


def test_no_absolute_filesystem_path_is_returned(export_tiny_model):
    import json

    folder = export_tiny_model("paths")
    with TestClient(create_app(ServeSettings(model=str(folder), base_model=str(folder.resolve())))) as c:
        info = c.get("/info").json()
        compared = c.post("/v1/compare", json={"input": ["a b", "c d"]}).json()
    assert info["base_model"] == compared["base_model"] == f"{folder.parent.name}/{folder.name}"  # as model ids
    for answer in (info, compared):
        assert str(folder.parent) not in json.dumps(answer)


@pytest.mark.parametrize("key", ["clé", "two words", "tab\there", ""])
def test_an_api_key_that_is_not_printable_ascii_is_refused_at_start_up(key):
    from carl.errors import ConfigError

    with pytest.raises(ConfigError, match="--api-key"):
        ServeSettings(model="minilm", api_key=key).validate()
