"""`carl serve` as a real process on a free loopback port: the official openai client, TEI's shape,
the API key, 429 under a bounded overload, graceful shutdown, start-up errors, and a real browser
(Debian's chromium through playwright) on the explorer page.

Nothing here reaches beyond 127.0.0.1. Screenshots go to pytest's tmp dir; with
CARL_SCREENSHOT_DIR=docs/img they are also copied there for docs/serving.md, and
CARL_EXPLORER_MODEL=runs/main/model runs the browser test on a trained CARL model instead of the
test model (MiniLM itself, whose similarities equal its base encoder's):

    CARL_EXPLORER_MODEL=runs/main/model CARL_SCREENSHOT_DIR=docs/img bash scripts/test.sh tests/test_serve_live.py -k browser
"""

import concurrent.futures
import csv
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
openai = pytest.importorskip("openai")

from carl.serving.affect import EMOTION_WORDS  # noqa: E402
from serve_models import LiveServer, build_minilm_model, build_tiny_model  # noqa: E402

TEXTS = ["I won the match!", "I lost everything today.", "The report is due on Monday."]
CHROMIUM = pathlib.Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def carl_cli(*args, timeout=300):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "carl.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


def cosine(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, data_dir):
    return build_minilm_model(tmp_path_factory.getbasetemp() / "serve-models", data_dir)


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    live = LiveServer(model_dir, "--max-wait-ms", "3", log=tmp_path_factory.mktemp("live") / "serve.log")
    try:
        yield live.wait_ready()
    finally:
        live.stop()


@pytest.fixture(scope="module")
def tiny_server(tmp_path_factory, export_tiny_model, data_dir):
    """A small model with an API key, a queue of 1 and a long gathering window: overload and shutdown tests."""
    folder = build_tiny_model(tmp_path_factory.getbasetemp() / "serve-models", export_tiny_model, data_dir)
    live = LiveServer(folder, "--api-key", "k-123", "--max-queue", "1", "--max-wait-ms", "1500",
                      "--base-model", "none", log=tmp_path_factory.mktemp("tiny") / "serve.log")
    try:
        yield live.wait_ready()
    finally:
        live.stop()


@pytest.fixture(scope="module")
def carl_embed_vectors(model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("embed")
    (folder / "texts.txt").write_text("\n".join(TEXTS) + "\n")
    done = carl_cli("embed", model_dir, "--input", folder / "texts.txt", "--output", folder / "e.npy")
    assert done.returncode == 0, done.stderr[-2000:]
    return np.load(folder / "e.npy")


def test_openai_client_default_base64_and_float_match_carl_embed(server, carl_embed_vectors):
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=60)
    default = client.embeddings.create(model="minilm-va", input=TEXTS)  # the client asks for base64 itself
    as_float = client.embeddings.create(model="minilm-va", input=TEXTS, encoding_format="float")
    for answer in (default, as_float):
        got = np.array([d.embedding for d in answer.data])
        assert got.shape == carl_embed_vectors.shape
        assert np.all(cosine(got, carl_embed_vectors) > 0.999)
        assert answer.usage.prompt_tokens > len(TEXTS) and answer.model == "minilm-va"
    single = client.embeddings.create(model="minilm-va", input=TEXTS[1], dimensions=32)
    assert len(single.data[0].embedding) == 32
    with pytest.raises(openai.BadRequestError) as err:
        client.embeddings.create(model="minilm-va", input=[])
    assert err.value.status_code == 400 and err.value.body["code"] == "empty_input"


def test_openai_client_sends_base64_by_default(server):
    """The claim the API's base64 support rests on: the official client asks for base64 when not told."""
    seen = {}

    def record(request):
        seen["body"] = request.content

    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0,
                           http_client=openai.DefaultHttpxClient(event_hooks={"request": [record]}))
    client.embeddings.create(model="m", input="hello")
    assert b'"encoding_format":"base64"' in seen["body"].replace(b" ", b"")


