"""Dynamic micro-batching: requests that arrive together share a forward pass, and a big request
never holds the model while small ones wait.

Each request is split into *parts* of at most one forward pass each (``max_batch_texts`` texts,
``max_batch_tokens`` padded tokens). One asyncio task (the gatherer) waits for the first request,
lets others join for at most ``max_wait_ms`` or until the waiting parts fill a pass, then builds
the pass from one part per request, the request served least recently first (counted in passes: a
request that has not been served since it arrived counts from its arrival; ties go to the request
served least so far, then to the earlier one): a 1-text request that arrives while a 2,048-text one
is being computed waits for the part in the model, not for the whole request, and a big request
still gets at least every other pass however many small ones keep arriving (a request served least
*so far* first, the former order, let a stream of small requests starve it). The pass runs on a
single worker thread, so the event loop keeps answering (health, metrics, 429s) and the CPU runs
one forward pass at a time.

Bounds, all checked with running totals (no walk over the queue per request):

* at most ``max_queue`` requests, and ``max_queue_tokens`` tokens of parts not yet started, wait;
  one more request is refused at once with :class:`QueueFullError` (HTTP 429 + ``Retry-After``);
* a request whose deadline passes gets :class:`RequestTimeoutError` (504) and its parts not yet
  started are dropped; so are those of a request whose client went away (its task cancelled);
* a pass that fails is retried request by request, so one bad input fails alone; a request whose
  part fails is answered at once with :class:`ForwardPassError` (500) and its other parts are dropped;
* every way a request ends (answered, failed, cancelled, timed out) takes it out of the queue at
  once, in the same turn of the event loop: the gatherer never finds a finished request waiting (it
  used to, for a failed multi-part request or one cancelled in the same turn, and then looped
  without ever awaiting, holding the event loop and so the whole server);
* if the gatherer itself dies, every waiting request fails at once and :attr:`healthy` turns false.

Shutdown: :meth:`MicroBatcher.close` refuses new requests but finishes every queued one.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import itertools
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from carl.serving.errors import ForwardPassError, QueueFullError, RequestTimeoutError, ShuttingDownError

log = logging.getLogger("carl.serving")
_arrivals = itertools.count()


@dataclass(eq=False, repr=False)  # a repr would print texts and vectors: a log line must never cost that
class _Request:
    texts: Sequence[str]
    tokens: Sequence[int]
    parts: collections.deque  # lists of text indices, not yet started
    future: asyncio.Future
    queued_tokens: int
    unfinished: int  # parts started or not, without a result yet
    out: np.ndarray | None = None
    served: int = 0
    last_pass: int = 0  # the pass that last served it (on arrival: the passes so far)
    drop_reason: str = "cancelled"
    arrival: int = field(default_factory=lambda: next(_arrivals))
    enqueued: float = field(default_factory=time.monotonic)
    waiting: bool = True  # in the batcher's queue (parts not yet started)

    def __repr__(self) -> str:
        return (f"<request #{self.arrival}: {len(self.texts)} texts, {len(self.parts)} parts waiting, "
                f"{self.unfinished} unfinished>")


def split_into_parts(tokens: Sequence[int], max_texts: int, max_tokens: int) -> list[list[int]]:
    """Text indices in parts of at most ``max_texts`` texts and ``max_tokens`` padded tokens (texts x
    the longest), longest texts together so that each pass pads little; a part keeps request order."""
    order = sorted(range(len(tokens)), key=lambda i: -tokens[i])
    parts: list[list[int]] = []
    current: list[int] = []
    for i in order:
        longest = tokens[current[0]] if current else tokens[i]
        if current and ((len(current) + 1) * longest > max_tokens or len(current) >= max_texts):
            parts.append(sorted(current))
            current = []
        current.append(i)
    if current:
        parts.append(sorted(current))
    return parts


class MicroBatcher:
    def __init__(self, forward: Callable[[list[str], list[int]], np.ndarray], *, max_batch_tokens: int,
                 max_batch_texts: int, max_wait_ms: float, max_queue: int, max_queue_tokens: int | None = None,
                 metrics=None):
        self._forward = forward
        self.max_batch_tokens = max_batch_tokens
        self.max_batch_texts = max_batch_texts
        self.max_wait_s = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.max_queue_tokens = max_queue_tokens
        self.metrics = metrics
        self._pending: collections.deque[_Request] = collections.deque()
        self.queued_tokens = 0
        self._arrived: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._closing = False
        self._failure: BaseException | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="carl-forward")
        self._passes = 0
        self._seconds_per_token = 1e-4  # running estimate, only used to suggest a Retry-After

    @property
    def depth(self) -> int:
        return len(self._pending)

    @property
    def healthy(self) -> bool:
        return self._task is not None and self._failure is None and (not self._task.done() or self._closing)

    @property
    def failure(self) -> str | None:
        return None if self._failure is None else f"{type(self._failure).__name__}: {self._failure}"

    def saturated(self) -> bool:
        """True when the next request would be refused whatever its size: checked before its body is read."""
        return len(self._pending) >= self.max_queue or (
            self.max_queue_tokens is not None and self.queued_tokens >= self.max_queue_tokens)

    def queue_full_error(self) -> QueueFullError:
        if self.metrics:
            self.metrics.rejected.labels(reason="queue_full").inc()
        return QueueFullError(len(self._pending), self._retry_after())

    def start(self) -> None:
        self._arrived = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._gather_forever(), name="carl-batcher")
        self._task.add_done_callback(self._gatherer_ended)

    async def close(self) -> None:
        """Refuse new requests, finish queued ones, stop the worker."""
        self._closing = True
        if self._arrived is not None:
            self._arrived.set()
        if self._task is not None:
            try:
                await self._task
            except Exception:  # noqa: BLE001  (already reported by _gatherer_ended)
                pass
        self._pool.shutdown(wait=True)

    async def run_in_worker(self, fn, *args):
        """Run other model work (the base encoder) on the same thread, so passes never overlap."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def submit(self, texts: Sequence[str], tokens: Sequence[int], *, timeout_s: float | None = None) -> np.ndarray:
        """Embeddings of ``texts`` (in order), computed in shared forward passes; at most ``timeout_s``."""
        if self._failure is not None:
            raise ShuttingDownError(f"the batching worker stopped ({self.failure}); restart the server")
        if self._closing or self._task is None:
            raise ShuttingDownError()
        total = int(sum(tokens))
        over_tokens = (self.max_queue_tokens is not None and self._pending
                       and self.queued_tokens + total > self.max_queue_tokens)
        if len(self._pending) >= self.max_queue or over_tokens:
            raise self.queue_full_error()
        parts = split_into_parts(tokens, self.max_batch_texts, self.max_batch_tokens)
        request = _Request(texts, tokens, collections.deque(parts), asyncio.get_running_loop().create_future(),
                           queued_tokens=total, unfinished=len(parts), last_pass=self._passes)
        request.future.add_done_callback(lambda _: self._forget(request))
        self._pending.append(request)
        self.queued_tokens += total
        self._observe_depth()
        self._arrived.set()
        try:
            return await asyncio.wait_for(asyncio.shield(request.future), timeout_s)
        except asyncio.TimeoutError:
            request.drop_reason = "timeout"
            request.future.cancel()
            self._forget(request)
            raise RequestTimeoutError(timeout_s) from None
        except asyncio.CancelledError:
            request.future.cancel()  # the client went away: its parts not yet started are dropped
            self._forget(request)
            raise

    def _forget(self, request: _Request) -> None:
        """A request is answered, failed or cancelled: its parts not yet started leave the queue.

        Called directly wherever a request ends, not only as its future's done-callback: a callback
        runs in a later turn of the event loop, and until then the gatherer would find the finished
        request still queued. Idempotent (the callback calls it again)."""
        if request.parts:
            if self.metrics and (request.future.cancelled() or request.future.exception() is not None):
                self.metrics.dropped.labels(reason=request.drop_reason).inc(len(request.parts))
            request.parts.clear()
        self.queued_tokens -= request.queued_tokens
        request.queued_tokens = 0
        if request.waiting:  # (a failed deque.remove would format the request: checked, not caught)
            self._pending.remove(request)
            request.waiting = False
        self._observe_depth()

    def _retry_after(self) -> int:
        return max(1, math.ceil(self.queued_tokens * self._seconds_per_token))

    def _observe_depth(self) -> None:
        if self.metrics:
            self.metrics.queue_depth.set(len(self._pending))
            self.metrics.queue_tokens.set(self.queued_tokens)

    def _part_size(self, request: _Request, part: list[int]) -> tuple[int, int]:
        return len(part), max(request.tokens[i] for i in part)

    def _full(self) -> bool:
        texts, longest = 0, 0
        for request in self._pending:
            n, most = self._part_size(request, request.parts[0])
            texts, longest = texts + n, max(longest, most)
            if texts >= self.max_batch_texts or texts * longest >= self.max_batch_tokens:
                return True
        return False

    def _take(self) -> list[tuple[_Request, list[int]]]:
        """Parts for one pass: one per request, the request served least recently first (in passes;
        then the one served least so far, then by arrival), while they fit the budgets; the first
        always goes, so a pass is never empty while a request waits."""
        taken: list[tuple[_Request, list[int]]] = []
        texts, longest = 0, 0
        for request in [r for r in self._pending if r.future.done()]:
            self._forget(request)  # (cannot happen since every end calls _forget; kept as a guard)
        self._passes += 1
        for request in sorted(self._pending, key=lambda r: (r.last_pass, r.served, r.arrival)):
            n, most = self._part_size(request, request.parts[0])
            if taken and (texts + n > self.max_batch_texts or (texts + n) * max(longest, most) > self.max_batch_tokens):
                continue
            part = request.parts.popleft()
            part_tokens = sum(request.tokens[i] for i in part)
            request.queued_tokens -= part_tokens
            self.queued_tokens -= part_tokens
            request.served += 1
            request.last_pass = self._passes
            if not request.parts:
                self._pending.remove(request)
                request.waiting = False
            taken.append((request, part))
            texts, longest = texts + n, max(longest, most)
        self._observe_depth()
        return taken

    def _gatherer_ended(self, task: asyncio.Task) -> None:
        if task.cancelled() or task.exception() is None:
            return
        self._failure = task.exception()
        log.error("the batching task stopped: %s; every request now fails with 503", self.failure,
                  exc_info=self._failure)
        for request in list(self._pending):
            if not request.future.done():
                request.drop_reason = "server_error"
                request.future.set_exception(
                    ShuttingDownError(f"the batching worker stopped ({self.failure}); restart the server"))
            self._forget(request)

    async def _gather_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._arrived.clear()
                await self._arrived.wait()
                continue
            deadline = min(r.enqueued for r in self._pending) + self.max_wait_s
            while not self._closing and not self._full():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                except asyncio.TimeoutError:
                    break
            parts = self._take()
            if parts:
                await self._run(loop, parts)
            else:  # never loop without awaiting: the event loop (health, SIGTERM, every request) would stop
                await asyncio.sleep(0)

    async def _pass(self, loop, parts: list[tuple[_Request, list[int]]]) -> np.ndarray:
        texts = [request.texts[i] for request, part in parts for i in part]
        tokens = [request.tokens[i] for request, part in parts for i in part]
        return await loop.run_in_executor(self._pool, self._forward, texts, tokens)

    async def _run(self, loop, parts: list[tuple[_Request, list[int]]]) -> None:
        started = time.monotonic()
        if self.metrics:
            for request, _ in parts:
                if request.served == 1:
                    self.metrics.queue_wait.observe(started - request.enqueued)
        try:
            vectors = await self._pass(loop, parts)
        except Exception as exc:  # noqa: BLE001
            if len({id(r) for r, _ in parts}) == 1:
                self._fail(parts[0][0], exc)
                return
            # one bad input must not fail everyone in its pass: each request again, alone
            log.warning("a shared forward pass failed (%s); retrying its %d requests one by one", exc, len(parts))
            for one in parts:
                try:
                    self._deliver([one], await self._pass(loop, [one]))
                except Exception as alone:  # noqa: BLE001
                    self._fail(one[0], alone)
            return
        seconds = time.monotonic() - started
        n_tokens = sum(request.tokens[i] for request, part in parts for i in part)
        self._seconds_per_token = 0.8 * self._seconds_per_token + 0.2 * seconds / max(1, n_tokens)
        if self.metrics:
            n_texts = sum(len(part) for _, part in parts)
            self.metrics.batch_texts.observe(n_texts)
            self.metrics.batch_tokens.observe(n_texts * max(request.tokens[i] for request, part in parts for i in part))
            self.metrics.forward_seconds.observe(seconds)
        self._deliver(parts, vectors)

    def _fail(self, request: _Request, exc: BaseException) -> None:
        """The request's part failed: it is answered at once (its other parts are dropped, not computed)."""
        if not request.future.done():
            log.error("a forward pass failed for %r: %s: %s", request, type(exc).__name__, exc, exc_info=exc)
            request.drop_reason = "failed"
            request.future.set_exception(exc if isinstance(exc, ForwardPassError) else ForwardPassError(exc))
        self._forget(request)

    def _deliver(self, parts: list[tuple[_Request, list[int]]], vectors: np.ndarray) -> None:
        row = 0
        for request, part in parts:
            rows = vectors[row:row + len(part)]
            row += len(part)
            if request.future.done():
                continue
            if request.out is None:
                request.out = np.empty((len(request.texts), vectors.shape[1]), dtype=vectors.dtype)
            request.out[part] = rows
            request.unfinished -= 1
            if request.unfinished == 0:
                request.future.set_result(request.out)
                self._forget(request)
