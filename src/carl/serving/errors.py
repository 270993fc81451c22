"""Errors the API answers with, all in OpenAI's nested shape::

    {"error": {"message": "...", "type": "invalid_request_error", "param": "input", "code": "empty_input"}}

A client never sees a traceback: request validation errors, HTTP errors (404, 405) and
unexpected exceptions are turned into this shape too (the last as a 500 whose message says only
that the server failed; the details go to the server's log).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("carl.serving")


class APIError(Exception):
    """An error with its HTTP status, OpenAI ``type``, the request ``param`` at fault and a ``code``."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)


def error_body(message: str, type: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def bad_request(message: str, param: str | None = None, code: str = "invalid_value") -> APIError:
    return APIError(400, message, param=param, code=code)


def too_large(message: str, param: str, code: str) -> APIError:
    return APIError(413, message, param=param, code=code)


class QueueFullError(APIError):
    """The batching queue is full: 429 with ``Retry-After`` (seconds)."""

    def __init__(self, depth: int, retry_after_s: int):
        super().__init__(429, f"the server is busy ({depth} requests waiting for the model); retry after "
                              f"{retry_after_s} s", type="rate_limit_error", code="queue_full",
                         headers={"Retry-After": str(retry_after_s)})


class ShuttingDownError(APIError):
    """503: the server is stopping, or its batching worker died (then ``/health`` says so too)."""

    def __init__(self, message: str = "the server is shutting down"):
        super().__init__(503, message, type="server_error",
                         code="shutting_down" if message == "the server is shutting down" else "unavailable")


class RequestTimeoutError(APIError):
    """504: the request was not answered within ``--request-timeout``; its work not yet started is dropped."""

    def __init__(self, timeout_s: float | None):
        super().__init__(504, f"the request was not answered within {timeout_s:g} s (--request-timeout); send fewer "
                              "texts per request or retry later", type="server_error", code="request_timeout")


class ForwardPassError(APIError):
    """500: the model's forward pass failed on this request (out of memory, an ONNX Runtime error, a bug).

    The input was already checked by the routes (types, empty and over-long texts, unpaired
    surrogates), so what is left is the server's fault; the exception goes to the server's log, the
    client learns only its type. The request's other parts are dropped, every other request goes on."""

    def __init__(self, original: BaseException):
        super().__init__(500, f"the model failed on this request ({type(original).__name__}); the server's log has "
                              "the details. Retry, or send fewer or shorter texts per request", type="server_error",
                         code="forward_failed")
        self.original = original
        self.__cause__ = original


_UNION_TAGS = frozenset({"str", "int", "float", "bool", "list", "dict", "none"})


def _location(loc: tuple | list) -> str | None:
    """Pydantic's error location ('body', 'input', 2) -> 'input[2]'; None for the whole body.

    Union members' tags ('input', 'list[str]', 0) are dropped, so the param names the field."""
    parts = [p for p in loc if p not in ("body", "query", "path", "header")
             and not (isinstance(p, str) and (p in _UNION_TAGS or "[" in p))]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or None


SHOWN_ERRORS = 5


def validation_error(errors: list[dict], status: int = 400) -> APIError:
    """FastAPI's RequestValidationError -> one short message naming the first few bad fields (then "and N
    more"), param = the first. A list over its length limit is a 413 ``too_many_inputs``."""
    for err in errors:
        if err.get("type") == "too_many_inputs":
            ctx = err.get("ctx") or {}
            param = _location(err.get("loc", ()))
            return APIError(413, f"{ctx.get('count')} texts in '{param}'; at most {ctx.get('limit')} per request",
                            param=param, code="too_many_inputs")
    by_param: dict[str | None, list[str]] = {}
    for err in errors[:SHOWN_ERRORS]:
        msg = str(err.get("msg", "invalid value"))
        if err.get("type") == "json_invalid":
            msg = "the request body is not valid JSON"
        by_param.setdefault(_location(err.get("loc", ())), []).append(msg)
    # one union field fails once per member ("should be a valid string", "... a valid list"): join with "or"
    messages = [f"{param}: {' or '.join(dict.fromkeys(msgs))}" if param else " or ".join(dict.fromkeys(msgs))
                for param, msgs in by_param.items()]
    more = f" (and {len(errors) - SHOWN_ERRORS} more)" if len(errors) > SHOWN_ERRORS else ""
    return APIError(status, "; ".join(messages) + more, param=next(iter(by_param)), code="invalid_request")
