"""Bounded load test of `carl serve` on loopback (a benchmark, not a timed test).

1. Baseline, in this process, before any server runs: ``SentenceTransformer(MODEL).encode(texts,
   batch_size=32)`` on the same texts (offline batched throughput, the ceiling a server can approach),
   and the same texts one ``encode`` call each (what a server without batching would do).
2. For each phase, starts ``carl serve MODEL`` on a free 127.0.0.1 port, sends ``--requests`` POST
   /v1/embeddings requests of ``--texts-per-request`` texts each with ``--concurrency`` requests in
   flight (httpx, one async client), and records each request's latency and status: texts/s (answered
   texts / wall time), p50/p99 latency, share of 429s, and the server's own batch-size histogram.
   Phase ``normal``: default queue, at each of ``--concurrencies`` (p50/p99 at 1, 8, 32 in flight);
   phase ``overload``: ``--max-queue 4`` at 4x the largest concurrency, to show refusals (429 +
   Retry-After) instead of unbounded waiting.
3. The abuse table (issue 30), on one more server with its default limits:
   - the server's resident memory (psutil) before and after each hostile request class: a 32 MiB
     chunked body without Content-Length, bodies of ``--max-body-bytes`` holding a long list of
     numbers / empty objects / empty lists, wrong-typed items within the count limit, a
     100,000-character text, 10,000 nested lists;
   - a 1-text request's latency (and ``/health``'s) while a maximal request (``--max-inputs`` texts
     of the model's maximum length) is in flight, beside the same request's latency on an idle server.

Everything is bounded (request count, timeouts) and stays on 127.0.0.1. Writes
``benchmarks/results/serve_load_cpu.json`` and ``.md`` with command, machine, versions and date.

    python benchmarks/serve_load.py                       # ~10 min on 2 cores
    python benchmarks/serve_load.py --quick               # smoke (not a result)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _bench  # noqa: E402

DEFAULT_MODEL_DIR = pathlib.Path("/tmp/carl-bench/minilm-serve")


def prepare_model(folder: pathlib.Path | None) -> pathlib.Path:
    if folder is not None:
        return folder
    folder = DEFAULT_MODEL_DIR
    if not (folder / "modules.json").is_file():
        from transformers import AutoModel, AutoTokenizer

        from carl.inference.export import export_sentence_transformer
        from carl.inference.encoders import resolve_model_path

        source = resolve_model_path("minilm")
        export_sentence_transformer(AutoModel.from_pretrained(source), AutoTokenizer.from_pretrained(source), folder,
                                    pooling="mean", max_seq_length=256, metadata={"base_model": "minilm"})
    return folder


def baseline(folder: pathlib.Path, texts: list[str]) -> dict:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu")
    model.encode(texts[:64], batch_size=32)  # warm-up
    start = time.perf_counter()
    model.encode(texts, batch_size=32)
    batched = len(texts) / (time.perf_counter() - start)
    subset = texts[: min(len(texts), 300)]
    start = time.perf_counter()
    for t in subset:
        model.encode([t])
    single = len(subset) / (time.perf_counter() - start)
    return {"st_encode_batch32_texts_per_s": round(batched, 2), "st_encode_one_per_call_texts_per_s": round(single, 2),
            "one_per_call_texts": len(subset)}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(folder: pathlib.Path, extra: list[str], log: pathlib.Path,
                 source: pathlib.Path | None = None) -> tuple[subprocess.Popen, str]:
    """``carl serve`` on a free loopback port; ``source``: another checkout's src/ (the server before a change)."""
    import httpx

    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    if source is not None:
        env["PYTHONPATH"] = str(source)
    proc = subprocess.Popen([sys.executable, "-m", "carl.cli", "serve", str(folder), "--port", str(port),
                             "--log-level", "warning", "--affect", "off", "--base-model", "none", *extra],
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"carl serve exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("carl serve did not start in 180 s")


async def load(url: str, texts: list[str], per_request: int, requests: int, concurrency: int) -> dict:
    import httpx

    latencies, statuses = [], []
    next_request = 0

    async def worker(client):
        nonlocal next_request
        while next_request < requests:
            i = next_request
            next_request += 1
            batch = [texts[(i * per_request + k) % len(texts)] for k in range(per_request)]
            start = time.perf_counter()
            try:
                r = await client.post(url + "/v1/embeddings", json={"input": batch})
                statuses.append(r.status_code)
            except httpx.HTTPError:
                statuses.append(-1)
            latencies.append(time.perf_counter() - start)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        await client.post(url + "/v1/embeddings", json={"input": texts[:8]})  # warm-up, untimed
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - start
    ok = [lat for lat, s in zip(latencies, statuses) if s == 200]
    return {"requests": requests, "concurrency": concurrency, "texts_per_request": per_request,
            "wall_s": round(wall, 3), "answered_texts_per_s": round(len(ok) * per_request / wall, 2),
            "p50_latency_ms": round(1000 * statistics.median(ok), 1) if ok else None,
            "p99_latency_ms": round(1000 * float(np.percentile(ok, 99)), 1) if ok else None,
            "share_429": round(statuses.count(429) / len(statuses), 4),
            "status_counts": {str(s): statuses.count(s) for s in sorted(set(statuses))}}


def batch_histogram(url: str) -> dict:
    import httpx

    text = httpx.get(url + "/metrics", timeout=30).text
    out = {}
    for line in text.splitlines():
        if line.startswith("carl_batch_texts_count"):
            out["forward_passes"] = int(float(line.split()[-1]))
        elif line.startswith("carl_batch_texts_sum"):
            out["texts_in_passes"] = int(float(line.split()[-1]))
    if out.get("forward_passes"):
        out["mean_texts_per_pass"] = round(out["texts_in_passes"] / out["forward_passes"], 2)
    return out


# ---------------------------------------------------------------------- abuse


def rss_mib(proc: subprocess.Popen) -> float:
    import psutil

    return psutil.Process(proc.pid).memory_info().rss / 2**20


def chunked_post(url: str, path: str, chunks) -> int:
    """POST with Transfer-Encoding: chunked and no Content-Length; the status (or -1 if none came back)."""
    import socket

    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=120) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode())
        try:
            for chunk in chunks:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass
        try:
            head = sock.recv(4096)
        except OSError:
            return -1
    return int(head.split(b" ")[1]) if head.startswith(b"HTTP/") else -1


