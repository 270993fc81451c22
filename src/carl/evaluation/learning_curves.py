"""Learning curves: a frozen-embedding probe's test score as the number of labelled texts grows.

``carl evaluate MODELS --tasks TASK --learning-curve`` answers "how much is a carl encoder
worth at my size?": for each training size n (default 100, 300, 1k, 3k, 10k, 30k, 100k, ...,
up to the train split, whose full size is the last point) it draws several seeded
subsamples of n train texts, fits the project's probe on each draw (logistic regression for
classes, Ridge for V-A: :mod:`carl.evaluation.probes`, hyper-parameter chosen on the **dev**
split), and scores the **fixed test split**. Every model sees the same draws, so the gap to
the reference model (the frozen encoder by default) is computed on paired draws.

Embeddings are computed once per model and split, streamed in chunks into a ``.npy`` file
that is then memory-mapped (:class:`StreamedEmbeddings`); every n and draw reads rows of
that file, so a 1 M-row table needs the disk for its embeddings, not the memory. The file
lives in the embedding cache under the same name :class:`~carl.evaluation.embedding_store.
EmbeddingStore` uses, so ``carl evaluate`` on the same split reads it too, and a second
curve embeds nothing.

Intervals (95 % by default), for each model at each n and for each gap:

* ``interval``: a two-stage percentile bootstrap. Each replicate resamples the draws (with
  replacement) and the test rows (with replacement), and averages the metric over the
  resampled draws; the same resampling is applied to every model, so a gap's interval is
  paired. It covers both sources of variation: which n texts were labelled, and which texts
  happen to be in the test split. This is the band of the plot.
* ``draw_interval``: the t-interval of the mean over draws (training-sample variation only).

At the full train size every draw would be the same set of texts, so that point has one
draw and its interval comes from the test rows alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pathlib
import re
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from carl.data import resolve_data_dir
from carl.data.specs import is_table, parse_table_spec
from carl.errors import CarlError, DataError
from carl.evaluation.curve_statistics import PRIMARY_METRIC, curve_metric, metric_fn, paired_bootstrap, summarise
from carl.evaluation.embedding_store import EmbeddingStore, read_cached, texts_hash
from carl.evaluation.probes import (classification_metrics, classification_probe, fit_va_regressor, l2_normalise,
                                    va_metrics, va_regression_probe)
from carl.evaluation.task_specs import report_metrics_of, task_spec
from carl.evaluation.tasks import EvalData, has_va, label_filter, single_label

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_SIZES", "CurveData", "StreamedEmbeddings", "curve_points", "draw_indices", "learning_curve",
           "load_curve_data", "parse_sizes"]

DEFAULT_SIZES: tuple[int, ...] = (100, 300, 1_000, 3_000, 10_000, 30_000, 100_000, 300_000, 1_000_000)
"""Training sizes of a curve: ~half a decade apart; those above the train split are replaced by
the full train split."""
DEFAULT_DRAWS = 5
DEFAULT_BOOTSTRAP = 1000
CONFIDENCE = 0.95
CHUNK_SIZE = 4096
"""Texts per embedding chunk written to the memory-mapped file."""
CURVE_KINDS = tuple(PRIMARY_METRIC)


# ------------------------------------------------------------------ sizes and draws


def parse_sizes(value: str | Sequence[int] | None) -> list[int]:
    """``"100,300,1k,3k,10000"`` -> [100, 300, 1000, 3000, 10000] (sorted, unique); ``k`` / ``M`` allowed."""
    if value is None:
        return list(DEFAULT_SIZES)
    items = value.split(",") if isinstance(value, str) else list(value)
    sizes = []
    for item in items:
        text = str(item).strip().lower().replace("_", "")
        if not text:
            continue
        scale = {"k": 1_000, "m": 1_000_000}.get(text[-1], 1)
        try:
            number = float(text[:-1] if scale > 1 else text) * scale
        except ValueError:
            raise CarlError(f"--sizes {value!r}: {item!r} is not a number; give a comma list such as "
                            "100,300,1000,3000 (1k and 1M are allowed)") from None
        if number < 2 or number != int(number):
            raise CarlError(f"--sizes {value!r}: {item!r} must be a whole number of texts, at least 2")
        sizes.append(int(number))
    if not sizes:
        raise CarlError(f"--sizes {value!r}: no size given; e.g. --sizes 100,300,1000,3000")
    return sorted(set(sizes))


def curve_points(sizes: Sequence[int], n_train: int) -> list[int]:
    """The sizes below ``n_train``, then ``n_train`` itself when some size reaches it."""
    below = [s for s in sorted(set(sizes)) if s < n_train]
    return below + ([n_train] if any(s >= n_train for s in sizes) else [])


def draw_indices(n_pool: int, n: int, rng: np.random.Generator, labels: np.ndarray | None = None) -> np.ndarray:
    """``n`` of ``range(n_pool)`` without replacement (sorted). With ``labels`` every class keeps
    at least one member when ``n`` allows, so a small draw never loses a class."""
    if n >= n_pool:
        return np.arange(n_pool)
    perm = rng.permutation(n_pool)
    if labels is None:
        return np.sort(perm[:n])
    _, first = np.unique(labels[perm], return_index=True)
    must = perm[np.sort(first)][:n]
    rest = perm[~np.isin(perm, must)][: n - len(must)]
    return np.sort(np.concatenate([must, rest]))


def _draw_rng(seed: int, n: int, draw: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(n), int(draw)])


# ------------------------------------------------------------------ data


@dataclass
class CurveData:
    """One task's texts and targets per split (``y``: class names, or (n, 2) V-A)."""

    task: str
    kind: str
    corpus: str
    description: str
    texts: dict[str, list[str]]
    y: dict[str, np.ndarray]
    exclude_label: str | None = None
    table: str | None = None
    """The table's path when the task is a user's table."""

    @property
    def sizes(self) -> dict[str, int]:
        return {split: len(texts) for split, texts in self.texts.items()}


