"""Limits enforced below the routes: the request body's size, counted on the bytes that actually
arrive (a chunked upload has no ``Content-Length`` to trust), and its time (a body trickled in a byte
a second would otherwise hold a connection, and a ``--limit-concurrency`` slot, for ever); uvicorn's
connection limits with a deadline for a request's headers (likewise for headers).
"""

from __future__ import annotations

import asyncio
import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carl.serving.errors import error_body


def body_too_large_message(limit: int) -> str:
    return (f"the request body is larger than {limit} bytes, this server's limit (--max-body-bytes); "
            "send fewer or shorter texts per request")


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once the body passes the limit. An HTTPException, so FastAPI's body
    reader re-raises it as it is (any other exception becomes a 400) and the app's handler answers 413."""

    def __init__(self, limit: int):
        super().__init__(413, body_too_large_message(limit))


class BodyTimeout(HTTPException):
    """Raised from ``receive`` when the body is not complete within the deadline: 408, connection closed."""

    def __init__(self, timeout_s: float):
        super().__init__(408, f"the request body did not arrive within {timeout_s:g} s (--timeout-body); send it "
                              "at once, or fewer texts per request", headers={"Connection": "close"})


class BodyLimitMiddleware:
    """Refuse a body past ``limit`` bytes: at once when ``Content-Length`` says so, otherwise as soon
    as the bytes received pass it (the rest is never read, the connection is closed); and one not
    complete within ``timeout_s`` of the app asking for it (408)."""

    def __init__(self, app: ASGIApp, limit: int, timeout_s: float | None = None):
        self.app = app
        self.limit = limit
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await send_json(send, 413, error_body(body_too_large_message(self.limit), "invalid_request_error", None,
                                                  "body_too_large"), {b"connection": b"close"})
            return
        received = 0
        body_done = False
        deadline = None

        async def limited_receive() -> Message:
            nonlocal received, body_done, deadline
            if body_done or self.timeout_s is None:
                # after the body, receive() only waits for the client to go away (watched while the model
                # works): no deadline there
                message = await receive()
            else:
                loop = asyncio.get_running_loop()
                deadline = deadline if deadline is not None else loop.time() + self.timeout_s
                try:
                    message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
                except asyncio.TimeoutError:
                    raise BodyTimeout(self.timeout_s) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
                body_done = not message.get("more_body", False)
            else:
                body_done = True
            return message

        await self.app(scope, limited_receive, send)


async def send_json(send: Send, status: int, body: dict, headers: dict[bytes, bytes] | None = None) -> None:
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
           *(headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


def header_timeout_protocol(timeout_s: float):
    """uvicorn's h11 protocol, closing a connection whose request headers are not complete within
    ``timeout_s`` of the connection opening (or of the previous response on a kept-alive connection).
    uvicorn itself only times out idle keep-alive connections, and any byte received resets that."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(timeout_s, self._headers_overdue)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_overdue(self) -> None:
            self._header_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._disarm()  # the headers are in; the body and the app have their own limits

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                self._arm()

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeaderTimeoutH11Protocol
