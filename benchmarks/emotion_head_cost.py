"""What the emotion head adds to scoring: ``predict-va`` chunks with and without ``--emotions``, equal batch.

One process loads the model folder once (``carl.scoring.model.ChunkScorer``, the class every scoring
engine runs) twice: with ``emotions_top_k=0`` (V-A only) and with ``emotions_top_k=K``. Both score the same
texts (EmoBank train sentences, ``--texts`` of them) in chunks of ``--chunk`` with batches of ``--batch``;
after one untimed warm-up chunk each, the two alternate for ``--reps`` rounds (so drift in the machine's load
hits both), and the median per chunk is compared. Also timed: the emotion head alone on the chunk's
embeddings (softmax + top-K), which is the whole difference in work.

    python benchmarks/emotion_head_cost.py runs/main/model --texts 2048 --reps 5

The model folder needs ``va_head.json`` and ``emotion_head.json`` (``carl fit-heads``). Writes
``benchmarks/results/emotion_head_cost_cpu.json`` / ``.md``. Nothing asserts a timing.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _bench  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="model folder with va_head.json and emotion_head.json")
    parser.add_argument("--texts", type=int, default=2048)
    parser.add_argument("--chunk", type=int, default=512)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--output", type=pathlib.Path, default=_bench.RESULTS / "emotion_head_cost_cpu")
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    from carl.scoring.model import ChunkScorer, ModelSpec

    env = _bench.environment(torch.device("cpu"))
    texts, _, source = _bench.read_texts(limit=args.texts)
    chunks = [texts[i:i + args.chunk] for i in range(0, len(texts), args.chunk)]
    plain = ChunkScorer(ModelSpec(path=args.model, batch_size=args.batch))
    with_emotions = ChunkScorer(ModelSpec(path=args.model, batch_size=args.batch, emotions_top_k=args.top_k))
    for scorer in (plain, with_emotions):  # warm-up: first-call allocations, tokenizer caches
        scorer.score(chunks[0])
    times = {"va": [], "va+emotions": []}
    for _ in range(args.reps):
        for name, scorer in (("va", plain), ("va+emotions", with_emotions)):
            start = time.perf_counter()
            for chunk in chunks:
                out = scorer.score(chunk)
            times[name].append(time.perf_counter() - start)
        assert "emotion_labels" in out and out["emotion_labels"].shape == (len(chunks[-1]), args.top_k)
    head = with_emotions.emotion_head
    vectors = np.vstack([plain.embedder.encode(c, batch_size=args.batch) for c in chunks])
    head_only = []
    for _ in range(args.reps):
        start = time.perf_counter()
        probs = head.predict(vectors)
        np.argsort(-probs, axis=1, kind="stable")[:, :args.top_k]
        head_only.append(time.perf_counter() - start)
    env = _bench.finish_environment(env)
    summary = {name: _bench.summarize(samples) for name, samples in times.items()}
    summary["emotion head alone"] = _bench.summarize(head_only)
    ratio = summary["va+emotions"]["median_ms"] / summary["va"]["median_ms"] - 1
    payload = {"format": "carl-bench-emotion-head/1", "environment": env, "texts": len(texts), "source": source,
               "chunk": args.chunk, "batch": args.batch, "top_k": args.top_k, "reps": args.reps,
               "label_set": head.label_set, "seconds": times, "head_only_seconds": head_only, "summary": summary,
               "added_fraction_median": ratio}
    rows = [[name, s["n"], f"{s['median_ms'] / 1000:.3f}", f"{s['p25_ms'] / 1000:.3f}–{s['p75_ms'] / 1000:.3f}"]
            for name, s in summary.items()]
    markdown = (f"# Emotion head cost at equal batch\n\n{len(texts)} texts ({pathlib.Path(source).name}), chunks of "
                f"{args.chunk}, batch {args.batch}, top {args.top_k} of the {head.label_set} head; seconds for all "
                f"texts per round, {args.reps} alternating rounds.\n\n"
                + _bench.table(["configuration", "rounds", "median s", "IQR s"], rows)
                + f"\nAdded by the emotion head (median vs median): **{100 * ratio:+.1f} %**.\n\n"
                + _bench.environment_markdown(env))
    json_path, md_path = _bench.write_report(args.output, payload, markdown)
    sys.stdout.write(markdown + f"\nwritten: {json_path}, {md_path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
