"""Evaluation tasks: ``run_tasks`` scores a model on the registry's tasks (:mod:`carl.evaluation.task_specs`).

Every task scores **frozen** sentence embeddings of one model (SentEval / MTEB style):

* ``va_regression`` (``emobank``, ``facebook-va``): Ridge probe for valence and arousal
  (:func:`carl.evaluation.probes.va_regression_probe`: L2-normalised embeddings, alpha chosen
  on dev by mean Pearson, refitted on train, scored once on test). Pearson and Spearman of V
  and A and their means.
* ``classification`` (``goemotions-10``, ``goemotions-ekman``, ``dailydialog``, ``tec``,
  ``carer``, ``sst2``, ``sst5``, ``mr``, ``cr``, ``mpqa``): single-label logistic-regression
  probe (:func:`carl.evaluation.probes.classification_probe`: C chosen on dev by macro-F1).
  Accuracy, macro-F1, weighted-F1; DailyDialog also macro-F1 without "no emotion".
* ``mteb_classification`` (``carer-mteb``): MTEB's ``EmotionClassification`` (whose data
  ``mteb/emotion`` is CARER / dair-ai/emotion), run by the ``mteb`` library itself through a
  subclass that reads the local CARER files because the hub is unreachable; see
  :mod:`carl.evaluation.mteb_tasks`.
* ``emotion_head`` (``emotion-head-goemotions``, ``emotion-head-transfer``; only when named): the
  model folder's own ``emotion_head.json`` applied to test texts, nothing fitted; see
  :mod:`carl.evaluation.emotion_head_eval`.
* ``geometry``: Wang & Isola alignment and uniformity
  (:mod:`carl.evaluation.geometry`) with this project's positive-pair rules: EmoBank test
  pairs whose normalised V-A lie within Euclidean radius 0.05, and CARER test pairs with the
  same emotion. Lower is better for both metrics.

``run_tasks`` embeds every split it needs once per model, caches the embeddings as ``.npy``
files (key: model folder fingerprint + corpus + split + a hash of the texts), and returns
``{task: {metric: value}, "_meta": {...}}``. docs/evaluation.md gives the reasons for each
choice.
"""

from __future__ import annotations

import logging
import math
import os
import pathlib
import platform
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from carl.data import load_corpus, resolve_data_dir
from carl.data.records import Record
from carl.data.specs import is_table, parse_table_spec, read_spec
from carl.data.splits import with_seeded_splits
from carl.evaluation.embedding_store import EmbeddingStore
from carl.evaluation.emotion_head_eval import run_emotion_head_task
from carl.evaluation.geometry import alignment, positive_pairs_by_label, uniformity, va_positive_pairs
from carl.evaluation.mteb_tasks import MTEB_SEED, run_emotion_classification
from carl.evaluation.probes import classification_probe, va_regression_probe
from carl.evaluation.task_specs import (MAX_PAIRS, MIN_TABLE_ROWS, TASKS, VA_RADIUS, TaskSpec, known_tasks,
                                        report_metrics_of, resolve_task_names, table_task, task_spec)
from carl.evaluation.va_classes import class_means, separation_metrics
from carl.errors import CarlError, DataError
from carl.inference.heads.va import VAHead

log = logging.getLogger(__name__)

__all__ = [
    "TASKS",
    "EvalData",
    "TaskSpec",
    "has_va",
    "known_tasks",
    "label_filter",
    "package_versions",
    "report_metrics_of",
    "table_task",
    "task_spec",
    "resolve_task_names",
    "run_tasks",
    "single_label",
]

# ------------------------------------------------------------------ embedding cache


# ------------------------------------------------------------------ data helpers


def _rng(seed: int, *parts: str) -> np.random.Generator:
    """Independent, reproducible stream per (seed, corpus, split)."""
    return np.random.default_rng([int(seed), zlib.crc32("/".join(parts).encode())])