def test_tei_embed_and_errors_over_http(server, carl_embed_vectors):
    answer = httpx.post(server.url + "/embed", json={"inputs": TEXTS, "normalize": False}, timeout=60)
    assert answer.status_code == 200
    np.testing.assert_allclose(answer.json(), carl_embed_vectors, atol=1e-4)
    bad = httpx.post(server.url + "/v1/embeddings", json={"input": "x", "encoding_format": "bits"}, timeout=60)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "encoding_format"
    metrics = httpx.get(server.url + "/metrics", timeout=60).text
    assert 'carl_http_requests_total{method="POST",route="/embed",status="200"}' in metrics


# ---------------------------------------------------------------------- the client libraries people use


def test_langchain_openai_embeddings_with_check_embedding_ctx_length_off(server, carl_embed_vectors):
    """LangChain's OpenAIEmbeddings as docs/serving.md shows it. Its default (check_embedding_ctx_length=True)
    tokenises with tiktoken, whose BPE file is downloaded from the internet on first use, and sends token
    ids; carl serve answers those with a 400 that says which setting to change."""
    langchain_openai = pytest.importorskip("langchain_openai")
    embeddings = langchain_openai.OpenAIEmbeddings(base_url=server.url + "/v1", api_key="unused", model="minilm-va",
                                                   check_embedding_ctx_length=False, max_retries=0)
    got = np.array(embeddings.embed_documents(TEXTS))
    assert got.shape == carl_embed_vectors.shape and np.all(cosine(got, carl_embed_vectors) > 0.999)
    assert cosine(embeddings.embed_query(TEXTS[0]), carl_embed_vectors[0]) > 0.999
    # what the default sends: lists of token ids, through the same openai client
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model="minilm-va", input=[[40, 2834, 279, 2489]])
    assert refused.value.body["code"] == "token_ids_not_supported"
    assert "check_embedding_ctx_length=False" in refused.value.body["message"]


def test_llamaindex_openai_embedding(server, carl_embed_vectors):
    llama_openai = pytest.importorskip("llama_index.embeddings.openai")
    # LlamaIndex checks the model name against OpenAI's; the server serves its one model whatever the name
    embedding = llama_openai.OpenAIEmbedding(model="text-embedding-3-small", api_base=server.url + "/v1",
                                             api_key="unused", max_retries=0)
    got = np.array(embedding.get_text_embedding_batch(TEXTS))
    assert got.shape == carl_embed_vectors.shape and np.all(cosine(got, carl_embed_vectors) > 0.999)


def test_huggingface_hub_inference_client_as_a_tei_client(server, carl_embed_vectors, monkeypatch):
    """huggingface_hub's InferenceClient speaks TEI: POST / with {"inputs", "normalize", "truncate",
    "truncation_direction"}; its errors come back in TEI's shape."""
    from huggingface_hub import InferenceClient, constants
    from huggingface_hub.errors import HfHubHTTPError

    # HF_HUB_OFFLINE (set for every test: no weights from the hub) also blocks this client's requests to
    # 127.0.0.1; lift it for this test only, the server is on loopback
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)

    client = InferenceClient(model=server.url)
    got = np.asarray(client.feature_extraction(TEXTS[1], normalize=False))
    assert got.shape[-1] == carl_embed_vectors.shape[1]
    assert cosine(got.reshape(-1), carl_embed_vectors[1]) > 0.999
    long_text = "calm " * 200 + "furious " * 200
    left = np.asarray(client.feature_extraction(long_text, truncate=True, truncation_direction="left")).reshape(-1)
    right = np.asarray(client.feature_extraction(long_text, truncate=True, truncation_direction="right")).reshape(-1)
    assert cosine(left, right) < 0.99  # different ends of the text
    with pytest.raises(HfHubHTTPError) as refused:
        client.feature_extraction(long_text)  # TEI's default: no truncation -> 413
    assert refused.value.response.status_code == 413
    assert set(refused.value.response.json()) == {"error", "error_type"}
    info = httpx.get(server.url + "/info", timeout=30).json()
    for field in ("model_id", "model_sha", "model_dtype", "model_type", "max_concurrent_requests", "max_input_length",
                  "max_batch_tokens", "max_batch_requests", "max_client_batch_size", "auto_truncate",
                  "tokenization_workers", "version"):
        assert field in info, field


