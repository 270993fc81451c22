#!/usr/bin/env python3
"""Data-parallel scaling of `carl train`: sentences/s with 1 and 2 (or more) processes.

Each configuration is a real ``carl train`` run launched with ``torchrun`` (one process is
launched the same way, so start-up and the all-reduce path are the only differences), on the
same corpus, encoder, global batch, sequence limit and step count. The trainer writes the
wall time of every optimiser step to ``metrics.jsonl`` (``seconds_per_step`` with
``train.log_every=1``: collation, CARL step, gradient all-reduce, clipping, AdamW, EMA; no
evaluation or checkpoint); the first ``--warmup`` steps are dropped and the median of the rest
gives sentences/s = global batch / median step time. Configurations are interleaved round by
round (A B C, A B C, ...) so drift hits all alike; the report gives the median over rounds.

On a CPU the processes share the machine's cores: ``--threads-per-process`` is chosen so that
processes x threads = the cores used (default: all cores split evenly), which is the fair
comparison (same hardware, split differently). A "1 process, 1 thread" row shows the per-core
rate. On GPUs each process gets one device (``--device cuda``); run it on a machine with as
many GPUs as the largest process count.

Quiet machine only: another job on one of the cores ruins the numbers (load average is
recorded at start and end).

    python benchmarks/scaling.py --quick      # smoke: tiny budget, numbers are not results
    python benchmarks/scaling.py              # CPU result: MiniLM, EmoBank, batch 32, max_length 64
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import tempfile

import torch

import _bench as B


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_once(processes: int, threads: int, args, output: pathlib.Path) -> dict:
    """One ``carl train`` run under torchrun; returns its per-step seconds (after warm-up)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    if args.device == "cpu":
        env["ACCELERATE_USE_CPU"] = "true"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
               "--master_port", str(free_port()), "-m", "carl.cli", "train",
               "--data", args.data, "--model", args.model, "--batch-size", str(args.batch_size),
               "--max-steps", str(args.warmup + args.steps), "--output-dir", str(output),
               "--set", f"data.max_length={args.max_length}", "--set", "data.dev=[]",
               "--set", "train.log_every=1", "--set", "train.eval_every=1000000",
               "--set", "train.save_every=1000000", "--set", f"train.mixed_precision={args.precision}"]
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    for item in args.set or []:
        command += ["--set", item]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"carl train with {processes} process(es) failed:\n{done.stderr[-4000:]}")
    rows = [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]
    start = next(r for r in rows if r.get("event") == "start")
    if start["processes"] != processes:
        raise SystemExit(f"asked for {processes} processes, the trainer saw {start['processes']}")
    seconds = [r["seconds_per_step"] for r in rows if "seconds_per_step" in r]
    return {"seconds_per_step": seconds[args.warmup:], "warmup_seconds": seconds[: args.warmup],
            "train_texts": start["train_texts"], "device": start["device"]}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="minilm", help="Hugging Face id or local path ('minilm' = offline default)")
    p.add_argument("--data", default="emobank")
    p.add_argument("--data-dir", default=None, help="corpus folder (default: $CARL_DATA_DIR)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--precision", choices=["no", "bf16"], default="no", help="train.mixed_precision")
    p.add_argument("--processes", default="1,2", help="comma list of process counts")
    p.add_argument("--threads-per-process", type=int, default=None,
                   help="CPU threads per process (default: cores // processes)")
    p.add_argument("--single-thread-reference", action=argparse.BooleanOptionalAction, default=True,
                   help="also run 1 process x 1 thread (CPU)")
    p.add_argument("--batch-size", type=int, default=32, help="global batch (split across processes)")
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=15, help="timed steps per run")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--set", action="append", help="carl config override KEY=VALUE (repeatable)")
    p.add_argument("--out", default=None)
    p.add_argument("--quick", action="store_true", help="smoke: batch 8, length 16, 1 + 3 steps, 1 round")
    args = p.parse_args(argv)
    if args.quick:
        args.batch_size, args.max_length, args.warmup, args.steps, args.rounds = 8, 16, 1, 3, 1
    counts = [int(c) for c in args.processes.split(",")]
    cores = os.cpu_count() or 1

    configs = []  # (label, processes, threads)
    for n in counts:
        threads = args.threads_per_process or max(1, cores // n)
        configs.append((f"{n} process{'es' if n > 1 else ''} x {threads} thread{'s' if threads > 1 else ''}", n, threads))
    if args.device == "cpu" and args.single_thread_reference and (1, 1) not in [(n, t) for _, n, t in configs]:
        configs.append(("1 process x 1 thread", 1, 1))

    env = B.environment(torch.device(args.device))
    samples: dict[str, list[list[float]]] = {label: [] for label, _, _ in configs}
    meta = {}
    with tempfile.TemporaryDirectory(prefix="carl-scaling-") as tmp:
        for round_index in range(args.rounds):
            for label, n, threads in configs:
                out = pathlib.Path(tmp) / f"r{round_index}-{n}x{threads}"
                result = run_once(n, threads, args, out)
                samples[label].append(result["seconds_per_step"])
                meta[label] = {"processes": n, "threads_per_process": threads, "device": result["device"],
                               "train_texts": result["train_texts"]}
                median = statistics.median(result["seconds_per_step"])
                print(f"round {round_index + 1}/{args.rounds}  {label}: {median * 1000:.0f} ms/step, "
                      f"{args.batch_size / median:.1f} sentences/s", flush=True)
    env = B.finish_environment(env)

    rows, results = [], {}
    for label, _, _ in configs:
        per_round = [statistics.median(s) for s in samples[label]]
        median = statistics.median(per_round)
        results[label] = {**meta[label], "per_round_median_s": per_round, "median_s_per_step": median,
                          "sentences_per_s": args.batch_size / median, "step_seconds": samples[label]}
    base_label = configs[0][0]
    for label, n, threads in configs:
        r = results[label]
        r["speed_vs_first"] = results[base_label]["median_s_per_step"] / r["median_s_per_step"]
        rows.append([label, f"{r['median_s_per_step'] * 1000:.0f}", f"{r['sentences_per_s']:.1f}",
                     f"{r['speed_vs_first']:.2f}", ", ".join(f"{x * 1000:.0f}" for x in r["per_round_median_s"])])

    settings = {k: getattr(args, k) for k in ("model", "data", "device", "precision", "batch_size", "max_length",
                                               "warmup", "steps", "rounds", "set", "quick")}
    payload = {"environment": env, "settings": settings, "results": results}
    markdown = (
        "# Data-parallel scaling of `carl train`\n\n" + B.environment_markdown(env)
        + f"\n{args.model} on {args.data}, global batch {args.batch_size}, max_length {args.max_length}, "
          f"{args.warmup} warm-up + {args.steps} timed steps per run, {args.rounds} interleaved rounds; "
          "step time = median of the trainer's own `seconds_per_step`.\n\n"
        + B.table(["configuration", "median ms/step", "sentences/s", f"speed vs {base_label}", "per-round medians (ms)"],
                  rows)
        + ("\n**Quick smoke run: not a result.**\n" if args.quick else "")
    )
    stem = pathlib.Path(args.out) if args.out else B.RESULTS / (f"scaling_{args.device}" + ("_quick" if args.quick else ""))
    json_path, md_path = B.write_report(stem, payload, markdown)
    print(markdown)
    print(f"wrote {json_path} and {md_path}")


if __name__ == "__main__":
    main()
