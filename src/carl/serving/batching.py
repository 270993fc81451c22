"""Dynamic micro-batching: requests that arrive together share one forward pass.

Each request becomes a *job* (its texts and token counts) in a bounded FIFO. One asyncio task
(the gatherer) waits for the first job, then lets others join for at most ``max_wait_ms`` or until
the gathered texts fill ``max_batch_tokens`` padded tokens / ``max_batch_texts`` texts, and hands
the batch to a single worker thread, so the event loop keeps answering (health, metrics, 429s)
while the model runs and the CPU runs one forward pass at a time. A job stays in the queue (and
counts towards ``max_queue``) until its forward pass starts; one more job than that is refused
at once with :class:`QueueFullError` (HTTP 429 + ``Retry-After``) rather than left to time out.

Shutdown: :meth:`MicroBatcher.close` refuses new jobs but finishes every queued one, so requests
already accepted get their answer (uvicorn waits for them before the app's shutdown runs).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from carl.serving.errors import QueueFullError, ShuttingDownError


@dataclass
class _Job:
    texts: Sequence[str]
    tokens: Sequence[int]
    future: asyncio.Future
    enqueued: float = field(default_factory=time.monotonic)


class MicroBatcher:
    def __init__(self, forward: Callable[[list[str], list[int]], np.ndarray], *, max_batch_tokens: int,
                 max_batch_texts: int, max_wait_ms: float, max_queue: int, metrics=None):
        self._forward = forward
        self.max_batch_tokens = max_batch_tokens
        self.max_batch_texts = max_batch_texts
        self.max_wait_s = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.metrics = metrics
        self._pending: collections.deque[_Job] = collections.deque()
        self._arrived: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._closing = False
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="carl-forward")
        self._seconds_per_token = 1e-4  # running estimate, only used to suggest a Retry-After

    @property
    def depth(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        self._arrived = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._gather_forever(), name="carl-batcher")

    async def close(self) -> None:
        """Refuse new jobs, finish queued ones, stop the worker."""
        self._closing = True
        if self._arrived is not None:
            self._arrived.set()
        if self._task is not None:
            await self._task
        self._pool.shutdown(wait=True)

    async def run_in_worker(self, fn, *args):
        """Run other model work (the base encoder) on the same thread, so passes never overlap."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def submit(self, texts: Sequence[str], tokens: Sequence[int]) -> np.ndarray:
        """Embeddings of ``texts`` (in order), computed in a shared forward pass."""
        if self._closing or self._task is None:
            raise ShuttingDownError()
        if len(self._pending) >= self.max_queue:
            if self.metrics:
                self.metrics.rejected.labels(reason="queue_full").inc()
            raise QueueFullError(len(self._pending), self._retry_after())
        job = _Job(texts, tokens, asyncio.get_running_loop().create_future())
        self._pending.append(job)
        self._observe_depth()
        self._arrived.set()
        return await job.future

    def _retry_after(self) -> int:
        queued_tokens = sum(sum(j.tokens) for j in self._pending)
        return max(1, math.ceil(queued_tokens * self._seconds_per_token))

    def _observe_depth(self) -> None:
        if self.metrics:
            self.metrics.queue_depth.set(len(self._pending))

    def _full(self) -> bool:
        texts, longest = 0, 0
        for job in self._pending:
            texts += len(job.texts)
            longest = max([longest, *job.tokens])
            if texts >= self.max_batch_texts or texts * longest >= self.max_batch_tokens:
                return True
        return False

    def _take(self) -> list[_Job]:
        """Jobs for one pass: FIFO while they fit the budgets; the first one always goes (a job larger
        than the budget is split into several passes by the engine)."""
        taken: list[_Job] = []
        texts, longest = 0, 0
        while self._pending:
            job = self._pending[0]
            if job.future.done():  # the client went away (cancelled): skip its work
                self._pending.popleft()
                continue
            new_texts, new_longest = texts + len(job.texts), max([longest, *job.tokens])
            if taken and (new_texts > self.max_batch_texts or new_texts * new_longest > self.max_batch_tokens):
                break
            taken.append(self._pending.popleft())
            texts, longest = new_texts, new_longest
        self._observe_depth()
        return taken

    async def _gather_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._arrived.clear()
                await self._arrived.wait()
                continue
            deadline = self._pending[0].enqueued + self.max_wait_s
            while not self._closing and not self._full():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                except asyncio.TimeoutError:
                    break
            jobs = self._take()
            if jobs:
                await self._run(loop, jobs)

    async def _run(self, loop, jobs: list[_Job]) -> None:
        texts = [t for job in jobs for t in job.texts]
        tokens = [n for job in jobs for n in job.tokens]
        started = time.monotonic()
        if self.metrics:
            for job in jobs:
                self.metrics.queue_wait.observe(started - job.enqueued)
        try:
            vectors = await loop.run_in_executor(self._pool, self._forward, texts, tokens)
        except Exception as exc:  # noqa: BLE001  (delivered to each waiting request, which answers 500)
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        seconds = time.monotonic() - started
        self._seconds_per_token = 0.8 * self._seconds_per_token + 0.2 * seconds / max(1, sum(tokens))
        if self.metrics:
            self.metrics.batch_texts.observe(len(texts))
            self.metrics.batch_tokens.observe(len(texts) * max(tokens))
            self.metrics.forward_seconds.observe(seconds)
        start = 0
        for job in jobs:
            end = start + len(job.texts)
            if not job.future.done():
                job.future.set_result(vectors[start:end])
            start = end