def subsample(records: Sequence[Record], k: int | None, seed: int, *, stream: tuple[str, ...],
              stratify: Callable[[Record], str] | None = None) -> list[Record]:
    """At most ``k`` records, drawn uniformly without replacement (seeded), kept in corpus order.

    With ``stratify`` every class present in ``records`` keeps at least one member (when
    ``k`` allows), so a small budget never drops a class from a probe's training data.
    """
    n = len(records)
    if k is None or k >= n:
        return list(records)
    if k < 1:
        raise CarlError(f"subsample size must be >= 1; got {k}")
    perm = _rng(seed, *stream).permutation(n)
    chosen: list[int] = []
    if stratify is not None:
        seen: set[str] = set()
        for i in perm:
            lab = stratify(records[i])
            if lab not in seen:
                seen.add(lab)
                chosen.append(int(i))
        chosen = chosen[:k]
    taken = set(chosen)
    for i in perm:
        if len(chosen) >= k:
            break
        if int(i) not in taken:
            chosen.append(int(i))
            taken.add(int(i))
    return [records[i] for i in sorted(chosen)]


def single_label(r: Record) -> str:
    return r.labels[0]


# ------------------------------------------------------------------ runners


@dataclass
class EvalData:
    """The rows every task reads: corpora loaded once, splits filtered and subsampled the same
    way for every task and plot (so shared splits are embedded once)."""

    data_dir: pathlib.Path
    seed: int
    split_seed: int
    max_train: int | None
    max_eval: int | None
    dev_only: bool = False
    keep_predictions: bool = False
    _corpora: dict[str, list[Record]] = field(default_factory=dict)

    @property
    def probe_splits(self) -> tuple[str, ...]:
        """The splits a probe reads: train and dev only when choosing methods on dev."""
        return ("train", "dev") if self.dev_only else ("train", "dev", "test")

    def records(self, corpus: str) -> list[Record]:
        """A corpus's records, or a table spec's rows split 80/10/10 by text (``split_seed``)."""
        if corpus not in self._corpora:
            self._corpora[corpus] = (_table_records(corpus, self.split_seed) if is_table(corpus)
                                     else load_corpus(corpus, self.data_dir, seed=self.split_seed))
        return self._corpora[corpus]

    def split(self, corpus: str, split: str, *, keep: Callable[[Record], bool] | None = None,
              stratify: Callable[[Record], str] | None = None, limit: bool = True) -> list[Record]:
        rows = [r for r in self.records(corpus) if r.split == split and (keep is None or keep(r))]
        if not rows:
            raise DataError(f"corpus {corpus} has no {split} records for this task")
        if not limit:
            return rows
        k = self.max_train if split == "train" else self.max_eval
        return subsample(rows, k, self.seed, stream=(corpus, split), stratify=stratify)


def _table_records(spec: str, split_seed: int) -> list[Record]:
    table = parse_table_spec(spec)
    records = read_spec(table)
    if len(records) < MIN_TABLE_ROWS:
        raise DataError(f"only {len(records)} rows; an evaluation table is split 80/10/10 (train, dev and test of a "
                        f"probe) and needs at least {MIN_TABLE_ROWS}", path=table.path,
                        fix="add rows (a few hundred give stable correlations)")
    return with_seeded_splits(records, [r.text for r in records], split_seed)


def _embed(store: EmbeddingStore, corpus: str, split: str, rows: Sequence[Record]) -> np.ndarray:
    return store.embed(corpus, split, [r.text for r in rows])


def has_va(r: Record) -> bool:
    return r.valence is not None and r.arousal is not None


def _va(rows: Sequence[Record]) -> np.ndarray:
    return np.array([[r.valence, r.arousal] for r in rows], dtype=np.float64)


def _run_va(spec: TaskSpec, ctx: EvalData, store: EmbeddingStore) -> tuple[dict, dict]:
    rows = {s: ctx.split(spec.corpus, s, keep=has_va) for s in ctx.probe_splits}
    x = {s: _embed(store, spec.corpus, s, rs) for s, rs in rows.items()}
    test = (x["test"], _va(rows["test"])) if "test" in rows else (None, None)
    probe = va_regression_probe(x["train"], _va(rows["train"]), x["dev"], _va(rows["dev"]), *test, seed=ctx.seed)
    metrics = {**probe.metrics, **_dev_score(probe, ctx), "chosen_alpha": probe.chosen["alpha"],
               **{f"n_{s}": len(rs) for s, rs in rows.items()}}
    return metrics, {"dev_scores": probe.dev_scores, **_test_rows(ctx, rows, probe)}


