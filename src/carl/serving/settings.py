"""Settings of ``carl serve``: the model, the backend, and every limit, checked before loading anything."""

from __future__ import annotations

from dataclasses import dataclass

from carl.errors import ConfigError

AFFECT_MODES = ("auto", "on", "off")


@dataclass(frozen=True)
class ServeSettings:
    """What the server loads and how much work it accepts.

    Limits answer with an error instead of slowing everyone down: more than ``max_inputs`` texts
    in one request -> 413; more than ``max_queue`` requests waiting for a forward pass -> 429 with
    ``Retry-After``; a text longer than the model's maximum -> truncated (and counted in the
    response's usage) or 413 when the request turns truncation off.
    """

    model: str
    backend: str = "torch"
    onnx_file: str | None = None
    served_model_name: str | None = None
    api_key: str | None = None
    affect: str = "auto"
    """``auto``: V-A routes when the folder has ``va_head.json``; ``on``: required (start-up error if
    missing); ``off``: no V-A routes."""
    base_model: str | None = "auto"
    """Frozen encoder compared against in the explorer: ``auto`` (the folder's ``carl.json``
    ``base_model``), ``none``, or a folder / alias."""
    normalize: bool = True
    """L2-normalise embeddings by default (as OpenAI's are); a request can still ask otherwise on /embed."""
    max_inputs: int = 2048
    max_map_inputs: int = 5000
    max_text_chars: int = 100_000
    max_batch_tokens: int = 8192
    """Padded tokens (texts x longest text) per forward pass."""
    max_batch_texts: int = 256
    max_wait_ms: float = 5.0
    """How long the first waiting request may wait for others to join its forward pass."""
    max_queue: int = 256
    """Requests waiting for a forward pass; one more is answered 429."""
    max_queue_tokens: int | None = None
    """Tokens of requests waiting for a forward pass (a running total); a request that would pass it -> 429.
    None: room for two of the largest requests (:meth:`queue_tokens_for`)."""
    request_timeout_s: float = 300.0
    """A request not answered within this many seconds gets 504; its work not yet started is dropped."""
    threads: int | None = None
    max_body_bytes: int = 4 * 1024 * 1024
    """Bytes of one request body, counted as they arrive (chunked uploads too); more -> 413."""
    limit_concurrency: int = 512
    """Open connections plus requests in progress (uvicorn's limit); more -> 503 from uvicorn."""
    timeout_keep_alive_s: int = 5
    """An idle keep-alive connection is closed after this many seconds (uvicorn's)."""
    timeout_headers_s: float = 10.0
    """A connection must send a request's complete headers within this many seconds (slow-loris)."""
    timeout_body_s: float = 60.0
    """A request's body must arrive within this many seconds of the server starting to read it; then 408 and
    the connection is closed (a body trickled in a byte a second held a --limit-concurrency slot for ever)."""
    allowed_hosts: tuple[str, ...] | None = None
    """Host header names answered (any port); None: any. ``carl serve`` bound to a loopback address
    answers only loopback names unless told otherwise (DNS rebinding)."""

    def largest_request_tokens(self, model_max_tokens: int) -> int:
        """Tokens of the largest request the routes admit: every text at the model's maximum."""
        return max(self.max_inputs, self.max_map_inputs) * model_max_tokens

    def queue_tokens_for(self, model_max_tokens: int) -> int:
        """The token bound of the queue: ``max_queue_tokens``, or room for two of the largest requests, so
        that one maximal request waiting still lets the small ones in (a bound below one maximal
        request would answer every other request 429 while it waits)."""
        if self.max_queue_tokens is not None:
            return self.max_queue_tokens
        return 2 * self.largest_request_tokens(model_max_tokens)

    def validate(self) -> "ServeSettings":
        checks = [
            (self.backend in ("torch", "onnx"), "--backend", f"{self.backend!r}: choose torch or onnx"),
            (self.affect in AFFECT_MODES, "--affect", f"{self.affect!r}: choose auto, on or off"),
            (self.max_inputs >= 1, "--max-inputs", "must be at least 1"),
            (self.max_map_inputs >= 1, "--max-map-inputs", "must be at least 1"),
            (self.max_text_chars >= 1, "--max-text-chars", "must be at least 1"),
            (self.max_batch_tokens >= 16, "--max-batch-tokens", "must be at least 16"),
            (self.max_batch_texts >= 1, "--max-batch-texts", "must be at least 1"),
            (0 <= self.max_wait_ms <= 60_000, "--max-wait-ms", "must be between 0 and 60000"),
            (self.max_queue >= 1, "--max-queue", "must be at least 1"),
            (self.max_queue_tokens is None or self.max_queue_tokens >= 1, "--max-queue-tokens", "must be at least 1"),
            (self.request_timeout_s > 0, "--request-timeout", "must be more than 0 seconds"),
            (self.api_key is None or len(self.api_key) > 0, "--api-key", "must not be empty"),
            (self.api_key is None or all("!" <= c <= "~" for c in self.api_key), "--api-key",
             "must be printable ASCII without spaces (letters, digits, punctuation): it travels in an HTTP header"),
            (self.onnx_file is None or self.backend == "onnx", "--onnx-file", "only applies with --backend onnx"),
            (self.threads is None or self.threads >= 1, "--threads", "must be at least 1"),
            (self.max_body_bytes >= 1024, "--max-body-bytes", "must be at least 1024"),
            (self.limit_concurrency >= 1, "--limit-concurrency", "must be at least 1"),
            (self.timeout_keep_alive_s >= 1, "--timeout-keep-alive", "must be at least 1 second"),
            (self.timeout_headers_s > 0, "--timeout-headers", "must be more than 0 seconds"),
            (self.timeout_body_s > 0, "--timeout-body", "must be more than 0 seconds"),
        ]
        for ok, option, problem in checks:
            if not ok:
                raise ConfigError(f"{option} {problem}")
        return self
