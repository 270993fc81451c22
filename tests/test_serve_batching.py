"""The micro-batching queue on its own: gathering, budgets, 429 when full, draining on close."""

import asyncio
import collections
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


# ---------------------------------------------------------------------- nobody waits behind a big request


def batch_of(forward_calls, text):
    return next(i for i, call in enumerate(forward_calls) if text in call)


def test_a_big_request_is_split_and_a_small_one_is_served_between_its_parts():
    forward = RecordingForward()
    forward.release.clear()  # the model is busy with the first part when the small request arrives

    async def main():
        batcher = MicroBatcher(forward, max_batch_tokens=10_000, max_batch_texts=4, max_wait_ms=0, max_queue=10)
        batcher.start()
        big_texts = [f"big {i}" for i in range(40)]
        big = asyncio.ensure_future(batcher.submit(big_texts, [3] * 40))
        while not forward.entered.is_set():
            await asyncio.sleep(0.01)
        small = asyncio.ensure_future(batcher.submit(["small"], [2]))
        await asyncio.sleep(0.05)
        forward.release.set()
        rows = await asyncio.gather(big, small)
        await batcher.close()
        return big_texts, rows

    big_texts, (big_rows, small_rows) = run(main())
    assert all(len(call) <= 4 for call in forward.calls)  # batch-sized parts
    assert batch_of(forward.calls, "small") <= 1  # served in the pass right after the part already running
    assert batch_of(forward.calls, "big 39") > batch_of(forward.calls, "small")
    assert big_rows[:, 0].tolist() == [len(t) for t in big_texts] and small_rows[:, 0].tolist() == [5]


def test_a_cancelled_request_has_its_queued_parts_dropped_and_counted():
    from carl.serving.metrics import Metrics

    forward = RecordingForward()
    forward.release.clear()
    metrics = Metrics()

    async def main():
        batcher = MicroBatcher(forward, max_batch_tokens=10_000, max_batch_texts=2, max_wait_ms=0, max_queue=10,
                               metrics=metrics)
        batcher.start()
        gone = asyncio.ensure_future(batcher.submit([f"gone {i}" for i in range(20)], [3] * 20))
        while not forward.entered.is_set():
            await asyncio.sleep(0.01)
        gone.cancel()  # the client went away while its first part was in the model
        await asyncio.sleep(0.01)
        queued_tokens = batcher.queued_tokens
        forward.release.set()
        after = await batcher.submit(["after"], [2])
        await batcher.close()
        return queued_tokens, after

    queued_tokens, after = run(main())
    computed = [t for call in forward.calls for t in call if t.startswith("gone")]
    assert computed == ["gone 0", "gone 1"] and after.shape == (1, 2)  # only the part already running
    assert queued_tokens == 0
    assert metrics.registry.get_sample_value("carl_dropped_parts_total", {"reason": "cancelled"}) == 9  # never computed


def test_a_request_past_its_deadline_gets_504_and_its_parts_are_dropped():
    from carl.serving.errors import RequestTimeoutError

    forward = RecordingForward()
    forward.release.clear()

    async def main():
        batcher = MicroBatcher(forward, max_batch_tokens=10_000, max_batch_texts=1, max_wait_ms=0, max_queue=10)
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(["first"], [2]))
        while not forward.entered.is_set():
            await asyncio.sleep(0.01)
        with pytest.raises(RequestTimeoutError) as late:
            await batcher.submit(["late a", "late b"], [2, 2], timeout_s=0.05)
        forward.release.set()
        await first
        await batcher.close()
        return late.value

    error = run(main())
    assert error.status == 504 and error.body()["error"]["code"] == "request_timeout"
    assert forward.calls == [["first"]]  # the late request's texts never reached the model