def _test_rows(ctx: EvalData, rows: Mapping[str, Sequence[Record]], probe) -> dict:
    """With ``keep_predictions``: each test row's id, gold label and probe prediction, so that two models
    scored on the same rows can be compared text by text (:mod:`carl.evaluation.paired_bootstrap`)."""
    if not ctx.keep_predictions or probe.test_predictions is None:
        return {}
    test = rows["test"]
    gold = _va(test).round(6).tolist() if probe.test_predictions.ndim == 2 else [r.labels[0] for r in test]
    pred = probe.test_predictions
    return {"test_rows": {"ids": [r.id for r in test], "gold": gold,
                          "pred": pred.round(6).tolist() if pred.dtype.kind == "f" else pred.tolist()}}


def _dev_score(probe, ctx: EvalData) -> dict:
    """In dev-only runs, ``dev_score``: the probe's selection score at its chosen setting (mean
    dev Pearson r of V and A for regression, dev macro-F1 for classification)."""
    if not ctx.dev_only:
        return {}
    (name, value), = probe.chosen.items()
    return {"dev_score": probe.dev_scores[f"{name}={value:g}"]}


DEV_SCORED_KINDS = ("va_regression", "classification")
"""Task kinds with a dev split, which ``run_tasks(dev_only=True)`` scores."""


def dev_scored_tasks() -> list[str]:
    """The registry's tasks that ``run_tasks(dev_only=True)`` scores, in registry order."""
    return [t for t in known_tasks() if task_spec(t).kind in DEV_SCORED_KINDS]


def probe_dev_scores(record: Mapping, tasks: Sequence[str] | None = None) -> dict[str, float]:
    """Each probe task's dev score in a stored evaluation (``run_tasks``' result as the grid writes it): the
    best of the probe's ``dev_scores``, i.e. its dev selection score at the setting it chose. No test metric
    is read. ``tasks``: only these (default: every task whose details carry dev scores)."""
    details = record["result"]["_meta"]["details"]
    names = tasks if tasks is not None else [t for t, detail in details.items() if "dev_scores" in detail]
    return {task: max(details[task]["dev_scores"].values()) for task in names}


def label_filter(spec: TaskSpec) -> Callable[[Record], bool]:
    """Which records a classification task keeps (single-label only, where the task says so)."""
    if spec.single_label_only:
        return lambda r: len(r.labels) == 1

    def exactly_one(r: Record) -> bool:
        if len(r.labels) != 1:
            raise DataError(f"task {spec.name}: record {r.id} of {r.corpus} has labels {list(r.labels)}; "
                            "a single-label task needs exactly one")
        return True

    return exactly_one


def _run_classification(spec: TaskSpec, ctx: EvalData, store: EmbeddingStore) -> tuple[dict, dict]:
    keep = label_filter(spec)
    rows = {s: ctx.split(spec.corpus, s, keep=keep, stratify=single_label) for s in ctx.probe_splits}
    x = {s: _embed(store, spec.corpus, s, rs) for s, rs in rows.items()}
    y = {s: np.array([r.labels[0] for r in rs]) for s, rs in rows.items()}
    test = (x["test"], y["test"]) if "test" in rows else (None, None)
    exclude = spec.exclude_label if spec.exclude_label in set(y["train"].tolist()) else None
    if spec.exclude_label and exclude is None:
        log.warning("task %s: %r absent from the (subsampled) train split; macro-F1 without it not reported",
                    spec.name, spec.exclude_label)
    probe = classification_probe(x["train"], y["train"], x["dev"], y["dev"], *test, seed=ctx.seed,
                                 exclude_label_from_macro_f1=exclude)
    metrics = {**probe.metrics, **_dev_score(probe, ctx), "chosen_C": probe.chosen["C"], **{f"n_{s}": len(rs) for s, rs in rows.items()},
               "n_classes": int(len(np.unique(y["train"])))}
    return metrics, {"dev_scores": probe.dev_scores, **_test_rows(ctx, rows, probe)}