def _table_error(table, message: str, fix: str) -> DataError:
    return DataError(f"table {table.name}: {message}", path=table.path, fix=fix)


def _check_table_rows(table, records, kind: str, split_seed: int) -> None:
    """The bad inputs a curve on a user's table refuses, each named with the column and the fix."""
    if kind != "classification":
        return
    column = table.label_column
    unlabelled = [r for r in records if not r.labels]
    if unlabelled:
        lines = ", ".join(r.id.removeprefix("L") for r in unlabelled[:5]) + (", ..." if len(unlabelled) > 5 else "")
        raise _table_error(table, f"the label column {column!r} has no value on {len(unlabelled)} of {len(records)} "
                                  f"rows (line {lines})",
                           f"fill in {column!r} on every row, or remove the rows without a label, then run again")
    several = [r for r in records if len(r.labels) > 1]
    if several:
        raise _table_error(table, f"the label column {column!r} holds several labels on {len(several)} rows (first: "
                                  f"line {several[0].id.removeprefix('L')}: {list(several[0].labels)}); a learning "
                                  "curve probes single-label classification",
                           f"keep one label per row in {column!r}")
    classes = sorted({r.labels[0] for r in records})
    if len(classes) < 2:
        raise _table_error(table, f"the label column {column!r} holds one class only ({classes[0]!r} on all "
                                  f"{len(records)} rows); a classifier needs at least two",
                           f"add rows of another class to {column!r}, or name the column that holds the classes: "
                           f"{table.path}:text={table.text_column},label=COL")
    train = {r.labels[0] for r in records if r.split == "train"}
    if len(train) < 2:
        raise _table_error(table, f"the train split (80 % of the rows, split seed {split_seed}) holds one class of "
                                  f"{column!r} only ({sorted(train)}); the other classes are too rare",
                           f"add rows of the rare classes to {column!r} (a few per class at least)")


