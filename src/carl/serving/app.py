"""The FastAPI application of ``carl serve``: :func:`create_app`.

Routes (all but ``/health`` need ``Authorization: Bearer KEY`` when the server has an API key):

* ``POST /v1/embeddings`` (and ``/embeddings``): OpenAI's embeddings API;
* ``POST /embed``, ``GET /info``: Hugging Face text-embeddings-inference's shapes;
* ``GET /v1/models``, ``GET /health``, ``GET /metrics`` (Prometheus);
* ``POST /predict``: emotion labels with scores (TEI's classification shape), from ``emotion_head.json``;
* ``POST /v1/affect``, ``GET /v1/affect/words``: valence, arousal, nearest emotion words (and emotions);
* ``POST /v1/compare``, ``POST /v1/map``: what the explorer page (``GET /``) draws.
"""

import asyncio
import base64
import concurrent.futures
import hmac
import json
import logging
import time
from contextlib import asynccontextmanager
from typing import List, Union

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from carl import __version__
from carl.data.textio import unpaired_surrogate
from carl.serving import schemas as s
from carl.serving.affect import EMOTION_WORDS, FRAME, METHOD, SCALE, EmotionMap, reference_texts, similarity_reference, standardised
from carl.serving.batching import MicroBatcher
from carl.serving.engine import Engine, l2_normalise
from carl.serving.errors import APIError, RequestTimeoutError, bad_request, error_body, too_large, validation_error
from carl.serving.geometry import cosine_matrix, project_2d
from carl.serving.limits import BodyLimitMiddleware
from carl.serving.metrics import Metrics
from carl.serving.page import STATIC, content_security_policy, host_allowed, page_html
from carl.serving.settings import ServeSettings

log = logging.getLogger("carl.serving")
MAX_COMPARE_INPUTS = 32
OPEN_ROUTES = frozenset({"/health"})
MODEL_ROUTES = frozenset({"/v1/embeddings", "/embeddings", "/embed", "/", "/predict", "/v1/affect", "/v1/compare", "/v1/map"})
TEI_ERROR_TYPES = {400: "Validation", 401: "Unauthorized", 408: "Validation", 413: "Validation", 422: "Validation",
                   429: "Overloaded", 500: "Backend", 503: "Unhealthy", 504: "Backend"}
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LARGE_RESPONSE_ROWS = 64
"""Responses of more rows than this are JSON-encoded on a worker thread, not on the event loop."""

TEI_ERRORS = {code: {"model": s.TEIErrorResponse, "description": text} for code, text in [
    (400, "Empty input, or a text with an unpaired surrogate"), (401, "Missing or wrong API key"),
    (408, "The body did not arrive within --timeout-body"), (413, "Too many inputs, or a text too long without "
                                                                  "truncate"),
    (422, "Request body of the wrong shape or type"), (429, "Queue full: retry after Retry-After seconds"),
    (500, "Server error"), (503, "Shutting down"), (504, "Not answered within --request-timeout")]}
TEI_PREDICT_ERRORS = {**TEI_ERRORS, 404: {"model": s.TEIErrorResponse,
                                          "description": "No emotion head (emotion_head.json), or one of another "
                                                         "encoder: the message names `carl fit-heads`"}}
ERRORS = {code: {"model": s.ErrorResponse, "description": text} for code, text in [
    (400, "Invalid value (empty input, a text with an unpaired surrogate, bad dimensions, ...)"),
    (401, "Missing or wrong API key"), (408, "The body did not arrive within --timeout-body"),
    (404, "Not found, or V-A routes without a V-A head"), (413, "Too many inputs, a text too long, or a body past --max-body-bytes"),
    (422, "Request body of the wrong shape or type"), (429, "Queue full: retry after Retry-After seconds"),
    (500, "Server error (the model failed on this request: forward_failed; or a bug: internal_error)"),
    (503, "Shutting down, or the batching worker stopped"),
    (504, "Not answered within --request-timeout")]}


def is_tei(request: Request) -> bool:
    """TEI's routes: POST /embed, POST /predict, and POST / (TEI's route for clients such as huggingface_hub's InferenceClient)."""
    return request.url.path in ("/embed", "/predict") or (request.url.path == "/" and request.method == "POST")