def test_a_loopback_server_answers_only_loopback_host_names(server):
    """DNS rebinding: a page on attacker.example, its name re-pointed at 127.0.0.1, must not read the API."""
    assert httpx.get(server.url + "/health", headers={"Host": f"localhost:{server.port}"}).status_code == 200
    refused = httpx.post(server.url + "/v1/embeddings", json={"input": "x"},
                         headers={"Host": f"attacker.example:{server.port}"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "host_not_allowed"


def test_api_key_over_http(tiny_server):
    assert httpx.get(tiny_server.url + "/health").status_code == 200
    refused = httpx.post(tiny_server.url + "/v1/embeddings", json={"input": "x"})
    assert refused.status_code == 401 and refused.json()["error"]["type"] == "authentication_error"
    client = openai.OpenAI(base_url=tiny_server.url + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.embeddings.create(model="m", input="x")
    good = openai.OpenAI(base_url=tiny_server.url + "/v1", api_key="k-123", max_retries=0)
    assert len(good.embeddings.create(model="m", input="x").data[0].embedding) == 32


def test_bounded_overload_answers_429_with_retry_after(tiny_server):
    """Queue of 1, 1.5 s gathering window: the first request waits in the queue, the others find it full."""
    headers = {"Authorization": "Bearer k-123"}
    start = threading.Barrier(6)

    def one(i):
        start.wait()
        return httpx.post(tiny_server.url + "/v1/embeddings", json={"input": f"text {i}"}, headers=headers, timeout=60)

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(one, range(6)))
    codes = sorted(a.status_code for a in answers)
    assert codes.count(200) >= 1 and codes.count(429) >= 1 and set(codes) <= {200, 429}, codes
    for a in answers:
        if a.status_code == 429:
            assert int(a.headers["Retry-After"]) >= 1 and a.json()["error"]["code"] == "queue_full"
    metrics = httpx.get(tiny_server.url + "/metrics", headers=headers).text
    assert 'carl_rejected_requests_total{reason="queue_full"}' in metrics


def test_graceful_shutdown_finishes_the_request_in_flight(tiny_server):
    """Runs last against this server: SIGTERM while a request waits in the batcher; it still gets its answer."""
    result = {}

    def request():
        result["answer"] = httpx.post(tiny_server.url + "/v1/embeddings", json={"input": "in flight"},
                                      headers={"Authorization": "Bearer k-123"}, timeout=60)

    worker = threading.Thread(target=request)
    worker.start()
    time.sleep(0.5)  # inside the 1.5 s gathering window
    tiny_server.process.send_signal(signal.SIGTERM)
    worker.join(60)
    assert result["answer"].status_code == 200 and len(result["answer"].json()["data"]) == 1
    # uvicorn re-raises the signal once it has shut down cleanly, so the exit status is "killed by SIGTERM"
    assert tiny_server.process.wait(30) in (0, -signal.SIGTERM)
    assert "Traceback" not in tiny_server.output()
    with pytest.raises(httpx.ConnectError):
        httpx.get(tiny_server.url + "/health", timeout=2)


def test_start_up_errors_exit_2_with_the_fix(export_tiny_model, tmp_path):
    missing = carl_cli("serve", tmp_path / "nowhere")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    no_head = carl_cli("serve", export_tiny_model("serve-no-head"), "--affect", "on")
    assert no_head.returncode == 2 and "va_head.json" in no_head.stderr and "python -m carl.va_head" in no_head.stderr
    bad_limit = carl_cli("serve", export_tiny_model("serve-bad-limit"), "--max-queue", "0")
    assert bad_limit.returncode == 2 and "--max-queue" in bad_limit.stderr
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = carl_cli("serve", export_tiny_model("serve-busy"), "--port", busy.getsockname()[1])
    assert taken.returncode == 2 and "choose another --port" in taken.stderr


# ---------------------------------------------------------------------- a real browser


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        message = f"{CHROMIUM} not found: apt-get update && apt-get install -y chromium"
        if os.environ.get("CI") or os.environ.get("CARL_REQUIRE_BROWSER"):
            pytest.fail(message)  # CI installs it (.ci/run): a missing browser is a broken set-up, not a skip
        pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api")
    # no page.wait_for_function here: it evaluates strings in the page, which the page's CSP forbids
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        # pages wait on the model: on two shared, busy cores mapping 150 texts can take longer than
        # playwright's 30 s default, which is a wait, not a speed target
        chromium.new_page = _with_long_waits(chromium.new_page)
        yield chromium
        chromium.close()


def _with_long_waits(new_page):
    def opened(*args, **kwargs):
        page = new_page(*args, **kwargs)
        page.set_default_timeout(300_000)
        return page
    return opened


def save_screenshot(page, tmp_path, name):
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    target = os.environ.get("CARL_SCREENSHOT_DIR")
    if target:
        pathlib.Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, pathlib.Path(target) / name)
    return path


@pytest.fixture(scope="module")
def explorer_server(request, tmp_path_factory):
    """The module's server, or one on CARL_EXPLORER_MODEL (a folder with va_head.json) for the docs' screenshot."""
    folder = os.environ.get("CARL_EXPLORER_MODEL")
    if not folder:
        yield request.getfixturevalue("server")
        return
    live = LiveServer(pathlib.Path(folder), "--affect", "on", log=tmp_path_factory.mktemp("explorer") / "serve.log")
    try:
        yield live.wait_ready()
    finally:
        live.stop()


def test_browser_explorer_flows(explorer_server, browser, tmp_path, data_dir):
    from playwright.sync_api import expect

    expect.set_options(timeout=300_000)
    server = explorer_server
    page = browser.new_page(viewport={"width": 1100, "height": 900}, accept_downloads=True)
    problems = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("requestfailed", lambda req: problems.append(f"failed request {req.url}"))
    page.on("request", lambda req: None if req.url.startswith((server.url, "data:", "blob:"))
            else problems.append(f"external request {req.url}"))
    page.on("console", lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None)
    response = page.goto(server.url + "/")
    csp = response.headers["content-security-policy"]  # strict: the page works with its inline code by hash only
    assert "script-src 'sha256-" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    page.wait_for_selector("#circumplex .word")
    assert page.locator("#circumplex circle.word").count() == len(EMOTION_WORDS)

    # 1. a sentence on the circumplex, by keyboard: focus, type, Enter
    sentence = "We won the championship and everyone is cheering!"
    page.focus("#sentence")
    page.fill("#sentence", "")
    page.keyboard.type(sentence)
    page.keyboard.press("Enter")
    point = page.wait_for_selector("#sentence-point")
    expected = httpx.post(server.url + "/v1/affect", json={"input": sentence, "top_k": 5}).json()["data"][0]
    assert abs(float(point.get_attribute("data-valence")) - expected["valence"]) < 1e-9
    assert abs(float(point.get_attribute("data-arousal")) - expected["arousal"]) < 1e-9
    nearest = page.locator("#nearest li").all_inner_texts()
    assert [t.split(" (")[0] for t in nearest] == [n["word"] for n in expected["nearest"]]
    # the folder's emotion head: the page lists the API's top 3 emotions with their scores
    emotions = httpx.post(server.url + "/v1/affect", json={"input": sentence, "emotions_top_k": 3}).json()["data"][0]
    if os.environ.get("CARL_EXPLORER_MODEL") is None or emotions.get("emotions"):
        expect(page.locator("#emotions li").first).to_be_visible()
        shown = page.locator("#emotions li").all_inner_texts()
        assert [t.rsplit(" ", 1)[0] for t in shown] == [e["label"] for e in emotions["emotions"]]
        assert [float(t.rsplit(" ", 1)[1]) for t in shown] == pytest.approx(
            [e["score"] for e in emotions["emotions"]], abs=1e-3)
        assert page.inner_text("#emotions-note") == ""
    else:  # a CARL_EXPLORER_MODEL without emotion_head.json: the page says how to add one
        assert "carl fit-heads" in page.inner_text("#emotions-note")
    # the point is drawn where its coordinates say: right of the neutral line when valence > 0.5
    axis_x = float(page.locator("#circumplex line.axis").first.get_attribute("x1"))
    assert (float(point.get_attribute("cx")) > axis_x) == (expected["valence"] > 0.5)

    # 2. compare: this model beside its base encoder
    page.fill("#compare-input", "I won\nI lost")
    page.click("#compare-form button")
    page.wait_for_selector("#compare-table:not([hidden]) tbody tr")
    cells = page.locator("#compare-table tbody td").all_inner_texts()
    pair = httpx.post(server.url + "/v1/compare", json={"input": ["I won", "I lost"]}).json()["pairs"][0]
    assert cells[:2] == ["I won", "I lost"] and float(cells[2]) == pytest.approx(pair["model"], abs=6e-4)
    assert float(cells[3]) == pytest.approx(pair["base"], abs=6e-4)
    assert float(cells[4]) == pytest.approx(pair["model_z"], abs=6e-3)  # standardised within each space
    assert float(cells[6]) == pytest.approx(pair["model_z"] - pair["base_z"], abs=1.2e-2)
    assert 'differ only in the emotion word ("I feel WORD."' in page.inner_text("#compare-note")

    # API errors show in the page
    page.fill("#compare-input", "only one line")
    page.click("#compare-form button")
    page.wait_for_selector("#error:not([hidden])")
    assert "at least two" in page.inner_text("#error")
    save_screenshot(page, tmp_path, "serve-explorer-error.png")
    page.fill("#compare-input", "I won\nI lost\nI won the lottery today\nI lost my job today")
    page.click("#compare-form button")
    expect(page.locator("#compare-table tbody tr")).to_have_count(6)
    assert page.is_hidden("#error")

    # 3. upload a file of texts, map, hover, click, download CSV
    with open(data_dir / "emobank" / "corpus_emobank.csv", newline="", encoding="utf-8") as fh:
        lines = list(dict.fromkeys(" ".join(r["text"].split()) for r in csv.DictReader(fh) if r["split"] == "test"))
    # texts a spreadsheet would run as formulas: the CSV must hand them over as text
    formulas = ['=HYPERLINK("http://example.com","click")', "+1 and more", "-2 below zero", "@SUM(A1:A2)"]
    lines = formulas + [t for t in lines if t][:146]
    upload = tmp_path / "texts.txt"
    upload.write_text("\n".join(lines) + "\n", encoding="utf-8")
    page.set_input_files("#map-file", str(upload))
    expect(page.locator("#map-input")).to_have_value(re.compile(r".{100,}", re.DOTALL))
    page.click("#map-form button[type=submit]")
    page.wait_for_selector("#map-plot .pt")
    assert page.locator("#map-plot .pt").count() == len(lines)
    assert page.is_hidden("#error")
    last = page.locator("#map-plot .pt").last
    index = int(last.get_attribute("data-index"))
    last.hover()
    page.wait_for_selector("#tooltip:not([hidden])")
    assert page.inner_text("#tooltip").startswith(lines[index][:40])
    last.click()
    page.wait_for_selector("#selection ol li")
    assert page.locator("#selection ol li").count() == 8 and lines[index][:40] in page.inner_text("#selection")
    page.focus("#map-plot")  # keyboard: arrows step through the texts
    page.keyboard.press("ArrowRight")
    assert lines[(index + 1) % len(lines)][:40] in page.inner_text("#selection")
    with page.expect_download() as download_info:
        page.click("#download")
    rows = list(csv.reader(open(download_info.value.path(), newline="", encoding="utf-8")))
    dimension = httpx.get(server.url + "/info").json()["dimension"]
    assert rows[0][:5] == ["text", "valence", "arousal", "x", "y"] and len(rows[0]) == 5 + dimension
    assert [r[0] for r in rows[1:5]] == ["'" + f for f in formulas]
    assert [r[0] for r in rows[5:]] == [("'" + t if t[0] in "=+-@" else t) for t in lines[4:]]
    api = httpx.post(server.url + "/v1/affect", json={"input": lines[4:9]}, timeout=60).json()["data"]
    assert [float(r[1]) for r in rows[5:10]] == pytest.approx([d["valence"] for d in api], abs=1e-4)
    shot = save_screenshot(page, tmp_path, "serve-explorer.png")
    assert shot.stat().st_size > 20_000
    assert not problems, problems

    # phone width: nothing wider than the screen
    phone = browser.new_page(viewport={"width": 390, "height": 844})
    phone.goto(server.url + "/")
    phone.wait_for_selector("#circumplex .word")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    save_screenshot(phone, tmp_path, "serve-explorer-phone.png")


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory, export_tiny_model, data_dir):
    folder = build_tiny_model(tmp_path_factory.getbasetemp() / "serve-models", export_tiny_model, data_dir)
    live = LiveServer(folder, "--api-key", "k-browser", "--base-model", "none",
                      log=tmp_path_factory.mktemp("keyed") / "serve.log")
    try:
        yield live.wait_ready()
    finally:
        live.stop()


