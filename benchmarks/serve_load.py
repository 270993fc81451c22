"""Bounded load test of `carl serve` on loopback (a benchmark, not a timed test).

1. Baseline, in this process, before any server runs: ``SentenceTransformer(MODEL).encode(texts,
   batch_size=32)`` on the same texts (offline batched throughput, the ceiling a server can approach),
   and the same texts one ``encode`` call each (what a server without batching would do).
2. For each phase, starts ``carl serve MODEL`` on a free 127.0.0.1 port, sends ``--requests`` POST
   /v1/embeddings requests of ``--texts-per-request`` texts each with ``--concurrency`` requests in
   flight (httpx, one async client), and records each request's latency and status: texts/s (answered
   texts / wall time), p50/p99 latency, share of 429s, and the server's own batch-size histogram.
   Phase ``normal``: default queue; phase ``overload``: ``--max-queue 4`` at 4x the concurrency, to
   show refusals (429 + Retry-After) instead of unbounded waiting.

Everything is bounded (request count, timeouts) and stays on 127.0.0.1. Writes
``benchmarks/results/serve_load_cpu.json`` and ``.md`` with command, machine, versions and date.

    python benchmarks/serve_load.py                       # ~2-4 min on 2 cores
    python benchmarks/serve_load.py --quick               # smoke (not a result)
"""

from __future__ import annotations

import argparse
import asyncio
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

        from carl.export import export_sentence_transformer
        from carl.model.encoder import resolve_model_path

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


def start_server(folder: pathlib.Path, extra: list[str], log: pathlib.Path) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
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
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--texts-per-request", type=int, default=1)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="smoke test; its numbers are not results")
    parser.add_argument("--out", type=pathlib.Path, default=_bench.RESULTS / "serve_load_cpu")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.concurrency = 100, 8
        args.out = args.out.with_name(args.out.name + "_quick")

    import torch

    env = _bench.environment(torch.device("cpu"))
    folder = prepare_model(args.model)
    texts, _, source = _bench.read_texts(None, limit=args.requests * args.texts_per_request)
    base = baseline(folder, texts)
    log_dir = pathlib.Path("/tmp/carl-bench")
    log_dir.mkdir(parents=True, exist_ok=True)
    phases = {}
    plan = [("normal", ["--max-wait-ms", str(args.max_wait_ms)], args.concurrency),
            ("overload", ["--max-wait-ms", str(args.max_wait_ms), "--max-queue", "4"], 4 * args.concurrency)]
    for name, extra, concurrency in plan:
        proc, url = start_server(folder, extra, log_dir / f"serve-load-{name}.log")
        try:
            result = asyncio.run(load(url, texts, args.texts_per_request, args.requests, concurrency))
            result["server_batches"] = batch_histogram(url)
            result["server_args"] = extra
        finally:
            stop(proc)
        result["vs_st_encode_batch32"] = round(result["answered_texts_per_s"] / base["st_encode_batch32_texts_per_s"], 3)
        phases[name] = result
    env = _bench.finish_environment(env)
    payload = {"environment": env, "model": str(folder), "texts_source": source, "baseline": base, "phases": phases}
    rows = [[name, r["concurrency"], r["server_args"][-1] if "--max-queue" in r["server_args"] else "256 (default)",
             r["requests"], r["answered_texts_per_s"], f"{r['vs_st_encode_batch32']:.2f}", r["p50_latency_ms"],
             r["p99_latency_ms"], f"{100 * r['share_429']:.1f} %", r["server_batches"].get("mean_texts_per_pass")]
            for name, r in phases.items()]
    md = (f"# carl serve under load ({'QUICK smoke run, not a result' if args.quick else 'CPU'})\n\n"
          + _bench.environment_markdown(env)
          + f"- model `{folder}` (torch backend), EmoBank texts, {args.texts_per_request} text(s) per POST "
            f"/v1/embeddings, server `--max-wait-ms {args.max_wait_ms}`; client (httpx) on the same 2 cores\n"
          + f"- baseline in-process before the server starts: `SentenceTransformer.encode(texts, batch_size=32)` "
            f"{base['st_encode_batch32_texts_per_s']} texts/s; one text per `encode` call "
            f"{base['st_encode_one_per_call_texts_per_s']} texts/s\n\n"
          + _bench.table(["phase", "concurrency", "max queue", "requests", "answered texts/s",
                          "vs ST.encode batch 32", "p50 ms", "p99 ms", "429s", "mean texts per forward pass"], rows))
    json_path, md_path = _bench.write_report(args.out, payload, md)
    print(md)
    print(f"written: {json_path}, {md_path}")


if __name__ == "__main__":
    main()