def test_the_queue_is_bounded_by_tokens_with_a_running_total():
    forward = RecordingForward()
    forward.release.clear()

    async def main():
        batcher = MicroBatcher(forward, max_batch_tokens=10_000, max_batch_texts=1, max_wait_ms=0, max_queue=100,
                               max_queue_tokens=50)
        batcher.start()
        running = asyncio.ensure_future(batcher.submit(["running"], [40]))
        while not forward.entered.is_set():
            await asyncio.sleep(0.01)
        waiting = asyncio.ensure_future(batcher.submit(["a", "b"], [20, 20]))
        await asyncio.sleep(0.01)
        total = batcher.queued_tokens
        with pytest.raises(QueueFullError):
            await batcher.submit(["c"], [11])  # 40 + 11 > 50
        forward.release.set()
        await asyncio.gather(running, waiting)
        drained = batcher.queued_tokens
        await batcher.close()
        return total, drained

    assert run(main()) == (40, 0)


def test_a_failing_batch_retries_its_requests_one_by_one():
    calls = []

    def forward(texts, tokens):
        calls.append(list(texts))
        if "poison" in texts:
            raise ValueError("cannot embed this one")
        return np.array([[len(t), 0] for t in texts], dtype=np.float32)

    async def main():
        batcher = MicroBatcher(forward, max_batch_tokens=10_000, max_batch_texts=100, max_wait_ms=100, max_queue=10)
        batcher.start()
        results = await asyncio.gather(batcher.submit(["fine", "also fine"], [2, 3]), batcher.submit(["poison"], [2]),
                                       return_exceptions=True)
        await batcher.close()
        return results

    good, bad = run(main())
    assert isinstance(bad, ValueError) and good[:, 0].tolist() == [4, 9]
    assert calls[0] == ["fine", "also fine", "poison"]  # shared pass failed, then each request alone


def test_if_the_gatherer_dies_waiting_requests_fail_fast_and_it_reports_unhealthy():
    from carl.serving.errors import ShuttingDownError

    forward = RecordingForward()

    async def main():
        batcher = MicroBatcher(forward, max_batch_tokens=10_000, max_batch_texts=100, max_wait_ms=200, max_queue=10)

        def broken_take():
            raise RuntimeError("bug in the gatherer")

        batcher._take = broken_take
        batcher.start()
        assert batcher.healthy
        waiting = await asyncio.gather(batcher.submit(["a"], [1]), return_exceptions=True)
        healthy = batcher.healthy
        with pytest.raises(ShuttingDownError) as later:
            await batcher.submit(["b"], [1])
        await batcher.close()
        return waiting[0], healthy, later.value

    waiting, healthy, later = run(main())
    assert isinstance(waiting, ShuttingDownError) and waiting.status == 503 and "bug in the gatherer" in waiting.message
    assert healthy is False and later.status == 503


def test_answering_a_request_never_formats_it(monkeypatch):
    """The per-request cost of bookkeeping: ending a request must not build its repr (texts, vectors,
    the future's result): deque.remove of a missing item formats it, and did so once per request,
    costing a 1-text request ~15 ms of numpy array printing in the load benchmark."""
    from carl.serving import batching

    formatted = []
    monkeypatch.setattr(batching._Request, "__repr__", lambda self: formatted.append(self) or "<request>")
    forward = RecordingForward()

    async def main():
        batcher = MicroBatcher(forward, max_batch_tokens=10_000, max_batch_texts=4, max_wait_ms=1, max_queue=10)
        batcher.start()
        small = await batcher.submit(["one text"], [3])
        big = await batcher.submit([f"text {i}" for i in range(10)], [3] * 10)  # three parts
        await batcher.close()
        return small, big

    small, big = run(main())
    assert small.shape == (1, 2) and big.shape == (10, 2)
    assert formatted == []


def test_a_request_shows_its_size_not_its_contents():
    from carl.serving.batching import _Request

    loop = asyncio.new_event_loop()
    try:
        request = _Request(["x" * 10_000] * 2048, [256] * 2048, collections.deque([[0]]), loop.create_future(),
                           queued_tokens=524_288, unfinished=1, out=np.zeros((2048, 384), dtype=np.float32))
    finally:
        loop.close()
    shown = repr(request)
    assert "2048 texts" in shown and len(shown) < 120
