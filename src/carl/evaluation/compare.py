"""Side-by-side V-A probes of several models on the same corpora, splits and protocol."""

from __future__ import annotations

import pathlib
from typing import Mapping, Sequence

import numpy as np

from carl.data import load_corpus
from carl.evaluation.probes import va_regression_probe
from carl.export import load
from carl.model.encoder import resolve_model_path

VA_CORPORA = ("emobank", "facebook-va")


def embed_splits(model_ref: str, splits: Mapping[str, Sequence[str]], batch_size: int = 64) -> dict[str, np.ndarray]:
    embedder = load(resolve_model_path(model_ref))
    return {name: embedder.encode(texts, batch_size=batch_size) for name, texts in splits.items()}


def va_probe_comparison(models: Mapping[str, str], data_dir: pathlib.Path, corpora: Sequence[str] = VA_CORPORA,
                        split_seed: int = 0) -> dict[str, dict[str, dict[str, float]]]:
    """{corpus: {model name: probe metrics on the corpus's test split}}.

    Ridge on L2-normalised frozen embeddings, alpha chosen on the dev split, scored on
    test (EmoBank's official test split; Facebook-VA's seeded held-out split).
    """
    results: dict[str, dict[str, dict[str, float]]] = {}
    for corpus in corpora:
        records = load_corpus(corpus, data_dir, seed=split_seed)
        by_split = {s: [r for r in records if r.split == s] for s in ("train", "dev", "test")}
        texts = {s: [r.text for r in rs] for s, rs in by_split.items()}
        labels = {s: np.array([[r.valence, r.arousal] for r in rs], dtype=np.float64) for s, rs in by_split.items()}
        results[corpus] = {}
        for name, ref in models.items():
            x = embed_splits(ref, texts)
            probe = va_regression_probe(x["train"], labels["train"], x["dev"], labels["dev"], x["test"], labels["test"])
            results[corpus][name] = {**probe.metrics, **{f"chosen_{k}": v for k, v in probe.chosen.items()},
                                     "n_test": len(texts["test"])}
    return results


def comparison_table(results: Mapping[str, Mapping[str, Mapping[str, float]]]) -> str:
    """Markdown table: one row per (corpus, model)."""
    lines = ["| corpus | model | Pearson V | Spearman V | Pearson A | Spearman A | Pearson mean | Spearman mean |",
             "|---|---|---|---|---|---|---|---|"]
    for corpus, by_model in results.items():
        for model, m in by_model.items():
            cells = [m[k] for k in ("pearson_v", "spearman_v", "pearson_a", "spearman_a", "pearson_mean", "spearman_mean")]
            lines.append(f"| {corpus} | {model} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    return "\n".join(lines)
