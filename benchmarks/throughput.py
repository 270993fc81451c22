#!/usr/bin/env python3
"""Training throughput and peak memory of CARL; embedding throughput of `carl embed`'s path.

Training (one fresh subprocess per encoder, so that memory peaks belong to that encoder):
  the training loop of ``carl.training.trainer.train`` on real EmoBank texts, tokenised with
  data.max_length, length-grouped and padded per batch exactly as the trainer does
  (``epoch_batches`` + ``collate``), CarlStep + clipping + AdamW + schedule + EMA per step.
  Reported: sentences/s (batch size / median step time, and total sentences / total time),
  real (non-padding) tokens/s, and peak memory:
    GPU  torch.cuda.max_memory_allocated over the timed loop (and memory_allocated before it);
    CPU  peak resident set size over the loop, sampled every 5 ms from another thread
         (psutil, or /proc/self/statm), its increase over the RSS after model set-up (the
         optimiser state is created inside the loop, so it is part of the increase), and
         ru_maxrss of the process. (tracemalloc does not see torch's allocations.)

Embedding (this process): a MiniLM model folder is exported once with
  ``carl.inference.export.export_sentence_transformer(encoder, tokenizer, path, pooling="mean",
  max_seq_length=256)``; then ``carl.load(path).encode(texts)`` (what ``carl embed`` runs) and
  ``SentenceTransformer(path).encode(texts)`` embed the same texts with the same batch size,
  alternating (A B, B A, ...), after one untimed warm-up each. Ratio carl/ST (target >= 0.95).

Quick smoke run (not a result):  python benchmarks/throughput.py --quick
Full CPU run (quiet machine):   python benchmarks/throughput.py
GPU:                            python benchmarks/throughput.py --device cuda --precision bf16 --batch-size 64 --max-length 128
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import tempfile
import threading

import numpy as np
import torch

import _bench as B


# ---------------------------------------------------------------------------
# memory
# ---------------------------------------------------------------------------


def current_rss() -> int:
    """Resident set size of this process in bytes."""
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except ImportError:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Samples this process's RSS every ``interval`` seconds on a thread; ``peak`` in bytes."""

    def __init__(self, interval: float = 0.005):
        self.interval, self.peak, self._stop = interval, current_rss(), threading.Event()

    def __enter__(self):
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, current_rss())
            self._stop.wait(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self.thread.join()
        self.peak = max(self.peak, current_rss())
        return False


def ru_maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


MB = 1024 * 1024


# ---------------------------------------------------------------------------
# training (child process)
# ---------------------------------------------------------------------------


def train_child(args) -> dict:
    from carl.config import CarlConfig
    from carl.training.batching import collate, epoch_batches, tokenise
    from step_cost import CarlRunner

    device = B.pick_device(args.device)
    precision = args.precision or ("bf16" if device.type == "cuda" else "fp32")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rss_start = current_rss()
    config = CarlConfig.load(args.config) if args.config else CarlConfig()
    overrides = {"train.batch_size": args.batch_size, "data.max_length": args.max_length}
    for item in args.set or []:
        key, _, value = item.partition("=")
        overrides[key] = value
    config = config.override(overrides)
    loaded = B.load_bench_encoder(args.train_child, args.weights, args.seed)
    info = loaded.describe()
    texts, labels, source = B.read_texts(args.texts)
    ids = tokenise(texts, loaded.tokenizer, args.max_length)
    lengths = [len(x) for x in ids]
    special = loaded.tokenizer.all_special_ids
    pad = loaded.tokenizer.pad_token_id if loaded.tokenizer.pad_token_id is not None else 0

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    runner = CarlRunner(loaded.model, config, device, precision)
    loaded.model = None
    if args.compile:
        runner.model.encoder.compile(dynamic=True)

    def batches():
        epoch = 0
        while True:
            for idx in epoch_batches(lengths, args.batch_size, args.seed, epoch):
                batch = collate([ids[i] for i in idx], pad, special)
                batch["labels"] = torch.from_numpy(labels[idx])
                yield {k: v.to(device) for k, v in batch.items()}
            epoch += 1

    stream = batches()
    for i in range(args.warmup):
        runner.step(next(stream), i)
    B.synchronize(device)
    rss_setup = current_rss()
    if device.type == "cuda":
        allocated_before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    times, sentences, real_tokens, padded_tokens = [], 0, 0, 0
    with PeakRSS() as peak:
        for i in range(args.steps):
            batch = next(stream)
            with B.Stopwatch(device) as sw:
                runner.step(batch, args.warmup + i)
            times.append(sw.seconds)
            sentences += batch["input_ids"].shape[0]
            real_tokens += int(batch["attention_mask"].sum())
            padded_tokens += batch["input_ids"].numel()
    total = sum(times)
    result = {
        "model": info, "precision": precision, "batch_size": args.batch_size, "max_length": args.max_length,
        "texts": source, "n_texts": len(texts), "warmup_steps": args.warmup, "timed_steps": args.steps,
        "compile": args.compile, "overrides": overrides,
        "step": B.summarize(times),
        "sentences_per_s_median_step": round(args.batch_size / statistics.median(times), 2),
        "sentences_per_s_total": round(sentences / total, 2),
        "real_tokens_per_s": round(real_tokens / total, 1),
        "mean_padded_length": round(padded_tokens / sentences, 1),
        "mean_real_length": round(real_tokens / sentences, 1),
    }
    # Memory. Note: on CPU the warm-up steps above already created the optimiser state; the
    # "over set-up" figure is then the activations' peak alone, "over start" includes weights,
    # target copy and AdamW state.
    if device.type == "cuda":
        result["memory"] = {"kind": "cuda max_memory_allocated over the timed loop",
                            "peak_allocated_mb": round(torch.cuda.max_memory_allocated(device) / MB, 1),
                            "allocated_before_loop_mb": round(allocated_before / MB, 1),
                            "peak_reserved_mb": round(torch.cuda.max_memory_reserved(device) / MB, 1)}
    else:
        result["memory"] = {"kind": "process RSS sampled every 5 ms over the timed loop",
                            "rss_at_start_mb": round(rss_start / MB, 1),
                            "rss_after_setup_and_warmup_mb": round(rss_setup / MB, 1),
                            "peak_rss_mb": round(peak.peak / MB, 1),
                            "peak_over_start_mb": round((peak.peak - rss_start) / MB, 1),
                            "peak_over_setup_mb": round((peak.peak - rss_setup) / MB, 1),
                            "ru_maxrss_mb": round(ru_maxrss_bytes() / MB, 1)}
    return result


def run_train(args, model: str) -> dict:
    """One encoder's training measurement in a fresh interpreter."""
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "result.json"
        cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), "--_train-child", model, "--_result", str(out),
               "--device", args.device, "--batch-size", str(args.batch_size), "--max-length", str(args.max_length),
               "--warmup", str(args.warmup), "--steps", str(args.steps), "--weights", args.weights,
               "--seed", str(args.seed)]
        for flag in ("precision", "config", "texts", "threads"):
            if getattr(args, flag):
                cmd += [f"--{flag}", str(getattr(args, flag))]
        for item in args.set or []:
            cmd += ["--set", item]
        if args.compile:
            cmd.append("--compile")
        print(f"[throughput] training {model}: {' '.join(cmd[1:3])} ...", flush=True)
        proc = subprocess.run(cmd)
        if proc.returncode != 0 or not out.is_file():
            return {"model": {"name": model}, "error": f"child exited with {proc.returncode}"}
        return json.loads(out.read_text())


