"""The micro-batching queue on its own: gathering, budgets, 429 when full, draining on close."""

import asyncio
import threading
import time

import numpy as np
import pytest

from carl.serving.batching import MicroBatcher
from carl.serving.errors import QueueFullError, ShuttingDownError


class RecordingForward:
    """A stand-in model: embeds text i as [len(text), call number]; can be held until released."""

    def __init__(self):
        self.calls: list[list[str]] = []
        self.release = threading.Event()
        self.release.set()
        self.entered = threading.Event()

    def __call__(self, texts, tokens):
        self.entered.set()
        self.release.wait(10)
        self.calls.append(list(texts))
        return np.array([[len(t), len(self.calls)] for t in texts], dtype=np.float32)


def run(coro):
    return asyncio.run(coro)


def test_concurrent_requests_share_one_forward_pass_and_get_their_own_rows():
    forward = RecordingForward()

    async def main():
        batcher = MicroBatcher(forward, max_batch_tokens=10_000, max_batch_texts=100, max_wait_ms=200, max_queue=10)
        batcher.start()
        requests = [["a"], ["bb", "ccc"], ["dddd"], ["eeeee", "ffffff", "g"]]
        results = await asyncio.gather(*(batcher.submit(t, [len(x) for x in t]) for t in requests))
        await batcher.close()
        return requests, results

    requests, results = run(main())
    assert len(forward.calls) == 1 and len(forward.calls[0]) == 7
    for texts, rows in zip(requests, results):
        assert rows[:, 0].tolist() == [len(t) for t in texts]


def test_batches_respect_the_text_and_token_budgets():
    forward = RecordingForward()

    async def main():
        batcher = MicroBatcher(forward, max_batch_tokens=40, max_batch_texts=3, max_wait_ms=100, max_queue=10)
        batcher.start()
        jobs = [batcher.submit([f"t{i}"], [10]) for i in range(7)]
        out = await asyncio.gather(*jobs)
        await batcher.close()
        return out

    out = run(main())
    sizes = [len(c) for c in forward.calls]
    assert sum(sizes) == 7 and max(sizes) <= 3  # 3 texts x 10 tokens = 30 <= 40; a 4th would be 40 but > 3 texts
    assert [row[0, 0] for row in out] == [2.0] * 7


def test_a_full_queue_refuses_at_once_with_retry_after():
    forward = RecordingForward()
    forward.release.clear()  # the model is busy

    async def main():
        batcher = MicroBatcher(forward, max_batch_tokens=10_000, max_batch_texts=1, max_wait_ms=0, max_queue=2)
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(["running"], [3]))
        while not forward.entered.is_set():  # the first job is in the model, no longer queued
            await asyncio.sleep(0.01)
        queued = [asyncio.ensure_future(batcher.submit([f"q{i}"], [3])) for i in range(2)]
        await asyncio.sleep(0.05)
        assert batcher.depth == 2
        started = time.monotonic()
        with pytest.raises(QueueFullError) as refused:
            await batcher.submit(["one too many"], [3])
        refused_after = time.monotonic() - started
        forward.release.set()
        done = await asyncio.gather(first, *queued)
        await batcher.close()
        return refused.value, refused_after, done

    error, refused_after, done = run(main())
    assert error.status == 429 and int(error.headers["Retry-After"]) >= 1
    assert error.body()["error"]["code"] == "queue_full"
    assert refused_after < 0.5 and len(done) == 3


def test_close_finishes_queued_work_then_refuses_new_jobs():
    forward = RecordingForward()

    async def main():
        batcher = MicroBatcher(forward, max_batch_tokens=10_000, max_batch_texts=100, max_wait_ms=300, max_queue=10)
        batcher.start()
        pending = asyncio.ensure_future(batcher.submit(["in flight"], [3]))
        await asyncio.sleep(0.01)
        await batcher.close()  # while the job still waits for company
        with pytest.raises(ShuttingDownError):
            await batcher.submit(["late"], [2])
        return await pending

    rows = run(main())
    assert rows.shape == (1, 2) and forward.calls == [["in flight"]]


def test_a_model_failure_reaches_every_waiting_request():
    def broken(texts, tokens):
        raise RuntimeError("boom")

    async def main():
        batcher = MicroBatcher(broken, max_batch_tokens=10_000, max_batch_texts=100, max_wait_ms=50, max_queue=10)
        batcher.start()
        results = await asyncio.gather(batcher.submit(["a"], [1]), batcher.submit(["b"], [1]), return_exceptions=True)
        await batcher.close()
        return results

    assert [type(r) for r in run(main())] == [RuntimeError, RuntimeError]