def tei_error_body(status: int, openai_body: dict) -> dict:
    error = openai_body["error"]
    kind = "Empty" if error.get("code") in ("empty_input", "empty_text") else TEI_ERROR_TYPES.get(status, "Validation")
    return {"error": error["message"], "error_type": kind}


def sends_token_ids(body) -> bool:
    """OpenAI's API also takes token ids (a list of ints, or of lists of ints); look at the first item only."""
    value = body.get("input") if isinstance(body, dict) else None
    if not isinstance(value, list) or not value:
        return False
    first = value[0]
    return isinstance(first, int) or (isinstance(first, list) and bool(first) and isinstance(first[0], int))


def create_app(settings: ServeSettings, engine: Engine | None = None) -> FastAPI:
    """Build the app for ``settings``; ``engine`` (already loaded) skips loading, e.g. in tests."""
    settings.validate()
    engine = engine or Engine.load(settings)
    metrics = Metrics()
    bodies = s.request_models(max_inputs=settings.max_inputs, max_map_inputs=settings.max_map_inputs,
                              max_compare_inputs=MAX_COMPARE_INPUTS)
    batcher = MicroBatcher(engine.forward, max_batch_tokens=settings.max_batch_tokens,
                           max_batch_texts=settings.max_batch_texts, max_wait_ms=settings.max_wait_ms,
                           max_queue=settings.max_queue, max_queue_tokens=settings.queue_tokens_for(engine.max_tokens),
                           metrics=metrics)
    largest = settings.largest_request_tokens(engine.max_tokens)
    if batcher.max_queue_tokens < largest:
        log.warning("--max-queue-tokens %d is below the largest request the routes admit (%d tokens: --max-inputs / "
                    "--max-map-inputs texts of %d tokens): such a request is queued only when the queue is empty, "
                    "and while it waits every other request is answered 429", batcher.max_queue_tokens, largest,
                    engine.max_tokens)
    # UMAP / PCA of /v1/map: one at a time on their own thread, not in the shared thread pool
    projector = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="carl-projection")
    projecting = asyncio.Semaphore(1)
    # The emotion words' frame sentences, embedded once: they place the words on the circumplex
    # and are the reference pairs of /v1/compare's standardised similarities.
    reference = reference_texts()
    reference_vectors = engine.forward(reference, engine.measure(reference).tokens)
    emotions = EmotionMap(EMOTION_WORDS, engine.va_head.predict(reference_vectors)) if engine.va_head else None
    model_reference = similarity_reference(reference_vectors)
    base_reference = similarity_reference(engine.base_forward(reference)) if engine.base else None
    page = page_html(settings.api_key is not None)
    unlock_page = (STATIC / "unlock.html").read_text(encoding="utf-8")
    page_headers = {"Content-Security-Policy": content_security_policy(page), "X-Frame-Options": "DENY",
                    "Referrer-Policy": "no-referrer"}
    # the unlock page writes the explorer into its own document, which keeps the unlock page's policy
    unlock_headers = {**page_headers, "Content-Security-Policy": content_security_policy(unlock_page, page),
                      "WWW-Authenticate": "Bearer"}
    allowed_hosts = tuple(h.lower() for h in settings.allowed_hosts) if settings.allowed_hosts else None
    key = settings.api_key.encode() if settings.api_key else None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        batcher.start()
        try:
            yield
        finally:
            await batcher.close()  # finishes queued work; uvicorn has already let in-flight requests end
            projector.shutdown(wait=False)

    app = FastAPI(title="carl serve", version=__version__, lifespan=lifespan, redoc_url=None,
                  description="Emotion-aware text embeddings (CARL): OpenAI- and TEI-shaped embeddings, valence-"
                              "arousal affect, and the explorer page at /.")
    app.state.engine, app.state.batcher, app.state.metrics, app.state.settings = engine, batcher, metrics, settings

    # ------------------------------------------------------------------ errors

    def error_response(request: Request, status: int, body: dict, headers: dict | None = None) -> JSONResponse:
        """OpenAI's error shape, or TEI's ``{"error", "error_type"}`` on TEI's routes."""
        if is_tei(request):
            body = tei_error_body(status, body)
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError):
        return error_response(request, exc.status, exc.body(), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        err = validation_error(exc.errors(), status=422 if is_tei(request) else 400)  # 400 as OpenAI; TEI: 422
        if err.status != 413 and not is_tei(request) and sends_token_ids(exc.body):
            return error_response(request, 400, error_body(
                "'input' holds token ids; this server takes texts. LangChain's OpenAIEmbeddings sends token ids "
                "unless created with check_embedding_ctx_length=False (see docs/serving.md)", "invalid_request_error",
                "input", "token_ids_not_supported"))
        return error_response(request, err.status, err.body())

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        kind = {404: "not_found", 405: "method_not_allowed", 408: "body_timeout",
                413: "body_too_large"}.get(exc.status_code, "http_error")
        message = {404: f"no route {request.url.path}; see /docs for the API",
                   405: f"{request.method} is not allowed on {request.url.path}"}.get(exc.status_code, str(exc.detail))
        return error_response(request, exc.status_code, error_body(message, "invalid_request_error", None, kind),
                              getattr(exc, "headers", None))

    def crash_response(request: Request) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(request, 500, error_body("the server failed on this request; see its log",
                                                       "server_error", None, "internal_error"))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):  # (reached only by errors outside _guard)
        return crash_response(request)

    # ------------------------------------------------------------------ middleware: auth, size, metrics

    # inside _guard: its 413s and 408s are counted
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes, timeout_s=settings.timeout_body_s)

    @app.middleware("http")
    async def _guard(request: Request, call_next):
        started = time.perf_counter()
        request.state.deadline = time.monotonic() + settings.request_timeout_s
        response = _refuse(request)
        if response is None:
            try:
                response = await call_next(request)
            except Exception:  # noqa: BLE001
                # answered here, not by Starlette's outermost handler, so that a 500 is counted below and
                # carries the same headers as every other answer (before, 500s missed /metrics and nosniff)
                response = crash_response(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # label values from a fixed set: an unknown path or method is "other", so no client can create series
        route = request.scope.get("route")
        label = getattr(route, "path", None) or "other"
        method = request.method if request.method in KNOWN_METHODS else "other"
        metrics.requests.labels(route=label, method=method, status=str(response.status_code)).inc()
        metrics.latency.labels(route=label).observe(time.perf_counter() - started)
        return response

    def _refuse(request: Request) -> Response | None:
        if allowed_hosts is not None and not host_allowed(request.headers.get("host", ""), allowed_hosts):
            # DNS rebinding: a page on another site whose name now resolves to this machine
            return error_response(request, 400, error_body(
                f"Host '{request.headers.get('host', '')[:100]}' is not served here; start carl serve with "
                "--allowed-hosts NAME to answer it", "invalid_request_error", None, "host_not_allowed"))
        if key is not None and request.url.path not in OPEN_ROUTES:
            header = request.headers.get("authorization", "")
            scheme, _, token = header.partition(" ")
            # compare_digest: the time taken does not reveal how much of a guessed key was right
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key):
                if request.url.path == "/" and "text/html" in request.headers.get("accept", ""):
                    return HTMLResponse(unlock_page, status_code=401, headers=unlock_headers)
                message = ("missing API key: send 'Authorization: Bearer KEY'" if not header
                           else "invalid API key")
                return error_response(request, 401, error_body(message, "authentication_error", None,
                                                               "invalid_api_key"), {"WWW-Authenticate": "Bearer"})
        if request.method == "POST" and request.url.path in MODEL_ROUTES and batcher.saturated():
            # refused before the body is read, parsed or tokenised: a 429 costs next to nothing
            err = batcher.queue_full_error()
            return error_response(request, err.status, err.body(), err.headers)
        return None

    # ------------------------------------------------------------------ shared steps

    def texts_of(value, param: str, limit: int) -> list[str]:
        texts = [value] if isinstance(value, str) else list(value)
        if not texts:
            raise bad_request(f"'{param}' is empty: send a text or a non-empty list of texts", param, "empty_input")
        if len(texts) > limit:
            raise too_large(f"{len(texts)} texts in '{param}'; at most {limit} per request", param, "too_many_inputs")
        for i, text in enumerate(texts):
            where = param if isinstance(value, str) else f"{param}[{i}]"
            if not text.strip():
                raise bad_request(f"'{where}' is an empty text; every input needs some text", where, "empty_text")
            at = unpaired_surrogate(text)
            if at is not None:  # a JSON "\ud83d" escape without its pair: no UTF-8, no tokenizer takes it
                raise bad_request(f"'{where}' holds an unpaired UTF-16 surrogate (U+{ord(text[at]):04X} at character "
                                  f"{at + 1}): half of a character, such as an emoji cut in two; drop or replace it",
                                  where, "invalid_text")
            if len(text) > settings.max_text_chars:
                raise too_large(f"'{where}' has {len(text)} characters; at most {settings.max_text_chars} "
                                "(--max-text-chars)", where, "text_too_long")
        return texts

    def seconds_left(request: Request) -> float:
        left = request.state.deadline - time.monotonic()
        if left <= 0:
            raise RequestTimeoutError(settings.request_timeout_s)
        return left

    async def until_disconnected(request: Request) -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    async def model_work(request: Request, work, *, keeps_deadline: bool = False):
        """Run ``work`` (a coroutine) until it ends, the request's deadline passes (504) or the client goes
        away (the work is cancelled: its queued parts are dropped, not computed). ``keeps_deadline``: the
        work enforces the deadline itself (the batcher, which then counts its dropped parts as timed out)."""
        task = asyncio.ensure_future(work)
        gone = asyncio.ensure_future(until_disconnected(request))
        try:
            done, _ = await asyncio.wait({task, gone}, timeout=None if keeps_deadline else seconds_left(request),
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if not task.done():
                task.cancel()
        if task in done:
            return task.result()
        if gone in done:
            raise APIError(499, "the client closed the connection", code="client_closed_request")
        raise RequestTimeoutError(settings.request_timeout_s)

    async def embed(request: Request, texts: list[str], route: str, param: str, truncate: bool, keep_end: bool = False):
        measured = await run_in_threadpool(engine.measure, texts)
        if measured.over and not truncate:
            i = measured.over[0]
            raise too_large(f"'{param}[{i}]' is longer than the model's maximum of {engine.max_tokens} tokens; "
                            "shorten it or send truncate: true", f"{param}[{i}]", "input_too_long")
        if measured.over and keep_end:  # TEI's truncation_direction "left": the text's end is kept
            texts = await run_in_threadpool(engine.keep_ends, texts, measured.over)
        vectors = await model_work(request, batcher.submit(texts, measured.tokens, timeout_s=seconds_left(request)),
                                   keeps_deadline=True)
        metrics.texts.labels(route=route).inc(len(texts))
        metrics.tokens.inc(sum(measured.tokens))
        metrics.truncated.inc(len(measured.over))
        usage = {"prompt_tokens": sum(measured.tokens), "total_tokens": sum(measured.tokens),
                 "truncated_inputs": len(measured.over)}
        return vectors, usage

    def require_head():
        if engine.va_head is None or emotions is None:
            raise APIError(404, f"this server has no V-A head: {engine.name} has no va_head.json (or --affect off); "
                                "fit one with `python -m carl.va_head MODEL` and restart", param=None,
                           code="no_va_head")

    def predict_va(vectors: np.ndarray) -> np.ndarray:
        return engine.va_head.predict(vectors)

    def require_emotion_head():
        if engine.emotion_head is None:
            raise APIError(404, f"this server has no emotion head: {engine.emotion_problem}", param=None,
                           code="no_emotion_head")
        return engine.emotion_head

    def check_top_k(head, top_k, param: str) -> None:
        if top_k is not None and not 1 <= top_k <= len(head.labels):
            raise bad_request(f"'{param}' must be from 1 to {len(head.labels)} (the {head.label_set} labels); "
                              f"got {top_k}", param, "invalid_top_k")

    # ------------------------------------------------------------------ OpenAI

    async def json_response(payload, rows: int) -> Response:
        """Large answers (a 5,000-point map, 2,048 embeddings) are encoded on a worker thread."""
        if rows <= LARGE_RESPONSE_ROWS:
            return JSONResponse(payload)
        encoded = await run_in_threadpool(lambda: json.dumps(payload, ensure_ascii=False, allow_nan=False,
                                                             separators=(",", ":")).encode("utf-8"))
        return Response(encoded, media_type="application/json")

    async def embeddings(request: Request, body: bodies.embeddings):
        texts = texts_of(body.input, "input", settings.max_inputs)
        if body.dimensions is not None and not 1 <= body.dimensions <= engine.dimension:
            raise bad_request(f"'dimensions' must be between 1 and {engine.dimension}", "dimensions")
        vectors, usage = await embed(request, texts, "/v1/embeddings", "input", truncate=True)
        if body.dimensions is not None:
            vectors = vectors[:, :body.dimensions]
        if settings.normalize:
            vectors = l2_normalise(vectors)
        if body.encoding_format == "base64":
            encoded = [base64.b64encode(v.astype("<f4").tobytes()).decode("ascii") for v in vectors]
        else:
            encoded = [v.tolist() for v in vectors.astype(np.float32)]
        data = [{"object": "embedding", "index": i, "embedding": e} for i, e in enumerate(encoded)]
        return await json_response({"object": "list", "data": data, "model": engine.name, "usage": usage}, len(data))

    for path in ("/v1/embeddings", "/embeddings"):
        app.post(path, response_model=s.EmbeddingsResponse, responses=ERRORS, tags=["OpenAI"],
                 summary="Embeddings (OpenAI shape)")(embeddings)

    @app.get("/v1/models", response_model=s.ModelList, responses=ERRORS, tags=["OpenAI"])
    async def models():
        return {"object": "list", "data": [{"id": engine.name, "object": "model", "created": engine.created,
                                            "owned_by": "carl"}]}

    # ------------------------------------------------------------------ TEI

    async def tei_embed(request: Request, body: bodies.tei_embed):
        texts = texts_of(body.inputs, "inputs", settings.max_inputs)
        vectors, _ = await embed(request, texts, "/embed", "inputs", truncate=body.truncate,
                                 keep_end=body.truncation_direction.lower() == "left")
        vectors = l2_normalise(vectors) if body.normalize else vectors
        return await json_response([v.tolist() for v in vectors], len(vectors))

    for path in ("/embed", "/"):
        app.post(path, response_model=list[list[float]], responses=TEI_ERRORS, tags=["TEI"],
                 summary="Embeddings (text-embeddings-inference shape)")(tei_embed)

    @app.post("/predict", response_model=Union[List[s.EmotionScore], List[List[s.EmotionScore]]],
              responses=TEI_PREDICT_ERRORS, tags=["TEI"], summary="Emotion classification (text-embeddings-inference shape)")
    async def tei_predict(request: Request, body: bodies.tei_predict):
        head = require_emotion_head()
        texts = texts_of(body.inputs, "inputs", settings.max_inputs)
        check_top_k(head, body.top_k, "top_k")
        vectors, _ = await embed(request, texts, "/predict", "inputs", truncate=body.truncate,
                                 keep_end=body.truncation_direction.lower() == "left")
        scores = head.logits(vectors) if body.raw_scores else head.predict(vectors)
        rows = head.top(scores, body.top_k)
        return await json_response(rows[0] if isinstance(body.inputs, str) else rows, len(rows))

    @app.get("/info", response_model=s.Info, responses=ERRORS, tags=["TEI"])
    async def info():
        return {"model_id": engine.name, "model_sha": None,
                "model_dtype": "int8" if "qint8" in (settings.onnx_file or "") else "float32",
                "model_type": {"embedding": {"pooling": engine.embedder.metadata.get("pooling", "mean")}},
                "max_input_length": engine.max_tokens, "max_batch_tokens": settings.max_batch_tokens,
                "max_batch_requests": settings.max_batch_texts, "max_client_batch_size": settings.max_inputs,
                "max_concurrent_requests": settings.max_queue, "auto_truncate": False, "tokenization_workers": 1,
                "sha": None, "docker_label": None,
                "max_map_inputs": settings.max_map_inputs,
                "version": __version__, "backend": engine.backend, "dimension": engine.dimension,
                "normalize": settings.normalize, "va_head": engine.va_head is not None,
                "emotion_head": engine.emotion_head.label_set if engine.emotion_head is not None else None,
                "base_model": engine.base_name}

    # ------------------------------------------------------------------ operations

    @app.get("/health", response_model=s.Health, responses=ERRORS, tags=["operations"])
    async def health():
        if not batcher.healthy:
            return JSONResponse(error_body(f"unhealthy: the batching worker stopped ({batcher.failure}); restart "
                                           "the server", "server_error", None, "unhealthy"), status_code=503)
        return {"status": "ok"}

    @app.get("/metrics", tags=["operations"], response_class=Response,
             responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"},
                        401: ERRORS[401]})
    async def prometheus():
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        metrics.queue_depth.set(batcher.depth)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # ------------------------------------------------------------------ affect and the explorer's routes

    @app.post("/v1/affect", response_model=s.AffectResponse, responses=ERRORS, tags=["affect"])
    async def affect(request: Request, body: bodies.affect):
        require_head()
        texts = texts_of(body.input, "input", settings.max_inputs)
        head = engine.emotion_head
        if head is not None:
            check_top_k(head, body.emotions_top_k, "emotions_top_k")
        vectors, usage = await embed(request, texts, "/v1/affect", "input", truncate=True)
        va = predict_va(vectors)
        near = emotions.nearest(va, body.top_k)
        labels = head.top(head.predict(vectors), body.emotions_top_k) if head is not None else None
        data = [{"index": i, "valence": float(v), "arousal": float(a),
                 "nearest": [{"word": w, "valence": wv, "arousal": wa, "distance": d} for w, wv, wa, d in near[i]],
                 **({"emotions": labels[i]} if labels is not None else {})}
                for i, (v, a) in enumerate(va)]
        return await json_response({"object": "list", "data": data, "model": engine.name, "scale": SCALE,
                                    "usage": usage}, len(data))

    @app.get("/v1/affect/words", response_model=s.EmotionWordsResponse, responses=ERRORS, tags=["affect"])
    async def affect_words():
        require_head()
        return {"words": [{"word": w, "valence": float(c[0]), "arousal": float(c[1])}
                          for w, c in zip(emotions.words, emotions.coordinates)], "method": METHOD, "scale": SCALE}

    @app.post("/v1/compare", response_model=s.CompareResponse, responses=ERRORS, tags=["explorer"])
    async def compare(request: Request, body: bodies.compare):
        texts = texts_of(body.input, "input", MAX_COMPARE_INPUTS)
        if len(texts) < 2:
            raise bad_request("'input' needs at least two texts to compare", "input", "too_few_inputs")
        vectors, _ = await embed(request, texts, "/v1/compare", "input", truncate=True)
        ours = cosine_matrix(vectors)
        # the base encoder runs on the model's single worker thread: never beside a forward pass
        base = (cosine_matrix(await model_work(request, batcher.run_in_worker(engine.base_forward, texts)))
                if engine.base else None)
        pairs = [{"a": i, "b": j, "model": float(ours[i, j]), "base": None if base is None else float(base[i, j]),
                  "model_z": standardised(float(ours[i, j]), model_reference),
                  "base_z": None if base is None else standardised(float(base[i, j]), base_reference)}
                 for i in range(len(texts)) for j in range(i + 1, len(texts))]
        base_mean, base_std = base_reference if base is not None else (None, None)
        return {"model": engine.name, "base_model": engine.base_name if engine.base else None,
                "base_note": engine.base_note, "pairs": pairs,
                "reference": {"texts": len(reference), "frame": FRAME, "model_mean": model_reference[0],
                              "model_std": model_reference[1], "base_mean": base_mean, "base_std": base_std}}

    async def project(unit: np.ndarray, method: str):
        async with projecting:
            return await asyncio.get_running_loop().run_in_executor(projector, project_2d, unit, method)

    @app.post("/v1/map", response_model=s.MapResponse, responses=ERRORS, tags=["explorer"])
    async def map_texts(request: Request, body: bodies.map):
        texts = texts_of(body.input, "input", settings.max_map_inputs)
        vectors, usage = await embed(request, texts, "/v1/map", "input", truncate=True)
        unit = l2_normalise(vectors)
        method, points = await model_work(request, project(unit, body.method))
        va = predict_va(vectors) if engine.va_head is not None else None
        return await json_response({
            "model": engine.name, "method": method, "points": points.round(5).tolist(),
            "valence": None if va is None else va[:, 0].round(5).tolist(),
            "arousal": None if va is None else va[:, 1].round(5).tolist(), "dimension": engine.dimension,
            "embeddings": base64.b64encode(unit.astype("<f4").tobytes()).decode("ascii"), "usage": usage}, len(texts))

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def explorer():
        return HTMLResponse(page, headers=page_headers)

    return app