def test_browser_empty_map_samples_and_unlocking_with_a_key(keyed_server, browser, tmp_path):
    """The states a person meets first: "Map" with nothing to map, the sample texts, the unlock page of a
    server with --api-key and the API description from the unlocked page. Screenshots of each state."""
    from playwright.sync_api import expect

    expect.set_options(timeout=300_000)
    server = keyed_server
    page = browser.new_page(viewport={"width": 1100, "height": 900}, accept_downloads=True)
    problems = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None)
    response = page.goto(server.url + "/")
    assert response.status == 401 and "frame-ancestors 'none'" in response.headers["content-security-policy"]
    page.fill("#key", "wrong")
    page.click("#unlock button")
    expect(page.locator("#msg")).to_contain_text("refused")
    page.fill("#key", "k-browser")
    page.click("#unlock button")
    expect(page.locator("#model-line")).to_contain_text("Model ")  # the explorer, loaded with the key
    page.wait_for_selector("#circumplex .word")

    # "Map" with an empty box: said in the page, no HTTP error, and a way forward in one click
    page.fill("#map-input", "")
    page.click("#map-form button[type=submit]")
    expect(page.locator("#map-status")).to_contain_text("Nothing to map yet")
    assert page.is_hidden("#error") and page.locator("#map-plot .pt").count() == 0
    save_screenshot(page, tmp_path, "serve-explorer-empty-map.png")
    page.click("#map-sample")
    page.wait_for_selector("#map-plot .pt")
    samples = page.locator("#map-input").input_value().splitlines()
    assert len(samples) >= 10 and page.locator("#map-plot .pt").count() == len(samples)
    assert page.is_hidden("#error")

    # the API description, from the unlocked page (a plain /docs link would be a JSON 401 here)
    assert page.is_hidden("#api-docs") and page.is_visible("#api-docs-keyed")
    with page.expect_download() as download_info:
        page.click("#openapi-download")
    spec = __import__("json").loads(pathlib.Path(download_info.value.path()).read_text())
    assert "/v1/embeddings" in spec["paths"]
    save_screenshot(page, tmp_path, "serve-explorer-unlocked.png")
    assert not problems, problems