def _run_mteb(spec: TaskSpec, ctx: EvalData, store: EmbeddingStore) -> tuple[dict, dict]:
    keep = label_filter(spec)
    train = ctx.split(spec.corpus, "train", keep=keep, limit=False)  # the protocol samples from all of train
    test = ctx.split(spec.corpus, "test", keep=keep, stratify=single_label)
    seed = MTEB_SEED + ctx.seed  # seed 0 is mteb's own seed 42
    out = run_emotion_classification(store, {"train": train, "test": test}, seed=seed, batch_size=store.batch_size)
    metrics = {**out["metrics"], "n_experiments": out["n_experiments"], "samples_per_label": out["samples_per_label"],
               "mteb_seed": seed, "n_train_pool": len(train), "n_train_embedded": out["n_encoded"].get("train"),
               "n_test": len(test)}
    return metrics, {"reference": f"mteb {out['mteb_version']} EmotionClassification (AbsTaskClassification: "
                                  "samples_per_label=16, 10 experiments, LogisticRegression(max_iter=100), eval split "
                                  "test, main score accuracy), run by mteb.evaluate on the local CARER files",
                     "mteb_version": out["mteb_version"],
                     "accuracy_per_experiment": [float(e["accuracy"]) for e in out["scores"]["scores_per_experiment"]],
                     "max_train": "not applied: the protocol draws 16 examples per label from the full train split"}


def _run_geometry(spec: TaskSpec, ctx: EvalData, store: EmbeddingStore) -> tuple[dict, dict]:
    eb = ctx.split("emobank", "test", keep=has_va)
    cr = ctx.split("carer", "test", keep=lambda r: len(r.labels) == 1, stratify=single_label)
    x_eb, x_cr = _embed(store, "emobank", "test", eb), _embed(store, "carer", "test", cr)
    i, j = va_positive_pairs(_va(eb), radius=VA_RADIUS, max_pairs=MAX_PAIRS, seed=ctx.seed)
    a, b = positive_pairs_by_label(np.array([r.labels[0] for r in cr]), max_pairs=MAX_PAIRS, seed=ctx.seed)
    metrics = {
        "alignment_va": alignment(x_eb[i], x_eb[j]) if len(i) else math.nan,
        "alignment_label": alignment(x_cr[a], x_cr[b]) if len(a) else math.nan,
        "uniformity_emobank": uniformity(x_eb),
        "uniformity_carer": uniformity(x_cr),
        "n_pairs_va": int(len(i)), "n_pairs_label": int(len(a)), "n_emobank": len(eb), "n_carer": len(cr),
    }
    return metrics, {"pair_rules": {"alignment_va": f"EmoBank test, normalised V-A within Euclidean radius "
                                                    f"{VA_RADIUS}, at most {MAX_PAIRS} pairs",
                                    "alignment_label": f"CARER test, same emotion label, at most {MAX_PAIRS} pairs"},
                     "alignment_alpha": 2, "uniformity_t": 2}


def _run_va_head_classes(spec: TaskSpec, ctx: EvalData, store: EmbeddingStore) -> tuple[dict, dict]:
    head = VAHead.load(store.model_path)  # a folder without one: the error names the command that fits it
    rows = ctx.split(spec.corpus, "test", keep=lambda r: len(r.labels) == 1, stratify=single_label)
    labels = [r.labels[0] for r in rows]
    va = head.predict(_embed(store, spec.corpus, "test", rows))  # clipped to [0, 1], as predict_va answers
    return separation_metrics(va, labels), {"class_means": class_means(va, labels),
                                            "head": {"training_corpora": list(head.training_corpora),
                                                     "alpha": head.alpha,
                                                     "class_weight": head.info.get("class_weight")}}


