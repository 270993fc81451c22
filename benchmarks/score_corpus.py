"""Scoring a corpus: texts/s and peak memory of `carl predict-va` (torch, N worker processes, ONNX float and
int8) against sentence-transformers' ``encode`` on the same texts; and a long predict-va run whose peak
memory must not grow with the corpus.

Every configuration runs in a fresh subprocess (so a memory peak belongs to that configuration); the parent
samples the resident set size of the child *and its worker processes* every 50 ms (psutil) and records the
peak. Each child loads its model, then times the job itself (carl: from the end of model loading):

* ``st-encode``: ``SentenceTransformer(folder).encode(texts, batch_size=64)`` after an untimed warm-up, on
  the texts in memory (the reference: what a user writes by hand; no V-A head, no file output);
* ``torch-1``: ``carl predict-va`` (carl.scoring, local engine, one process) from a Parquet file of the same
  texts to a Parquet file, length-sorted batches of 64, chunks of 5,000;
* ``torch-wN``: the same with ``--workers N`` (threads per worker: cores / N);
* ``onnx``, ``onnx-int8``: ``--backend onnx`` with ``onnx/model.onnx`` / ``onnx/model_qint8.onnx``.

The model is the embedded all-MiniLM-L6-v2 exported by carl with a V-A head fitted on 400 EmoBank texts
(default folder /tmp/carl-bench/minilm-va, made on first use, ONNX files included); texts are EmoBank
sentences repeated to ``--texts``.

``--memory-run N`` instead scores N texts (EmoBank repeated) through ``predict-va`` once and records the RSS
over time (peak in each tenth of the run): flat after the model is loaded means memory does not grow with
the corpus.

    python benchmarks/score_corpus.py --quick                     # smoke: 256 texts (not a result)
    python benchmarks/score_corpus.py --texts 20000 --workers 2   # the comparison table
    python benchmarks/score_corpus.py --memory-run 1000000 --backend onnx --onnx-file onnx/model_qint8.onnx

Writes ``benchmarks/results/score_corpus_cpu.json`` / ``.md`` (``score_corpus_memory_cpu`` for a memory run)
with command, machine, versions and date. No timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _bench  # noqa: E402

DEFAULT_MODEL_DIR = pathlib.Path("/tmp/carl-bench/minilm-va")
MB = 1024 * 1024


def prepare_model(folder: pathlib.Path) -> pathlib.Path:
    from carl.inference.onnx_backend import FLOAT_FILE, INT8_FILE, export_onnx

    if not (folder / "va_head.json").is_file():
        import numpy as np
        from transformers import AutoModel, AutoTokenizer

        import carl
        from carl.data import load_corpus, resolve_data_dir
        from carl.inference.export import export_sentence_transformer
        from carl.inference.encoders import resolve_model_path
        from carl.evaluation.head_fitting import fit_va_head

        source = resolve_model_path("minilm")
        export_sentence_transformer(AutoModel.from_pretrained(source), AutoTokenizer.from_pretrained(source), folder,
                                    pooling="mean", max_seq_length=256, metadata={"base_model": "minilm"})
        records = [r for r in load_corpus("emobank", resolve_data_dir(None), ["train", "dev"]) if r.valence is not None]
        train = [r for r in records if r.split == "train"][:400]
        dev = [r for r in records if r.split == "dev"][:150]
        model = carl.load(folder)
        fit_va_head(model.encode([r.text for r in train]), np.array([(r.valence, r.arousal) for r in train]),
                    dev_embeddings=model.encode([r.text for r in dev]),
                    dev_va=np.array([(r.valence, r.arousal) for r in dev]), training_corpora=["emobank"]).save(folder)
    if not ((folder / FLOAT_FILE).is_file() and (folder / INT8_FILE).is_file()):
        export_onnx(folder, quantize="int8")
    return folder


def write_corpus(path: pathlib.Path, n: int) -> str:
    """EmoBank sentences repeated to ``n`` rows (with an id column), written in row groups of 50,000."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts, _, source = _bench.read_texts(None)
    with pq.ParquetWriter(path, pa.schema([("id", pa.int64()), ("text", pa.string())])) as writer:
        for start in range(0, n, 50_000):
            stop = min(n, start + 50_000)
            writer.write_table(pa.table({"id": list(range(start, stop)),
                                         "text": [texts[i % len(texts)] for i in range(start, stop)]}))
    return source