def _read_table_records(ctx, table, kind: str):
    """A table's records, a missing rating re-worded to name its column."""
    try:
        return ctx.records(table.spec)
    except DataError as err:
        match = re.fullmatch(r"(valence|arousal) is missing", err.message or "")
        if kind != "va_regression" or match is None:
            raise
        what = match[1]
        column = table.valence_column if what == "valence" else table.arousal_column
        raise DataError(f"table {table.name}: the {what} column {column!r} has no value on this row", path=err.path,
                        line=err.line, fix=f"fill in {column!r} on every row, or remove the rows without a "
                                           "rating, then run again") from None


def load_curve_data(task: str, data_dir=None, *, split_seed: int = 0, seed: int = 0,
                    max_eval: int | None = None) -> CurveData:
    """The rows of one task (a registry name such as ``sentiment140``, or a table spec) for a
    curve: the whole train split (draws are taken from it), dev and test (``max_eval``: seeded
    subsample of each, smoke tests only)."""

    spec = task_spec(task)
    if spec.kind not in CURVE_KINDS:
        raise CarlError(f"task {spec.name} ({spec.kind}) has no learning curve; --learning-curve takes classification "
                        "or V-A regression tasks (e.g. sentiment140, sst2, emobank) or your table "
                        "PATH:text=COL,label=COL / PATH:text=COL,valence=COL,arousal=COL")
    ctx = EvalData(data_dir=resolve_data_dir(data_dir), seed=int(seed), split_seed=int(split_seed), max_train=None,
                   max_eval=max_eval)
    table = parse_table_spec(spec.corpus) if is_table(spec.corpus) else None
    if table is not None:
        _check_table_rows(table, _read_table_records(ctx, table, spec.kind), spec.kind, split_seed)
    classification = spec.kind == "classification"
    keep = label_filter(spec) if classification else has_va
    rows = {s: ctx.split(spec.corpus, s, keep=keep, stratify=single_label if classification else None)
            for s in ("train", "dev", "test")}
    if classification:
        y = {s: np.array([r.labels[0] for r in rs]) for s, rs in rows.items()}
    else:
        y = {s: np.array([[r.valence, r.arousal] for r in rs], dtype=np.float64) for s, rs in rows.items()}
    return CurveData(task=spec.name, kind=spec.kind, corpus=spec.corpus, description=spec.description,
                     texts={s: [r.text for r in rs] for s, rs in rows.items()}, y=y, exclude_label=spec.exclude_label,
                     table=table.path if table is not None else None)


# ------------------------------------------------------------------ embeddings