def _run_emotion_head(spec: TaskSpec, ctx: EvalData, store: EmbeddingStore) -> tuple[dict, dict]:
    return run_emotion_head_task(spec, ctx, store)


_RUNNERS = {"va_regression": _run_va, "classification": _run_classification, "mteb_classification": _run_mteb,
            "geometry": _run_geometry, "va_head_classes": _run_va_head_classes, "emotion_head": _run_emotion_head}


SEEDED_SPLIT_CORPORA = ("facebook-va", "tec", "mr", "cr", "mpqa", "semeval-headlines", "sentiment140")
"""Corpora without a published split: ``load_corpus(..., seed=split_seed)`` cuts them 80/10/10."""


def _split_seed_from(metadata: Mapping) -> int | None:
    try:
        value = metadata["config"]["data"]["split_seed"]
    except (KeyError, TypeError):
        return None
    return int(value) if value is not None else None


def _trained_on(metadata: Mapping) -> list[str]:
    try:
        train = metadata["config"]["data"]["train"]
    except (KeyError, TypeError):
        return []
    return [str(t) for t in (train or [])]


def split_seed_note(metadata: Mapping, split_seed: int, task_names: Sequence[str]) -> tuple[str | None, list[str]]:
    """(note, corpora at risk) when a model was trained with another ``data.split_seed`` than
    the evaluation's: the seeded test splits it is scored on may then hold its training rows.
    ``corpora at risk``: seeded corpora that the tasks evaluate on and the model trained on."""
    trained_seed = _split_seed_from(metadata)
    if trained_seed is None or trained_seed == int(split_seed):
        return None, []
    evaluated = {task_spec(n).corpus for n in task_names} & set(SEEDED_SPLIT_CORPORA)
    at_risk = sorted(evaluated & set(_trained_on(metadata)))
    if at_risk:
        note = (f"WARNING: the model was trained with data.split_seed={trained_seed} on {', '.join(at_risk)}; this "
                f"evaluation uses split seed {split_seed}, so its test rows of {', '.join(at_risk)} may be in the "
                f"model's training data (scores optimistic). Re-run with --split-seed {trained_seed} for this model "
                "alone, or retrain it with data.split_seed=" + str(split_seed) + ".")
    else:
        note = (f"note: the model was trained with data.split_seed={trained_seed}, this evaluation uses {split_seed}; "
                "it did not train on a seeded-split corpus that these tasks score, so its test rows are unseen.")
    return note, at_risk


def _training_tables(metadata: Mapping) -> set[str]:
    """Paths of the tables a model was trained on (its ``carl.json``), to flag non-held-out scores."""
    try:
        train = list(metadata["config"]["data"]["train"] or [])
    except (KeyError, TypeError):
        return set()
    return {parse_table_spec(item).path for item in train if isinstance(item, str) and is_table(item)}


def package_versions(extra: Sequence[str] = ()) -> dict[str, str]:
    """Python's and the installed versions of the packages a result depends on (plus ``extra``)."""
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for dist in dict.fromkeys(("carl-affect", "numpy", "scikit-learn", "scipy", "torch", "sentence-transformers",
                               "transformers", "mteb", *extra)):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out


