"""The micro-batching queue on its own: gathering, budgets, 429 when full, draining on close."""

import asyncio
import collections
import threading
import time

import numpy as np
import pytest

from carl.serving.batching import MicroBatcher
from carl.serving.errors import ForwardPassError, QueueFullError, ShuttingDownError


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


def run_bounded(coro, seconds: float = 20.0):
    """``asyncio.run(coro)`` on a thread, given ``seconds``: a batcher that spins without awaiting holds its
    event loop for ever (no timeout inside it can fire), so only a join from outside can tell."""
    result = {}

    def target():
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001  (re-raised below, on the test's thread)
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"the event loop did not finish within {seconds} s: the batcher hangs"
    if "error" in result:
        raise result["error"]
    return result["value"]


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

    results = run(main())
    assert [type(r) for r in results] == [ForwardPassError, ForwardPassError]
    assert all(r.status == 500 and r.body()["error"]["code"] == "forward_failed" for r in results)
    assert all(isinstance(r.original, RuntimeError) and "RuntimeError" in r.message for r in results)
    assert "boom" not in results[0].message  # the exception's text goes to the log, not to the client


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
    assert isinstance(bad, ForwardPassError) and isinstance(bad.original, ValueError)
    assert good[:, 0].tolist() == [4, 9]
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


# ---------------------------------------------------------------------- a failed or ended request never stalls the loop


def test_a_failed_part_of_a_multi_part_request_answers_it_and_the_batcher_goes_on():
    """The request's second pass fails: the request is answered at once (500 forward_failed), its parts not yet
    started are dropped, and the next request is served. Before, the failed request stayed queued with its
    parts, the gatherer took nothing from it and looped without awaiting: the event loop spun for ever."""
    from carl.serving.metrics import Metrics

    calls = []
    metrics = Metrics()

    def forward(texts, tokens):
        calls.append(list(texts))
        if len(calls) == 2:
            raise RuntimeError("out of memory")
        return np.array([[len(t), len(calls)] for t in texts], dtype=np.float32)

    async def main():
        batcher = MicroBatcher(forward, max_batch_tokens=10_000, max_batch_texts=2, max_wait_ms=0, max_queue=10,
                               metrics=metrics)
        batcher.start()
        started = time.monotonic()
        with pytest.raises(ForwardPassError) as failed:
            await batcher.submit([f"t{i}" for i in range(8)], [2] * 8)  # four parts of two texts
        took = time.monotonic() - started
        depth, queued = batcher.depth, batcher.queued_tokens
        after = await asyncio.wait_for(batcher.submit(["after"], [2]), 5)
        await batcher.close()
        return failed.value, took, depth, queued, after

    error, took, depth, queued, after = run_bounded(main())
    assert error.status == 500 and error.body()["error"]["code"] == "forward_failed" and took < 5
    assert (depth, queued) == (0, 0)
    assert calls == [["t0", "t1"], ["t2", "t3"], ["after"]]  # parts 3 and 4 were never computed
    assert after[:, 0].tolist() == [5]
    assert metrics.registry.get_sample_value("carl_dropped_parts_total", {"reason": "failed"}) == 2


def test_failures_of_several_multi_part_requests_at_once_answer_each_and_spare_the_others():
    calls = []

    def forward(texts, tokens):
        calls.append(list(texts))
        if any(t.startswith("bad") for t in texts):
            raise RuntimeError("cannot")
        return np.array([[len(t), 0] for t in texts], dtype=np.float32)

    async def main():
        batcher = MicroBatcher(forward, max_batch_tokens=10_000, max_batch_texts=4, max_wait_ms=20, max_queue=10)
        batcher.start()
        jobs = [batcher.submit([f"bad{k} {i}" for i in range(6)], [2] * 6) for k in range(3)]
        jobs += [batcher.submit([f"good{k} {i}" for i in range(6)], [2] * 6) for k in range(2)]
        results = await asyncio.wait_for(asyncio.gather(*jobs, return_exceptions=True), 10)
        depth = batcher.depth
        await batcher.close()
        return results, depth

    results, depth = run_bounded(main())
    assert [type(r) for r in results[:3]] == [ForwardPassError] * 3 and depth == 0
    assert [r[:, 0].tolist() for r in results[3:]] == [[7.0] * 6, [7.0] * 6]


def test_a_request_that_ended_in_the_same_turn_leaves_the_queue_before_the_next_pass_is_built():
    """A request can end (its client gone, its future cancelled) in the same turn of the event loop in which
    the gatherer builds a pass, before the future's done-callbacks run: taking a pass drops it from the queue
    instead of skipping it (skipped, it stayed queued and the gatherer looped on it without awaiting)."""
    forward = RecordingForward()

    async def main():
        # a pass of 100 texts and a long wait: the gatherer waits for company and takes nothing by itself
        batcher = MicroBatcher(forward, max_batch_tokens=10_000, max_batch_texts=100, max_wait_ms=10_000, max_queue=10)
        batcher.start()
        waiting = asyncio.ensure_future(batcher.submit([f"t{i}" for i in range(6)], [2] * 6))
        await asyncio.sleep(0.01)
        request = batcher._pending[0]
        request.future.cancel()  # its done-callback (which forgets it) is only scheduled, not run
        taken = batcher._take()
        depth, queued = batcher.depth, batcher.queued_tokens
        waiting.cancel()
        await batcher.close()
        return taken, depth, queued

    taken, depth, queued = run_bounded(main())
    assert (taken, depth, queued) == ([], 0, 0) and forward.calls == []


def stepped_stream(small_texts: int, n_small: int = 40):
    """A big request (10 parts of 4 texts) and a new small request of ``small_texts`` texts queued during every
    pass (passes of at most 4 texts): the passes' texts and, per small request, the pass running when it came."""
    entered, go = threading.Semaphore(0), threading.Semaphore(0)
    calls: list[list[str]] = []
    stepping = threading.Event()
    stepping.set()

    def forward(texts, tokens):  # each pass waits until the test has queued the next small request
        calls.append(list(texts))
        if stepping.is_set():
            entered.release()
            assert go.acquire(timeout=10)
        return np.zeros((len(texts), 2), dtype=np.float32)

    async def main():
        loop = asyncio.get_running_loop()
        batcher = MicroBatcher(forward, max_batch_tokens=10_000, max_batch_texts=4, max_wait_ms=0, max_queue=100)
        batcher.start()
        big = asyncio.ensure_future(batcher.submit([f"big {i}" for i in range(40)], [3] * 40))
        smalls = []
        for n in range(n_small):
            assert await loop.run_in_executor(None, entered.acquire, True, 10)  # a pass is in the model
            texts = [f"s{n}{x}" for x in "abcd"[:small_texts]]
            smalls.append((len(calls) - 1, asyncio.ensure_future(batcher.submit(texts, [2] * len(texts)))))
            await asyncio.sleep(0.01)  # the small request is queued
            go.release()
        stepping.clear()
        for _ in range(100):
            go.release()
        await asyncio.wait_for(asyncio.gather(big, *(small for _, small in smalls)), 10)
        await batcher.close()
        return [arrived for arrived, _ in smalls]

    arrivals = run_bounded(main())
    big_passes = [i for i, call in enumerate(calls) if any(t.startswith("big") for t in call)]
    served = [batch_of(calls, f"s{n}a") for n in range(n_small)]
    return big_passes, list(zip(arrivals, served))


def test_a_stream_of_small_requests_does_not_starve_a_big_one():
    """A 1-text request arrives during every pass. Served least *so far* first, a big request got its first
    pass and then none while the small traffic lasted (the review's simulation: 1 of its 10 passes in 2 s);
    served least *recently* first, it gets every other pass, and each small request rides the next pass or
    the one after (the small ones that arrived meanwhile share it)."""
    big_passes, smalls = stepped_stream(small_texts=1)
    assert big_passes == list(range(0, 20, 2)), big_passes
    assert all(served - arrived <= 2 for arrived, served in smalls), smalls


def test_under_overload_a_big_request_still_gets_its_turn():
    """Small requests that each fill a pass, one per pass: more work than passes. Every waiting request gets
    its turn in rotation, so the big one progresses while the stream lasts (before: 1 of its 10 passes in
    these 40), and none waits longer than the queue is deep."""
    big_passes, smalls = stepped_stream(small_texts=4)
    assert len([p for p in big_passes if p < 40]) >= 5, big_passes
    gaps = [b - a for a, b in zip(big_passes, big_passes[1:])]
    assert max(gaps) <= 10, big_passes  # at most the 9 small requests ever waiting at once, then its turn