class StreamedEmbeddings:
    """Embeddings of one model per (corpus, split, texts), written chunk by chunk into a ``.npy``
    file and returned memory-mapped (read-only).

    ``store``: the model's :class:`~carl.evaluation.embedding_store.EmbeddingStore` (its model,
    fingerprint and cache folder; the file name is the one the store uses, so either reads what
    the other wrote). Without a cache folder the files go to ``scratch_dir``. Counters:
    ``embedded_texts`` (texts run through the model), ``files_read`` (splits found on disk).
    """

    def __init__(self, store, scratch_dir: str | os.PathLike, *, chunk_size: int = CHUNK_SIZE,
                 progress: Callable[[str], None] | None = None):
        self.store = store
        self.scratch_dir = pathlib.Path(scratch_dir)
        self.chunk_size = int(chunk_size)
        self.progress = progress
        self.embedded_texts = 0
        self.files_read = 0
        self.seconds = 0.0

    def path_for(self, corpus: str, split: str, texts: Sequence[str]) -> pathlib.Path:
        path = self.store.path_for(corpus, split, texts)
        if path is not None:
            return path

        slug = re.sub(r"[^0-9A-Za-z._-]+", "_", corpus).strip("_")[:60] or "table"
        return self.scratch_dir / self.store.fingerprint[:16] / f"{slug}.{split}.{texts_hash(texts)[:24]}.npy"

    def embed(self, corpus: str, split: str, texts: Sequence[str]) -> np.ndarray:
        """(N, H) float32, memory-mapped; computed (in chunks) only when no file holds it yet."""
        path = self.path_for(corpus, split, texts)
        arr = read_cached(path, len(texts), mmap=True)
        if arr is not None:
            self.files_read += 1
            return arr
        if not texts:
            raise DataError(f"{corpus} {split}: no texts to embed")
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + f".{os.getpid()}.partial")
        started = time.time()
        out = None
        try:
            for start in range(0, len(texts), self.chunk_size):
                chunk = list(texts[start:start + self.chunk_size])
                vectors = np.asarray(self.store.embedder.encode(chunk, batch_size=self.store.batch_size),
                                     dtype=np.float32)
                if out is None:
                    out = np.lib.format.open_memmap(partial, mode="w+", dtype=np.float32,
                                                    shape=(len(texts), vectors.shape[1]))
                out[start:start + len(chunk)] = vectors
                self.embedded_texts += len(chunk)
                if self.progress is not None:
                    self.progress(f"{split}: {start + len(chunk):,}/{len(texts):,} texts embedded")
            out.flush()
            del out
            os.replace(partial, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
        self.seconds += time.time() - started
        return np.load(path, mmap_mode="r", allow_pickle=False)


# ------------------------------------------------------------------ one probe fit


def _fit_predict(data: CurveData, x_train: np.ndarray, y_train: np.ndarray, x_dev: np.ndarray, x_test: np.ndarray,
                 seed: int) -> tuple[dict, float, np.ndarray]:
    """(test metrics, chosen hyper-parameter, test predictions) of the project's probe: its
    hyper-parameter chosen on dev by :mod:`carl.evaluation.probes`, then refitted on the draw
    exactly as the probe does, and scored on the test split."""

    if data.kind == "va_regression":
        probe = va_regression_probe(x_train, y_train, x_dev, data.y["dev"], None, None, seed=seed)
        alpha = probe.chosen["alpha"]
        pred = fit_va_regressor(x_train, y_train, alpha=alpha).predict(np.asarray(x_test, dtype=np.float64))
        return va_metrics(pred, data.y["test"]), alpha, pred
    from sklearn.linear_model import LogisticRegression

    # selection only (no test split): the probe chooses C by dev macro-F1 over every class, as in `carl evaluate`
    c = classification_probe(x_train, y_train, x_dev, data.y["dev"], None, None, seed=seed).chosen["C"]
    model = LogisticRegression(C=c, max_iter=1000, random_state=seed).fit(l2_normalise(x_train), y_train)
    pred = model.predict(l2_normalise(x_test))
    # scored with the task's excluded label even on a draw whose train rows lack it: the curve's metric needs it
    return classification_metrics(data.y["test"], pred, data.exclude_label), c, pred


# ------------------------------------------------------------------ the curve


def _default_reference(models: Sequence[tuple[str, str]], stores: Mapping[str, object]) -> tuple[str, str | None]:
    """(reference name, base encoder to add or None): the first model that carl did not train (no
    ``base_model`` in its carl.json), else the frozen base encoder of the first model."""
    for name, path in models:
        if not stores[path].metadata.get("base_model"):
            return name, None
    base = str(stores[models[0][1]].metadata["base_model"])
    return f"frozen {base}", base


def learning_curve(models: Sequence[tuple[str, str]], task: str, data_dir=None, *, sizes: Sequence[int] | None = None,
                   draws: int = DEFAULT_DRAWS, reference: str | None = None, seed: int = 0, split_seed: int = 0,
                   max_eval: int | None = None, bootstrap: int = DEFAULT_BOOTSTRAP, confidence: float = CONFIDENCE,
                   cache_dir: str | os.PathLike | None = None, batch_size: int = 64, chunk_size: int = CHUNK_SIZE,
                   stores: Mapping[str, object] | None = None,
                   progress: Callable[[str], None] | None = None) -> dict:
    """One task's learning curve for ``models`` ([(name, path)]); see the module docstring.

    ``reference``: the name of the model gaps are measured against (default: the first model
    carl did not train, else the frozen base encoder of the first model, added to the curve).
    ``stores``: EmbeddingStores by path to reuse (``carl evaluate`` passes its own).
    Returns a JSON-ready dict: the points (each model's metric and gap per n, with intervals),
    a per-model summary, embedding counts and timings.
    """

    say = progress or (lambda message: None)
    models = list(models)
    names = [name for name, _ in models]
    if len(set(names)) != len(names):
        raise CarlError(f"model names {names}: a learning curve needs one name per model (NAME=PATH,NAME=PATH); "
                        "draws, not repeated names, give its intervals")
    if int(draws) < 1:
        raise CarlError(f"--draws must be at least 1; got {draws}")
    if not 0 < confidence < 1:
        raise CarlError(f"confidence must lie between 0 and 1; got {confidence}")
    sizes = parse_sizes(sizes)
    stores = dict(stores or {})
    for _, path in models:
        if path not in stores:
            stores[path] = EmbeddingStore(path, cache_dir, batch_size=batch_size)
    if reference is None:
        reference, base = _default_reference(models, stores)
        if base is not None:
            models.insert(0, (reference, base))
            if base not in stores:
                stores[base] = EmbeddingStore(base, cache_dir, batch_size=batch_size)
    elif reference not in names:
        raise CarlError(f"--reference {reference!r} is not one of the models ({', '.join(names)}); name one of them, "
                        "e.g. frozen=minilm,carl=runs/main/model --reference frozen")

    started = time.time()
    data = load_curve_data(task, data_dir, split_seed=split_seed, seed=seed, max_eval=max_eval)
    n_train = len(data.texts["train"])
    if n_train < min(sizes):
        where = f"table {pathlib.Path(data.table).name}" if data.table else f"task {data.task}"
        message = (f"{where}: its train split holds {n_train:,} texts (80 % of the usable rows), fewer than the "
                   f"smallest learning-curve size, {min(sizes):,}")
        fix = (f"give smaller sizes (e.g. --sizes {','.join(str(s) for s in _smaller_sizes(n_train))}), or add "
               "labelled rows to the table")
        raise DataError(message, path=data.table, fix=fix) if data.table else CarlError(f"{message}; fix: {fix}")
    points = curve_points(sizes, n_train)
    say(f"{data.task}: train {n_train:,} / dev {len(data.texts['dev']):,} / test {len(data.texts['test']):,} texts; "
        f"sizes {', '.join(f'{n:,}' for n in points)}; {draws} draw(s) each")

    scratch = tempfile.TemporaryDirectory(prefix="carl-curve-")
    try:
        x: dict[str, dict[str, np.ndarray]] = {}
        embedders: dict[str, StreamedEmbeddings] = {}
        model_info = []
        for name, path in models:
            if path not in embedders:
                embedders[path] = StreamedEmbeddings(stores[path], scratch.name, chunk_size=chunk_size,
                                                     progress=lambda m, name=name: say(f"embedding {name}: {m}"))
                x[path] = {s: embedders[path].embed(data.corpus, s, data.texts[s]) for s in ("train", "dev", "test")}
            model_info.append({"name": name, "path": path, "fingerprint": stores[path].fingerprint})
        for info in model_info:
            emb = embedders[info["path"]]
            info.update({"embedded_texts": emb.embedded_texts, "splits_read_from_disk": emb.files_read,
                         "embedding_seconds": round(emb.seconds, 3),
                         "dimension": int(x[info["path"]]["test"].shape[1])})

        classes = np.unique(np.concatenate([data.y[s] for s in ("train", "dev", "test")])) \
            if data.kind == "classification" else None
        exclude = data.exclude_label if classes is not None and data.exclude_label in set(classes.tolist()) else None
        metric = curve_metric(data.kind, exclude)
        gold = np.searchsorted(classes, data.y["test"]) if classes is not None else data.y["test"]
        score_of = metric_fn(data.kind, metric, classes, exclude)
        train_labels = data.y["train"] if data.kind == "classification" else None
        out_points = []
        for n in points:
            n_draws = 1 if n >= n_train else int(draws)
            per_model: dict[str, dict] = {name: {"metrics": [], "chosen": [], "pred": []} for name, _ in models}
            t0 = time.time()
            for d in range(n_draws):
                idx = draw_indices(n_train, n, _draw_rng(seed, n, d), train_labels)
                y_train = data.y["train"][idx]
                for name, path in models:
                    x_train = np.asarray(x[path]["train"][idx])
                    metrics, chosen, pred = _fit_predict(data, x_train, y_train, x[path]["dev"], x[path]["test"], seed)
                    per_model[name]["metrics"].append(metrics)
                    per_model[name]["chosen"].append(chosen)
                    per_model[name]["pred"].append(np.searchsorted(classes, pred) if classes is not None else pred)
                say(f"{data.task}: n={n:,} draw {d + 1}/{n_draws} done")
            preds = {name: v["pred"] for name, v in per_model.items()}
            boot, boot_gap = (paired_bootstrap(preds, gold, score_of, reference, replicates=int(bootstrap),
                                         rng=np.random.default_rng([int(seed), int(n), 7919]))
                              if bootstrap else (None, None))
            shown = report_metrics_of(data.task, list(per_model[reference]["metrics"][0]))
            point: dict = {"n": int(n), "draws": n_draws, "all_of_train": n >= n_train, "models": {}, "gap": {}}
            ref_values = np.array([m[metric] for m in per_model[reference]["metrics"]])
            for name, _ in models:
                runs = per_model[name]["metrics"]
                entry = {m: summarise([r[m] for r in runs], boot[name] if boot is not None and m == metric else None,
                                     confidence) for m in dict.fromkeys([metric, *shown]) if all(m in r for r in runs)}
                entry["chosen"] = [float(c) for c in per_model[name]["chosen"]]
                point["models"][name] = entry
                gap_values = np.array([r[metric] for r in runs]) - ref_values
                gap = summarise(gap_values, boot_gap[name] if boot_gap is not None else None, confidence)
                band = gap.get("interval") or gap["draw_interval"]
                gap["excludes_zero"] = bool(band is not None and (band[0] > 0 or band[1] < 0))
                point["gap"][name] = gap
            point["seconds"] = round(time.time() - t0, 3)
            out_points.append(point)
    finally:
        scratch.cleanup()

    return {
        "task": data.task,
        "kind": data.kind,
        "description": data.description,
        "table": data.table,
        "metric": metric,
        "metrics": [m for m in out_points[0]["models"][reference] if m != "chosen"] if out_points else [metric],
        "classes": [str(c) for c in classes] if classes is not None else None,
        "n_train_pool": n_train,
        "n_dev": len(data.texts["dev"]),
        "n_test": len(data.texts["test"]),
        "sizes_requested": list(sizes),
        "sizes": points,
        "draws": int(draws),
        "reference": reference,
        "confidence": confidence,
        "bootstrap": int(bootstrap),
        "interval": ("percentile bootstrap over draws and test rows (paired across models)" if bootstrap
                     else "t-interval over draws"),
        "seed": int(seed),
        "split_seed": int(split_seed),
        "max_eval": max_eval,
        "models": model_info,
        "points": out_points,
        "summary": _curve_summary(out_points, [n for n, _ in models], reference),
        "seconds": round(time.time() - started, 3),
    }


def _smaller_sizes(n_train: int) -> list[int]:
    ok = [s for s in (10, 30, 100, 300, 1_000, 3_000) if s <= n_train]
    return ok or [max(2, n_train)]


def _curve_summary(points: list[dict], names: Sequence[str], reference: str) -> dict:
    """Per model: where its gain over the reference is largest, and the gain at the largest n."""
    out = {}
    for name in names:
        if name == reference or not points:
            continue
        best = max(points, key=lambda p: p["gap"][name]["mean"])
        last = points[-1]
        gap = last["gap"][name]
        band = gap.get("interval") or gap["draw_interval"]
        verdict = ("above zero" if band and band[0] > 0 else "below zero" if band and band[1] < 0
                   else "not distinguishable from zero")
        out[name] = {"largest_gap_n": best["n"], "largest_gap": best["gap"][name]["mean"],
                     "largest_gap_interval": best["gap"][name].get("interval") or best["gap"][name]["draw_interval"],
                     "largest_n": last["n"], "gap_at_largest_n": gap["mean"], "gap_interval_at_largest_n": band,
                     "at_largest_n": verdict}
    return out