def hostile_classes(max_body: int, max_inputs: int) -> list[tuple[str, int, callable]]:
    """(name, bytes sent, send(url) -> status) for each hostile request class."""
    import httpx

    def json_post(body: bytes):
        return lambda url: httpx.post(url + "/v1/embeddings", content=body, timeout=300,
                                      headers={"content-type": "application/json"}).status_code

    def filled(item: bytes) -> bytes:
        return b'{"input": [' + b",".join([item] * ((max_body - 100) // (len(item) + 1))) + b"]}"

    chunk = b"a" * 65536
    chunked_bytes = 32 * 2**20
    classes = [("chunked body, 32 MiB, no Content-Length", chunked_bytes,
                lambda url: chunked_post(url, "/v1/embeddings", itertools.chain(
                    [b'{"input": ["'], itertools.repeat(chunk, chunked_bytes // len(chunk)))))]
    for name, item in [("list of numbers", b"1"), ("list of empty objects", b"{}"), ("list of empty lists", b"[]")]:
        body = filled(item)
        classes.append((f"{name}, --max-body-bytes", len(body), json_post(body)))
    wrong = json.dumps({"input": [{"t": i} for i in range(max_inputs)]}).encode()
    classes.append((f"{max_inputs} wrong-typed items", len(wrong), json_post(wrong)))
    long_text = json.dumps({"input": "joy " * 25_000}).encode()
    classes.append(("one 100,000-character text", len(long_text), json_post(long_text)))
    nested = b'{"input": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    classes.append(("10,000 nested lists", len(nested), json_post(nested)))
    return classes


def abuse_memory(proc: subprocess.Popen, url: str, max_body: int, max_inputs: int) -> list[dict]:
    import httpx

    httpx.post(url + "/v1/embeddings", json={"input": ["warm", "up"]}, timeout=120)
    rows = []
    for name, sent, send in hostile_classes(max_body, max_inputs):
        before = rss_mib(proc)
        status = send(url)
        after = rss_mib(proc)
        rows.append({"request": name, "bytes": sent, "status": status, "rss_before_mib": round(before, 1),
                     "rss_after_mib": round(after, 1), "growth_mib": round(after - before, 1),
                     "growth_per_body_byte": round((after - before) * 2**20 / sent, 2)})
    return rows


async def queued_tokens(client, url: str) -> float | None:
    """The server's carl_queue_tokens gauge (tokens of parts waiting for the model); None on a server
    without it (the one before issue 30)."""
    for line in (await client.get(url + "/metrics")).text.splitlines():
        if line.startswith("carl_queue_tokens "):
            return float(line.split()[1])
    return None


async def behind_a_big_one(url: str, texts: list[str], max_inputs: int, small_requests: int) -> dict:
    """1-text latency (and /health's) while a maximal /v1/embeddings is in flight, beside idle latency."""
    import httpx

    long_text = " ".join(texts)[:1200]  # past the model's 256 tokens: every text full-length; 2,048 fit in 4 MiB
    async with httpx.AsyncClient(timeout=1800) as client:
        idle = []
        for i in range(small_requests):
            start = time.perf_counter()
            await client.post(url + "/v1/embeddings", json={"input": [texts[i % len(texts)]]})
            idle.append(time.perf_counter() - start)
        big_started = time.perf_counter()
        big = asyncio.ensure_future(client.post(url + "/v1/embeddings", json={"input": [long_text] * max_inputs}))
        # Small requests start once the maximal one is queued (it takes a moment to parse and count): sent
        # earlier, they would make it the second request in the queue, and one past --max-queue-tokens
        # is admitted only into an empty queue (429 otherwise).
        while not big.done():
            queued = await queued_tokens(client, url)
            if queued is None:  # no gauge: give it the time it takes here (about a second)
                await asyncio.sleep(3.0)
                break
            if queued > 0:
                break
            await asyncio.sleep(0.05)
        behind, health, statuses = [], [], {}
        while not big.done() and len(behind) < small_requests:
            start = time.perf_counter()
            await client.get(url + "/health")
            health.append(time.perf_counter() - start)
            start = time.perf_counter()
            small = await client.post(url + "/v1/embeddings", json={"input": [texts[len(behind) % len(texts)]]})
            behind.append(time.perf_counter() - start)
            statuses[small.status_code] = statuses.get(small.status_code, 0) + 1
        answer = await big
        big_seconds = time.perf_counter() - big_started

    def ms(values, q):
        return round(1000 * float(np.percentile(values, q)), 1) if values else None

    return {"maximal_request_texts": max_inputs, "maximal_request_status": answer.status_code,
            "maximal_request_s": round(big_seconds, 2), "idle_p50_ms": ms(idle, 50), "idle_max_ms": ms(idle, 100),
            "behind_requests": len(behind), "behind_statuses": statuses, "behind_p50_ms": ms(behind, 50),
            "behind_max_ms": ms(behind, 100),
            "health_p50_ms": ms(health, 50), "health_max_ms": ms(health, 100)}


def short_commit(checkout: pathlib.Path) -> str:
    return subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip() or "unknown"


def latency_rows(after: dict, before: dict | None, small_requests: int) -> list[list]:
    """The small-behind-maximal table: this server, and the server before the change when it was run."""
    servers = [("this commit", after)]
    if before:
        servers.append((f"before ({before['commit']}); maximal request {before['maximal_request_s']} s, "
                        f"status {before['maximal_request_status']}", before))
    rows = []
    for label, r in servers:
        answered = ", ".join(f"{n} x {status}" for status, n in sorted(r["behind_statuses"].items()))
        rows += [[label, "1-text request, idle server", small_requests, r["idle_p50_ms"], r["idle_max_ms"]],
                 [label, f"1-text request, maximal request in flight (answered: {answered})", r["behind_requests"],
                  r["behind_p50_ms"], r["behind_max_ms"]],
                 [label, "GET /health, maximal request in flight", r["behind_requests"], r["health_p50_ms"],
                  r["health_max_ms"]]]
    return rows


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=pathlib.Path, default=None, help="model folder (default: exported MiniLM)")
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--concurrencies", default="1,8,32", help="normal phase: requests in flight, one run each")
    parser.add_argument("--texts-per-request", type=int, default=1)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="smoke test; its numbers are not results")
    parser.add_argument("--out", type=pathlib.Path, default=_bench.RESULTS / "serve_load_cpu")
    parser.add_argument("--max-inputs", type=int, default=2048, help="texts of the maximal request (abuse phase)")
    parser.add_argument("--max-body-bytes", type=int, default=4 * 2**20)
    parser.add_argument("--small-requests", type=int, default=20, help="1-text requests behind the maximal one")
    parser.add_argument("--before", type=pathlib.Path, default=None, metavar="CHECKOUT",
                        help="a checkout of the server before issue 30 (git worktree add /tmp/carl-before f28a310): "
                             "the small-behind-maximal phase is run on its server too, for the before/after table")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.concurrencies, args.max_inputs, args.small_requests = 60, "1,8", 64, 5
        args.out = args.out.with_name(args.out.name + "_quick")
    concurrencies = [int(c) for c in args.concurrencies.split(",")]

    import torch

    env = _bench.environment(torch.device("cpu"))
    folder = prepare_model(args.model)
    texts, _, source = _bench.read_texts(None, limit=args.requests * args.texts_per_request)
    base = baseline(folder, texts)
    log_dir = pathlib.Path("/tmp/carl-bench")
    log_dir.mkdir(parents=True, exist_ok=True)
    phases = {}
    plan = [(f"normal c={c}", ["--max-wait-ms", str(args.max_wait_ms)], c, None) for c in concurrencies]
    plan.append(("overload", ["--max-wait-ms", str(args.max_wait_ms), "--max-queue", "4"], 4 * max(concurrencies),
                 None))
    if args.before is not None:  # the same load on the server before issue 30: did its changes cost throughput?
        plan.append((f"normal c={max(concurrencies)}, before {short_commit(args.before)}",
                     ["--max-wait-ms", str(args.max_wait_ms)], max(concurrencies), args.before / "src"))
    for name, extra, concurrency, source in plan:
        proc, url = start_server(folder, extra, log_dir / f"serve-load-{name}.log", source=source)
        try:
            result = asyncio.run(load(url, texts, args.texts_per_request, args.requests, concurrency))
            result["server_batches"] = batch_histogram(url)
            result["server_args"] = extra
        finally:
            stop(proc)
        result["vs_st_encode_batch32"] = round(result["answered_texts_per_s"] / base["st_encode_batch32_texts_per_s"], 3)
        phases[name] = result
    abuse_args = ["--max-inputs", str(args.max_inputs), "--max-body-bytes", str(args.max_body_bytes)]
    proc, url = start_server(folder, abuse_args, log_dir / "serve-load-abuse.log")
    try:
        memory = abuse_memory(proc, url, args.max_body_bytes, args.max_inputs)
        latency = asyncio.run(behind_a_big_one(url, texts, args.max_inputs, args.small_requests))
    finally:
        stop(proc)
    before = None
    if args.before is not None:
        # That server has no --max-body-bytes (its body limit was 64 MiB): the maximal request fits.
        commit = short_commit(args.before)
        proc, url = start_server(folder, ["--max-inputs", str(args.max_inputs)], log_dir / "serve-load-before.log",
                                 source=args.before / "src")
        try:
            before = {"commit": commit, **asyncio.run(behind_a_big_one(url, texts, args.max_inputs,
                                                                       args.small_requests))}
        finally:
            stop(proc)
    env = _bench.finish_environment(env)
    model_name = folder.name if args.model is not None else "all-MiniLM-L6-v2 exported by carl (256 tokens)"
    payload = {"environment": env, "model": model_name, "texts_source": source, "baseline": base, "phases": phases,
               "abuse": {"server_args": abuse_args, "memory": memory, "small_behind_maximal": latency,
                         "small_behind_maximal_before": before}}
    rows = [[name, r["concurrency"], r["server_args"][-1] if "--max-queue" in r["server_args"] else "256 (default)",
             r["requests"], r["answered_texts_per_s"], f"{r['vs_st_encode_batch32']:.2f}", r["p50_latency_ms"],
             r["p99_latency_ms"], f"{100 * r['share_429']:.1f} %", r["server_batches"].get("mean_texts_per_pass")]
            for name, r in phases.items()]
    md = (f"# carl serve under load ({'QUICK smoke run, not a result' if args.quick else 'CPU'})\n\n"
          + _bench.environment_markdown(env)
          + f"- model {model_name} (torch backend), EmoBank texts, {args.texts_per_request} text(s) per POST "
            f"/v1/embeddings, server `--max-wait-ms {args.max_wait_ms}`; client (httpx) on the same 2 cores\n"
          + f"- baseline in-process before the server starts: `SentenceTransformer.encode(texts, batch_size=32)` "
            f"{base['st_encode_batch32_texts_per_s']} texts/s; one text per `encode` call "
            f"{base['st_encode_one_per_call_texts_per_s']} texts/s\n\n"
          + _bench.table(["phase", "concurrency", "max queue", "requests", "answered texts/s",
                          "vs ST.encode batch 32", "p50 ms", "p99 ms", "429s", "mean texts per forward pass"], rows)
          + "\n\n## Abuse: resident memory of the server around one hostile request\n\n"
          + _bench.table(["request", "bytes sent", "status", "RSS before MiB", "RSS after MiB", "growth MiB",
                          "growth per body byte"],
                         [[m["request"], m["bytes"], m["status"], m["rss_before_mib"], m["rss_after_mib"],
                           m["growth_mib"], m["growth_per_body_byte"]] for m in memory])
          + f"\n\n## Abuse: a 1-text request behind a maximal one ({latency['maximal_request_texts']} full-length "
            f"texts, {latency['maximal_request_s']} s, status {latency['maximal_request_status']})\n\n"
          + _bench.table(["server", "", "requests", "p50 ms", "max ms"], latency_rows(latency, before,
                                                                                       args.small_requests)))
    json_path, md_path = _bench.write_report(args.out, payload, md)
    print(md)
    print(f"written: {json_path}, {md_path}")


if __name__ == "__main__":
    main()