def run_tasks(model_ref: str, task_names: str | Sequence[str] | None, data_dir: str | os.PathLike | None = None, *,
              seed: int = 0, max_train: int | None = None, cache_dir: str | os.PathLike | None = None,
              max_eval: int | None = None, split_seed: int = 0, batch_size: int = 64,
              device: str | None = None, store: EmbeddingStore | None = None, dev_only: bool = False,
              keep_predictions: bool = False) -> dict:
    """Score one model on evaluation tasks.

    ``task_names``: ``"all"``, a comma list or a sequence of names from :data:`TASKS`.
    ``seed``: probe seed (logistic regression), seed of the ``max_train`` / ``max_eval``
    subsamples and of the positive-pair samples; ``carer-mteb`` uses MTEB's seed 42 + ``seed``.
    ``max_train`` / ``max_eval``: subsample train / dev+test splits (seeded, stratified for
    classification) to fit a CPU budget; both are recorded, and such numbers are not
    comparable to full-split ones. ``split_seed``: seed of the 80/10/10 split of the corpora
    without an official one (:data:`SEEDED_SPLIT_CORPORA`), default 0. It is *not* read from
    the model: every model of a comparison must be scored on the same test rows. When the
    model's ``carl.json`` says it trained with another ``data.split_seed``, ``_meta`` records it
    (``model_split_seed``) with a note, and a warning is logged when it trained on a seeded
    corpus these tasks score (its test rows may then be training rows: ``split_overlap_risk``).
    ``cache_dir``: where embeddings are cached (None: no disk cache).
    ``dev_only``: choose methods on dev without reading a test split: each probe task embeds
    train and dev only and reports its selection score as ``dev_score``; tasks without a dev
    split (``carer-mteb``, ``geometry``) are refused. ``keep_predictions``: each probe task's
    ``_meta.details[task].test_rows`` holds every test row's id, gold label and prediction.

    Returns ``{task: {metric: value, ...}, ..., "_meta": {...}}``; each task holds its test
    metrics, the chosen hyper-parameter and split sizes (``n_train`` ...), ``_meta`` the
    arguments, model path, cache counters, timings, per-task details and versions.
    """
    names = resolve_task_names(task_names)
    if dev_only:
        no_dev = [n for n in names if task_spec(n).kind not in DEV_SCORED_KINDS]
        if no_dev:
            raise CarlError(f"task(s) {', '.join(no_dev)} have no dev split; a dev-only evaluation scores the probe "
                            f"tasks: {', '.join(dev_scored_tasks())}")
    for label, value in (("max_train", max_train), ("max_eval", max_eval)):
        if value is not None and int(value) < 2:
            raise CarlError(f"{label} must be at least 2; got {value}")
    store = store or EmbeddingStore(model_ref, cache_dir, batch_size=batch_size, device=device)
    model_meta = store.metadata
    split_seed = int(split_seed if split_seed is not None else 0)
    note, at_risk = split_seed_note(model_meta, split_seed, names)
    if at_risk:
        log.warning("%s: %s", store.model_ref, note)
    folder = resolve_data_dir(data_dir)
    ctx = EvalData(data_dir=folder, seed=int(seed), split_seed=int(split_seed), max_train=max_train,
                   max_eval=max_eval, dev_only=dev_only, keep_predictions=keep_predictions)
    started = time.time()
    results: dict = {}
    details: dict = {}
    seconds: dict = {}
    trained_on = _training_tables(model_meta)
    for entry in names:
        spec = task_spec(entry)
        name = spec.name
        if spec.name not in TASKS and spec.name in trained_on:
            log.warning("%s is among the training data of %s: its scores are not held-out", name, store.model_path)
        t0 = time.time()
        log.info("task %s on %s", name, store.model_path)
        metrics, extra = _RUNNERS[spec.kind](spec, ctx, store)
        results[name] = {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in metrics.items()}
        details[name] = {"description": spec.description, "kind": spec.kind, "corpus": spec.corpus, **extra}
        seconds[name] = round(time.time() - t0, 3)
    results["_meta"] = {
        "model": store.model_ref,
        "model_path": str(store.model_path),
        "model_fingerprint": store.fingerprint,
        "model_metadata": {k: model_meta[k] for k in ("base_model", "step", "pooling", "max_seq_length")
                           if k in model_meta},
        "tasks": names,
        "seed": int(seed),
        "split_seed": int(split_seed),
        "model_split_seed": _split_seed_from(model_meta),
        "split_seed_note": note,
        "split_overlap_risk": at_risk,
        "max_train": max_train,
        "max_eval": max_eval,
        "subsampled": max_train is not None or max_eval is not None,
        "dev_only": dev_only,
        "data_dir": str(folder),
        "cache_dir": str(store.cache_dir) if store.cache_dir is not None else None,
        "batch_size": store.batch_size,
        "cache": store.counters(),
        "seconds": seconds,
        "total_seconds": round(time.time() - started, 3),
        "details": details,
        "versions": package_versions(),
    }
    return results
