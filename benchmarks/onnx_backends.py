"""torch vs ONNX vs ONNX-int8 on the same texts, in one run: texts/s, agreement with torch, and V-A quality.

For one carl model folder (default: the embedded all-MiniLM-L6-v2 exported with carl's exporter into
/tmp/carl-bench/minilm-onnx), the script

1. writes ``onnx/model.onnx`` and ``onnx/model_qint8.onnx`` with :func:`carl.inference.onnx_backend.export_onnx`
   (what ``carl export-onnx MODEL --quantize int8`` runs), unless present;
2. embeds the same EmoBank texts with each backend, interleaved round by round (torch, onnx, onnx-int8,
   torch, ...) after an untimed warm-up each, batch size 64: median texts/s over rounds;
3. compares each backend's embeddings with torch's (cosine per text: mean and minimum);
4. runs the V-A ridge probe on EmoBank (train subsample -> alpha on dev -> test) on each backend's
   embeddings: the quality kept.

Writes ``benchmarks/results/onnx_backends_cpu.json`` and ``.md`` with command, machine, versions and date.
Timing: run it on a quiet machine (the README of benchmarks/ says how this project pauses its jobs).

    python benchmarks/onnx_backends.py                 # ~3-6 min on 2 cores
    python benchmarks/onnx_backends.py --quick         # smoke: 64 texts, 1 round, tiny probe (not a result)
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _bench  # noqa: E402

DEFAULT_MODEL_DIR = pathlib.Path("/tmp/carl-bench/minilm-onnx")


def prepare_model(folder: pathlib.Path | None) -> pathlib.Path:
    from carl.inference.onnx_backend import FLOAT_FILE, INT8_FILE, export_onnx

    if folder is None:
        folder = DEFAULT_MODEL_DIR
        if not (folder / "modules.json").is_file():
            from transformers import AutoModel, AutoTokenizer

            from carl.inference.export import export_sentence_transformer
            from carl.inference.encoders import resolve_model_path

            source = resolve_model_path("minilm")
            export_sentence_transformer(AutoModel.from_pretrained(source), AutoTokenizer.from_pretrained(source),
                                        folder, pooling="mean", max_seq_length=256,
                                        metadata={"base_model": "minilm"})
    if not ((folder / FLOAT_FILE).is_file() and (folder / INT8_FILE).is_file()):
        export_onnx(folder, quantize="int8")
    return folder


def load_backends(folder: pathlib.Path) -> dict:
    import carl
    from carl.inference.onnx_backend import INT8_FILE

    return {"torch": carl.load(folder), "onnx": carl.load(folder, backend="onnx"),
            "onnx-int8": carl.load(folder, backend="onnx", onnx_file=INT8_FILE)}


def throughput(backends: dict, texts: list[str], rounds: int, batch_size: int) -> dict:
    for model in backends.values():  # untimed warm-up (allocations, ONNX Runtime's first-run planning)
        model.encode(texts[: 2 * batch_size], batch_size=batch_size)
    samples = {name: [] for name in backends}
    for _ in range(rounds):
        for name, model in backends.items():
            start = time.perf_counter()
            model.encode(texts, batch_size=batch_size)
            samples[name].append(len(texts) / (time.perf_counter() - start))
    return {name: {"texts_per_s_median": round(statistics.median(v), 2), "texts_per_s_rounds": [round(x, 2) for x in v]}
            for name, v in samples.items()}


def agreement(backends: dict, texts: list[str], batch_size: int) -> tuple[dict, dict]:
    vectors = {name: m.encode(texts, batch_size=batch_size) for name, m in backends.items()}
    ref = vectors["torch"]
    out = {}
    for name, v in vectors.items():
        cos = (v * ref).sum(1) / np.linalg.norm(v, axis=1) / np.linalg.norm(ref, axis=1)
        out[name] = {"cosine_to_torch_mean": round(float(cos.mean()), 6), "cosine_to_torch_min": round(float(cos.min()), 6)}
    return out, vectors


def va_probe(backends: dict, data_dir, max_train: int, max_eval: int, batch_size: int) -> tuple[dict, dict]:
    from carl.data import load_corpus, resolve_data_dir
    from carl.evaluation.probes import va_regression_probe
    from carl.evaluation.tasks import subsample

    records = [r for r in load_corpus("emobank", resolve_data_dir(data_dir), ["train", "dev", "test"])
               if r.valence is not None and r.arousal is not None]
    splits = {}
    for split, k in (("train", max_train), ("dev", max_eval), ("test", max_eval)):
        rows = subsample([r for r in records if r.split == split], k, 0, stream=("emobank", split))
        splits[split] = ([r.text for r in rows], np.array([(r.valence, r.arousal) for r in rows]))
    out = {}
    for name, model in backends.items():
        x = {s: model.encode(t, batch_size=batch_size) for s, (t, _) in splits.items()}
        result = va_regression_probe(x["train"], splits["train"][1], x["dev"], splits["dev"][1], x["test"],
                                     splits["test"][1])
        out[name] = {k: round(float(v), 4) for k, v in result.metrics.items()} | {"alpha": result.chosen["alpha"]}
    sizes = {s: len(t) for s, (t, _) in splits.items()}
    return out, sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=pathlib.Path, default=None, help="carl model folder (default: exported MiniLM)")
    parser.add_argument("--texts", type=int, default=800, help="EmoBank texts for throughput and agreement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--probe-train", type=int, default=1500)
    parser.add_argument("--probe-eval", type=int, default=500)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--quick", action="store_true", help="smoke test; its numbers are not results")
    parser.add_argument("--out", type=pathlib.Path, default=_bench.RESULTS / "onnx_backends_cpu")
    args = parser.parse_args()
    if args.quick:
        args.texts, args.rounds, args.probe_train, args.probe_eval = 64, 1, 200, 100
        args.out = args.out.with_name(args.out.name + "_quick")

    import torch

    env = _bench.environment(torch.device("cpu"))
    folder = prepare_model(args.model)
    backends = load_backends(folder)
    texts, _, source = _bench.read_texts(None, limit=args.texts)
    speed = throughput(backends, texts, args.rounds, args.batch_size)
    agree, _ = agreement(backends, texts, args.batch_size)
    probe, sizes = va_probe(backends, args.data_dir, args.probe_train, args.probe_eval, args.batch_size)
    env = _bench.finish_environment(env)
    import onnxruntime

    env["onnxruntime"] = onnxruntime.__version__
    files = {name: str(getattr(m, "onnx_path", folder / "model.safetensors")) for name, m in backends.items()}
    sizes_mb = {name: round(pathlib.Path(p).stat().st_size / 1e6, 1) for name, p in files.items()}
    payload = {"environment": env, "model": str(folder), "texts_source": source, "n_texts": len(texts),
               "batch_size": args.batch_size, "rounds": args.rounds, "files": files, "file_mb": sizes_mb,
               "throughput": speed, "agreement": agree, "va_probe_emobank": probe, "probe_sizes": sizes}
    base = speed["torch"]["texts_per_s_median"]
    rows = [[name, speed[name]["texts_per_s_median"], f"{speed[name]['texts_per_s_median'] / base:.2f}",
             agree[name]["cosine_to_torch_mean"], agree[name]["cosine_to_torch_min"],
             probe[name]["pearson_v"], probe[name]["pearson_a"], probe[name]["pearson_mean"], sizes_mb[name]]
            for name in backends]
    md = (f"# torch vs ONNX vs ONNX-int8 ({'QUICK smoke run, not a result' if args.quick else 'CPU'})\n\n"
          + _bench.environment_markdown(env)
          + f"- onnxruntime {env['onnxruntime']}; model folder `{folder}`; {len(texts)} EmoBank texts, batch "
            f"{args.batch_size}, median of {args.rounds} interleaved rounds after a warm-up\n"
          + f"- V-A probe: ridge on each backend's embeddings, EmoBank train {sizes['train']} / dev {sizes['dev']} / "
            f"test {sizes['test']} (seeded subsample), alpha chosen on dev, Pearson r on test\n\n"
          + _bench.table(["backend", "texts/s", "speed vs torch", "cosine to torch (mean)", "cosine (min)",
                          "probe Pearson V", "probe Pearson A", "probe Pearson mean", "weights MB"], rows))
    json_path, md_path = _bench.write_report(args.out, payload, md)
    print(md)
    print(f"written: {json_path}, {md_path}")


if __name__ == "__main__":
    main()