# ---------------------------------------------------------------- children


def child(args) -> None:
    """One configuration in this process; prints one JSON line."""
    import pyarrow.parquet as pq

    texts = pq.read_table(args.input, columns=["text"]).column("text").to_pylist() if args.config == "st-encode" \
        else None
    if args.config == "st-encode":
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(args.model), device="cpu")
        model.encode(texts[:128], batch_size=64)
        start = time.perf_counter()
        model.encode(texts, batch_size=64)
        seconds = time.perf_counter() - start
        print(json.dumps({"rows": len(texts), "seconds": seconds}))
        return
    from carl.scoring import ModelSpec, ScoreJob, run

    spec = ModelSpec(path=str(args.model), task="predict-va", backend=args.backend, onnx_file=args.onnx_file,
                     batch_size=64, threads=args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        job = ScoreJob(model=spec, input=args.input, output=pathlib.Path(tmp) / "va.parquet", keep_columns=("id",),
                       with_text=False, chunk_rows=args.chunk_rows, workers=args.workers, progress=False)
        summary = run(job)
    # summary.seconds starts after the model has loaded (and, with workers, once the pool exists)
    print(json.dumps({"rows": summary.rows, "seconds": summary.seconds}))


def tree_rss(process) -> int:
    import psutil

    total = 0
    for p in [process, *process.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_child(argv: list[str], timeline: bool = False) -> dict:
    """Run ``argv`` and sample its process tree's RSS every 50 ms; the child's JSON plus memory figures."""
    import psutil

    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    handle = psutil.Process(proc.pid)
    samples: list[tuple[float, int]] = []
    started = time.perf_counter()

    def sample():
        while proc.poll() is None:
            try:
                samples.append((time.perf_counter() - started, tree_rss(handle)))
            except psutil.Error:
                pass
            time.sleep(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    out, err = proc.communicate()
    thread.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{err[-3000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    result["texts_per_s"] = round(result["rows"] / result["seconds"], 2)
    result["peak_rss_mb"] = round(max((r for _, r in samples), default=0) / MB, 1)
    if timeline and samples:
        end = samples[-1][0]
        tenths = [[r for t, r in samples if k * end / 10 <= t < (k + 1) * end / 10] for k in range(10)]
        result["peak_rss_mb_by_tenth_of_run"] = [round(max(t) / MB, 1) if t else None for t in tenths]
    return result


def configs(workers: int) -> dict[str, list[str]]:
    cores = os.cpu_count() or 1
    return {"st-encode": ["--config", "st-encode"],
            "torch-1": ["--config", "carl"],
            f"torch-w{workers}": ["--config", "carl", "--workers", str(workers), "--threads",
                                  str(max(1, cores // workers))],
            "onnx": ["--config", "carl", "--backend", "onnx"],
            "onnx-int8": ["--config", "carl", "--backend", "onnx", "--onnx-file", "onnx/model_qint8.onnx"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=pathlib.Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--texts", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-rows", type=int, default=5000)
    parser.add_argument("--memory-run", type=int, default=None, metavar="N", help="score N texts once; RSS over time")
    parser.add_argument("--backend", default="torch", help="(memory run) torch or onnx")
    parser.add_argument("--onnx-file", default=None, help="(memory run) e.g. onnx/model_qint8.onnx")
    parser.add_argument("--quick", action="store_true", help="smoke test; its numbers are not results")
    parser.add_argument("--out", type=pathlib.Path, default=None)
    # child mode
    parser.add_argument("--config", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--input", type=pathlib.Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.config:
        args.workers = args.workers if "--workers" in sys.argv else 1
        child(args)
        return

    import torch

    env = _bench.environment(torch.device("cpu"))
    folder = prepare_model(args.model)
    me = [sys.executable, str(pathlib.Path(__file__).resolve()), "--model", str(folder), "--chunk-rows",
          str(args.chunk_rows)]
    with tempfile.TemporaryDirectory() as tmp:
        corpus = pathlib.Path(tmp) / "corpus.parquet"
        if args.memory_run:
            n = 5000 if args.quick else args.memory_run
            source = write_corpus(corpus, n)
            extra = ["--backend", args.backend] + (["--onnx-file", args.onnx_file] if args.onnx_file else [])
            result = run_child([*me, "--config", "carl", "--input", str(corpus), *extra], timeline=True)
            stem = args.out or _bench.RESULTS / ("score_corpus_memory_cpu" + ("_quick" if args.quick else ""))
            payload = {"environment": _bench.finish_environment(env), "texts": n, "texts_source": source,
                       "backend": args.backend, "onnx_file": args.onnx_file, "chunk_rows": args.chunk_rows,
                       "result": result}
            md = (f"# predict-va memory run: {n:,} texts ({'QUICK smoke run, not a result' if args.quick else 'CPU'})"
                  "\n\n" + _bench.environment_markdown(env)
                  + f"- backend {args.backend} {args.onnx_file or ''}; chunks of {args.chunk_rows}; "
                    "Parquet in and out\n"
                  + "- a memory measurement: its texts/s is whatever the machine gave it beside other jobs (see the "
                    "load average); speeds are measured by the comparison table on a quiet machine\n\n"
                  + _bench.table(["texts", "texts/s", "peak RSS (MB)", "peak RSS by tenth of the run (MB)"],
                                 [[n, result["texts_per_s"], result["peak_rss_mb"],
                                   ", ".join(map(str, result["peak_rss_mb_by_tenth_of_run"]))]]))
        else:
            n = 256 if args.quick else args.texts
            source = write_corpus(corpus, n)
            results = {}
            for name, extra in configs(args.workers).items():
                print(f"{name}...", file=sys.stderr)
                results[name] = run_child([*me, *extra, "--input", str(corpus)])
            base = results["st-encode"]["texts_per_s"]
            stem = args.out or _bench.RESULTS / ("score_corpus_cpu" + ("_quick" if args.quick else ""))
            payload = {"environment": _bench.finish_environment(env), "texts": n, "texts_source": source,
                       "model": "embedded all-MiniLM-L6-v2 exported by carl + V-A head", "batch_size": 64,
                       "chunk_rows": args.chunk_rows, "results": results}
            rows = [[name, r["texts_per_s"], f"{r['texts_per_s'] / base:.2f}", r["peak_rss_mb"]]
                    for name, r in results.items()]
            md = (f"# Scoring a corpus: carl predict-va vs SentenceTransformer.encode "
                  f"({'QUICK smoke run, not a result' if args.quick else 'CPU'})\n\n" + _bench.environment_markdown(env)
                  + f"- {n:,} EmoBank texts (repeated), batch 64; carl: Parquet in -> V-A head -> Parquet out, chunks "
                    f"of {args.chunk_rows}; st-encode: texts in memory -> embeddings (no head, no file)\n"
                  + "- texts/s: the encode call after an untimed warm-up (st-encode), the job from the end of model "
                    "loading (carl); peak RSS: the process and its workers, sampled every 50 ms\n\n"
                  + _bench.table(["configuration", "texts/s", "vs st-encode", "peak RSS (MB)"], rows))
    json_path, md_path = _bench.write_report(stem, payload, md)
    print(md)
    print(f"written: {json_path}, {md_path}")


if __name__ == "__main__":
    main()
