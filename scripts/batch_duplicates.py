"""Which training batches of a run repeat a text, and what its logged loss was there.

A text that occurs twice in one batch is a false negative for every in-batch contrast (SimCSE,
SupCon, MCCL's instance term): its two copies are as close as a text's own two dropout views, so
each such row costs about ln 2 where a unique text costs ~0 (SimCSE on MiniLM). carl groups
batches by length (``carl.training.batching.epoch_batches``), which puts the shortest texts of each
mega-batch together: "Oh." next to "Oh?", the fifth "Thank you ." next to the sixth. This script
rebuilds a run's batches exactly as the trainer did (same records, tokenizer, seed, epochs) and
prints, for each logged step, the loss, the number of rows whose text already occurs in the batch
(case and surrounding spaces ignored), the batch's longest text in tokens and how alike its two
most alike texts are (difflib's ratio, 1.0 = identical): a sentence repeated with a prefix ("Fact: ...")
is no exact repeat but as much a false negative.

    python scripts/batch_duplicates.py results/union-cpu/runs/simcse/seed0
"""

from __future__ import annotations

import argparse
import collections
import difflib
import itertools
import json
import pathlib

from carl.config import CarlConfig
from carl.data.registry import resolve_data_dir
from carl.inference.encoders import load_encoder
from carl.training.batching import epoch_batches, tokenise
from carl.training.trainer import load_records


def repeated_rows(texts: list[str]) -> int:
    """Rows of a batch whose normalised text occurred earlier in the same batch."""
    counts = collections.Counter(t.strip().lower() for t in texts)
    return sum(n - 1 for n in counts.values())


def closest_pair_ratio(texts: list[str]) -> float:
    """The highest ``difflib.SequenceMatcher`` ratio over every pair of the texts (case ignored)."""
    lowered = [t.strip().lower() for t in texts]
    return max((difflib.SequenceMatcher(None, a, b).ratio() for a, b in itertools.combinations(lowered, 2)),
               default=0.0)


def batch_at(step: int, lengths: list[int], batch_size: int, seed: int, cache: dict[int, list]) -> "list[int]":
    """The indices of the batch trained at logged step ``step`` (steps count from 1), as the trainer drew it."""
    if 0 not in cache:
        cache[0] = epoch_batches(lengths, batch_size, seed, 0)
    epoch, index = divmod(step - 1, len(cache[0]))
    if epoch not in cache:
        cache[epoch] = epoch_batches(lengths, batch_size, seed, epoch)
    return list(cache[epoch][index])


def duplicate_report(texts: list[str], lengths: list[int], batch_size: int, seed: int, logged: list[dict],
                     loss_above: float) -> tuple[list[tuple[int, float, int, int, float]], int, int]:
    """Rows (step, loss, repeated rows, longest in tokens, closest pair ratio) for logged steps whose batch
    repeats a text or whose loss is above ``loss_above``; how many logged steps repeat a text; how many of all
    steps do."""
    cache: dict[int, list] = {}
    last = max((entry["step"] for entry in logged), default=0)
    batches = {s: batch_at(s, lengths, batch_size, seed, cache) for s in range(1, last + 1)}
    repeats = {s: repeated_rows([texts[i] for i in batch]) for s, batch in batches.items()}
    rows = []
    for entry in logged:
        step, batch = entry["step"], batches[entry["step"]]
        if repeats[step] or entry["loss"] > loss_above:
            rows.append((step, entry["loss"], repeats[step], max(lengths[i] for i in batch),
                         closest_pair_ratio([texts[i] for i in batch])))
    logged_with_repeats = sum(repeats[entry["step"]] > 0 for entry in logged)
    return rows, logged_with_repeats, sum(n > 0 for n in repeats.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=pathlib.Path, help="a run folder with config.yaml and metrics.jsonl")
    parser.add_argument("--loss-above", type=float, default=1e-3,
                        help="also list logged steps whose loss is above this (default 1e-3)")
    args = parser.parse_args()

    config = CarlConfig.load(args.run_dir / "config.yaml")
    records = load_records(config.data.train, resolve_data_dir(config.data.data_dir), "train",
                           config.data.split_seed, config.data.on_bad_row, config.data.max_train_per_corpus)
    _, tokenizer = load_encoder(config.model.name_or_path)
    texts = [r.text for r in records]
    lengths = [len(ids) for ids in tokenise(texts, tokenizer, config.data.max_length)]
    logged = [json.loads(line) for line in (args.run_dir / "metrics.jsonl").read_text().splitlines()]
    logged = [entry for entry in logged if "loss" in entry and "step" in entry]
    rows, logged_with_repeats, every = duplicate_report(texts, lengths, config.train.batch_size, config.train.seed,
                                                        logged, args.loss_above)
    print(f"{len(records)} training texts, batch {config.train.batch_size}, {len(logged)} logged steps")
    print("step  loss      repeated rows  longest (tokens)  closest pair")
    for step, loss, repeats, longest, closest in rows:
        print(f"{step:<5} {loss:<9.4g} {repeats:<14} {longest:<17} {closest:.2f}")
    print(f"logged steps whose batch repeats a text: {logged_with_repeats} of {len(logged)}; "
          f"all steps 1..{max((e['step'] for e in logged), default=0)}: {every}")


if __name__ == "__main__":
    main()