# ---------------------------------------------------------------------------
# embedding
# ---------------------------------------------------------------------------


def export_once(args) -> tuple[pathlib.Path, dict]:
    from carl.inference.export import export_sentence_transformer

    loaded = B.load_bench_encoder(args.embed_model, args.weights, args.seed)
    kind = "pretrained" if loaded.pretrained else "random"
    path = pathlib.Path(args.export_dir or pathlib.Path(tempfile.gettempdir()) / "carl-bench" /
                        f"export-{pathlib.Path(args.embed_model).name}-{kind}")
    info = loaded.describe()
    if not (path / "modules.json").is_file():
        print(f"[throughput] exporting {args.embed_model} ({loaded.source}) to {path}", flush=True)
        export_sentence_transformer(loaded.model, loaded.tokenizer, path, pooling="mean", max_seq_length=256,
                                    metadata={"base_model": args.embed_model, "benchmark": True})
    return path, info


def run_embed(args) -> dict:
    import carl
    from sentence_transformers import SentenceTransformer

    device = B.pick_device(args.device)
    path, info = export_once(args)
    texts, _, source = B.read_texts(args.texts, limit=args.embed_texts)
    if len(texts) < args.embed_texts:  # the shipped sample has 1,024 sentences: cycle through it
        source += f" (cycled to {args.embed_texts})"
        texts = [texts[i % len(texts)] for i in range(args.embed_texts)]
    dev = str(device)
    carl_model = carl.load(path, device=dev)
    st_model = SentenceTransformer(str(path), device=dev)

    def run_carl():
        return carl_model.encode(texts, batch_size=args.embed_batch_size)

    def run_st():
        return st_model.encode(texts, batch_size=args.embed_batch_size)

    fns = {"carl.load(path).encode": run_carl, "SentenceTransformer(path).encode": run_st}
    outputs = {name: fn() for name, fn in fns.items()}  # warm-up, untimed
    a, b = outputs.values()
    max_diff = float(np.abs(np.asarray(a, dtype=np.float32) - np.asarray(b, dtype=np.float32)).max())
    samples = {name: [] for name in fns}
    names = list(fns)
    for r in range(args.embed_repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            with B.Stopwatch(device) as sw:
                fns[name]()
            samples[name].append(sw.seconds)
        print(f"[throughput] embed round {r + 1}/{args.embed_repeats}: "
              + ", ".join(f"{n} {len(texts) / samples[n][-1]:.1f} sent/s" for n in names), flush=True)
    stats = {n: {**B.summarize(s), "sentences_per_s": round(len(texts) / statistics.median(s), 2)}
             for n, s in samples.items()}
    carl_sps, st_sps = (stats[n]["sentences_per_s"] for n in names)
    paired = [y / x for x, y in zip(samples[names[0]], samples[names[1]])]  # st time / carl time = carl/st speed
    return {"model_folder": str(path), "model": info, "texts": source, "n_texts": len(texts),
            "batch_size": args.embed_batch_size, "repeats": args.embed_repeats, "methods": stats,
            "ratio_carl_over_st": round(carl_sps / st_sps, 4),
            "ratio_median_of_paired": round(statistics.median(paired), 4),
            "max_abs_embedding_diff": max_diff}


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=None,
                   help="encoders for training throughput; with --weights auto an encoder without local weights is "
                        "skipped on CPU and random-initialised on GPU (default minilm,mpnet; --quick: minilm)")
    p.add_argument("--weights", choices=["auto", "pretrained", "random"], default="auto")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", choices=["fp32", "bf16"], default=None, help="default: bf16 on cuda, fp32 on cpu")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--max-length", type=int, default=None, help="data.max_length (truncation; batches padded per batch)")
    p.add_argument("--warmup", type=int, default=None)
    p.add_argument("--steps", type=int, default=None, help="timed training steps per encoder")
    p.add_argument("--config", default=None)
    p.add_argument("--set", action="append", help="carl config override KEY=VALUE (repeatable), e.g. train.check_finite=false")
    p.add_argument("--compile", action="store_true", help="torch.compile the online encoder, as train.compile=true")
    p.add_argument("--texts", default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--embed-model", default="minilm")
    p.add_argument("--embed-texts", type=int, default=None)
    p.add_argument("--embed-batch-size", type=int, default=64)
    p.add_argument("--embed-repeats", type=int, default=None)
    p.add_argument("--export-dir", default=None, help="exported model folder (reused if present)")
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--skip-embed", action="store_true")
    p.add_argument("--out", default=None)
    p.add_argument("--quick", action="store_true", help="smoke run: minilm only, batch 8, length 16, 1+3 steps, 64 texts (each unless given explicitly)")
    p.add_argument("--_train-child", dest="train_child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--_result", dest="result", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        defaults = dict(models="minilm", batch_size=8, max_length=16, warmup=1, steps=3, embed_texts=64, embed_repeats=2)
    else:
        defaults = dict(models="minilm,mpnet", batch_size=32, max_length=64, warmup=3, steps=20, embed_texts=2000,
                        embed_repeats=6)
    for key, value in defaults.items():  # --quick's sizes apply where no value was given
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.train_child:
        result = train_child(args)
        pathlib.Path(args.result).write_text(json.dumps(result, default=str))
        return result
    if args.threads:
        torch.set_num_threads(args.threads)
    device = B.pick_device(args.device)
    env = B.environment(device)
    payload = {"benchmark": "throughput", "quick": args.quick, "environment": env, "training": [], "embedding": None}
    if not args.skip_train:
        from carl.inference.encoders import resolve_model_path

        for model in [m.strip() for m in args.models.split(",") if m.strip()]:
            if args.weights == "auto" and device.type == "cpu" and not pathlib.Path(resolve_model_path(model)).is_dir():
                print(f"[throughput] {model}: no local weights; skipped on CPU (install them, or --weights random)")
                payload["training"].append({"model": {"name": model}, "skipped": "no local weights"})
                continue
            payload["training"].append(run_train(args, model))
    if not args.skip_embed:
        payload["embedding"] = run_embed(args)
    B.finish_environment(env)
    stem = pathlib.Path(args.out) if args.out else B.RESULTS / (f"throughput_{device.type}" + ("_quick" if args.quick else ""))
    json_path, md_path = B.write_report(stem, payload, markdown(payload))
    print(markdown(payload))
    print(f"[throughput] wrote {json_path} and {md_path}")
    return payload


def markdown(payload: dict) -> str:
    title = "CARL throughput" + (" (QUICK SMOKE RUN: not a result)" if payload["quick"] else "")
    out = [f"# {title}\n\n", B.environment_markdown(payload["environment"])]
    rows = []
    for r in payload["training"]:
        if "step" not in r:
            rows.append([r["model"]["name"], "—", "—", "—", "—", "—", r.get("skipped") or r.get("error")])
            continue
        m = r["memory"]
        mem = (f"peak alloc {m['peak_allocated_mb']} MiB (before loop {m['allocated_before_loop_mb']})"
               if "peak_allocated_mb" in m else
               f"peak RSS {m['peak_rss_mb']} MiB (+{m['peak_over_start_mb']} over start, "
               f"+{m['peak_over_setup_mb']} over set-up)")
        weights = "" if r["model"].get("pretrained_weights") else " (random init)"
        rows.append([r["model"]["name"] + weights, f"{r['batch_size']} × ≤{r['max_length']} "
                     f"(mean {r['mean_padded_length']} padded / {r['mean_real_length']} real)", r["precision"],
                     r["step"]["median_ms"], r["sentences_per_s_median_step"], r["real_tokens_per_s"], mem])
    if rows:
        out.append("\n## Training throughput (CARL step incl. optimiser + EMA; real EmoBank batches)\n\n")
        out.append(B.table(["encoder", "batch × tokens", "precision", "median ms/step", "sentences/s", "real tokens/s",
                            "memory"], rows))
    e = payload.get("embedding")
    if e:
        out.append(f"\n## Embedding throughput ({e['n_texts']} texts, batch {e['batch_size']}, {e['repeats']} alternating "
                   f"repeats; model {e['model']['name']}{'' if e['model']['pretrained_weights'] else ' (random init)'})\n\n")
        out.append(B.table(["path", "median s", "sentences/s"],
                           [[n, round(s["median_ms"] / 1000, 3), s["sentences_per_s"]] for n, s in e["methods"].items()]))
        out.append(f"\nRatio carl / sentence-transformers: {e['ratio_carl_over_st']} (median of paired: "
                   f"{e['ratio_median_of_paired']}; target >= 0.95). Max |difference| of the embeddings: "
                   f"{e['max_abs_embedding_diff']:.2e}.\n")
    return "".join(out)


if __name__ == "__main__":
    main()
