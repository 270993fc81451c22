"""Fitting the heads that ship in a model folder (``va_head.json``, ``emotion_head.json``).

The head itself (reading, writing, predicting) is inference: :class:`carl.inference.heads.va.VAHead`.
Fitting it needs what evaluation has: the corpora, the probe protocol and its helpers. The V-A
head is a Ridge regression from L2-normalised embeddings to (valence, arousal), fitted as the V-A
probe is (:func:`carl.evaluation.probes.va_regression_probe`): alpha chosen on the dev split by
mean Pearson r of V and A, then fitted on the train split alone, so the dev metrics it records are
honest. ``carl train`` fits one after training; ``python -m carl.va_head MODEL`` fits one later.

The emotion head (:class:`carl.inference.heads.emotions.EmotionHead`) is fitted the same way on
GoEmotions (:func:`train_emotion_head`): logistic regression, C chosen on dev, fitted on train, dev
metrics in the file; ``carl fit-heads MODEL`` fits both heads on any sentence-transformers folder.
"""

from __future__ import annotations

import argparse
import datetime
import logging
from dataclasses import dataclass
import json
import os
import pathlib
import sys
from typing import Sequence

import numpy as np
from sklearn.linear_model import Ridge

from carl.data import load_corpus, resolve_data_dir
from carl.data.specs import is_table, read_spec, split_specs
from carl.data.splits import seeded_split
from carl.errors import CarlError, ModelError
from carl.evaluation.probes import _check_grid, _check_split, _score_for_selection, _strongest_best, va_metrics
from carl.evaluation.tasks import has_va, subsample
from carl.inference import load
from carl.inference.heads.emotions import (DEFAULT_LABEL_SET, LABEL_SETS, MULTI_LABEL, EmotionHead, check_label_set,
                                           probe_record)
from carl.evaluation.va_classes import arousal_auc, valence_auc
from carl.inference.heads.base import l2_normalise
from carl.inference.heads.va import HEAD_FILE, VAHead

log = logging.getLogger(__name__)

__all__ = ["CLASS_WEIGHTS", "ClassTexts", "class_rows", "DEFAULT_CLASS_CORPORA", "DEFAULT_ALPHAS", "DEFAULT_CORPORA", "NoEmotionData", "TooFewTexts", "fit_emotion_head", "fit_va_head", "main",
           "train_emotion_head", "train_va_head"]

DEFAULT_ALPHAS = (0.01, 0.1, 1, 10, 100)
DEFAULT_CORPORA = ("emobank", "facebook-va")
DEFAULT_CLASS_CORPORA = ("carer", "goemotions-ekman")
"""Emotion corpora whose single-label texts can anchor the V-A head's circumplex (their label's NRC-VAD point):
``--class-corpora carer,goemotions-ekman``. Opt-in: on the main job's model no class weight keeps the rated dev
Pearson within :data:`DEV_TOLERANCE` (results/va-head-classes/README.md), so by default the head is fitted as before."""
CLASS_WEIGHTS = (0.0, 0.03, 0.1, 0.3, 1.0)
"""Total weight of the class texts relative to the rated texts' (0: the rated-only head)."""
DEV_TOLERANCE = 0.005
"""How far below the rated-only head's mean dev Pearson r of V and A a head with class texts may fall."""
MAX_CLASS_TRAIN, MAX_CLASS_DEV = 6000, 2000
"""Single-label texts per class corpus (seeded subsamples) that fit the head and choose its weight."""


class TooFewTexts(CarlError):
    """Too few texts to choose the head's alpha (a small table without a dev table)."""


@dataclass(frozen=True)
class ClassTexts:
    """Texts of one emotion corpus for the V-A head: embeddings, their label's NRC-VAD point (the target,
    as in training, :mod:`carl.data.lexicon`) and the label (for the dev AUCs of :mod:`carl.evaluation.va_classes`)."""

    corpus: str
    embeddings: np.ndarray
    va: np.ndarray
    labels: tuple[str, ...]


def class_rows(records, corpus: str, split: str, limit: int | None) -> list:
    """The single-label ``split`` texts of an emotion corpus that anchor the V-A head (their label's NRC-VAD point
    as target): at most ``limit``, a seeded subsample, the same for every model."""
    return subsample([r for r in records if r.split == split and len(r.labels) == 1 and has_va(r)], limit, 0,
                     stream=(corpus, "va-head", split))


def _ridge_candidates(x, y, class_train: Sequence[ClassTexts], weights: Sequence[float], alphas: Sequence[float]):
    """Yield ``(weight, alpha, model)``: Ridge on the rated rows (weight 1 each) plus the class texts, whose
    sample weights sum to ``weight`` times the rated rows' (so ``weight`` reads the same at any corpus size)."""
    cx = np.vstack([c.embeddings for c in class_train]) if class_train else np.zeros((0, x.shape[1]))
    cy = np.vstack([c.va for c in class_train]) if class_train else np.zeros((0, 2))
    for weight in weights:
        if weight == 0 or not len(cx):
            rows, targets, sample_weight = x, y, None
        else:
            rows, targets = np.vstack([x, cx]), np.vstack([y, cy])
            sample_weight = np.concatenate([np.ones(len(x)), np.full(len(cx), weight * len(x) / len(cx))])
        for alpha in alphas:
            yield weight, alpha, Ridge(alpha=alpha).fit(l2_normalise(rows), targets, sample_weight=sample_weight)


def fit_va_head(embeddings, va, *, alphas: Sequence[float] = DEFAULT_ALPHAS, dev_embeddings, dev_va,
                training_corpora: Sequence[str] = (), class_train: Sequence[ClassTexts] = (),
                class_dev: Sequence[ClassTexts] = (), class_weights: Sequence[float] = CLASS_WEIGHTS,
                tolerance: float = DEV_TOLERANCE) -> VAHead:
    """Fit the head: Ridge on L2-normalised ``embeddings`` -> ``va`` (N, 2), settings chosen on dev.

    Without class texts: the alpha with the highest mean dev Pearson r of V and A wins (ties: the
    largest alpha, i.e. the strongest regularisation; NaN scores never win), as in the V-A probe.

    With ``class_train`` (texts of emotion corpora, their label's NRC-VAD point as target) the rated
    rows are joined by the class texts at total weight ``w`` of :data:`CLASS_WEIGHTS` (``w = 0``: the
    rated-only head), so arousal learns that anger and fear are aroused and sadness is not, which
    EmoBank's mid-scale arousal ratings barely say. Every (``w``, alpha) is scored on dev twice: the
    mean Pearson r of V and A on the rated dev rows, and the mean over ``class_dev`` corpora of the
    arousal AUC (anger + fear vs sadness) and valence AUC (joy vs sadness, anger, fear). Candidates
    whose rated dev Pearson is within ``tolerance`` of the best rated-only head's stay eligible
    ("V-A no worse than before"); among them the highest mean dev AUC wins (ties: the smallest ``w``,
    then the largest alpha). The head is then the chosen candidate, fitted on the train rows only.
    ``metrics`` holds its dev scores; ``info`` every candidate's.
    """
    grid = _check_grid("alphas", alphas)
    x, y = _check_split("train", embeddings, va, y_columns=2)
    dx, dy = _check_split("dev", dev_embeddings, dev_va, y_columns=2)
    if x.shape[1] != dx.shape[1]:
        raise ValueError(f"train and dev embeddings differ in dimension: {x.shape[1]} vs {dx.shape[1]}")
    weights = sorted({0.0, *(float(w) for w in class_weights)}) if class_train else [0.0]
    if class_train and not class_dev:
        raise ValueError("class texts for the V-A head need class dev texts to choose their weight on")
    dev_unit = l2_normalise(dx)
    class_dev_unit = [(texts, l2_normalise(texts.embeddings)) for texts in class_dev]
    candidates = []
    for weight, alpha, model in _ridge_candidates(x, y, class_train, weights, grid):
        pearson = va_metrics(model.predict(dev_unit), dy)["pearson_mean"]
        aucs = {}
        for texts, unit in class_dev_unit:
            pred = model.predict(unit)
            aucs[texts.corpus] = {"arousal_auc": arousal_auc(pred[:, 1], texts.labels),
                                  "valence_auc": valence_auc(pred[:, 0], texts.labels)}
        mean_auc = float(np.mean([v for m in aucs.values() for v in m.values()])) if aucs else float("nan")
        candidates.append({"class_weight": weight, "alpha": alpha, "dev_pearson_mean": pearson,
                           "dev_mean_auc": mean_auc, "dev_auc": aucs, "model": model})
    rated_only = {c["alpha"]: _score_for_selection(c["dev_pearson_mean"]) for c in candidates
                  if c["class_weight"] == 0}
    best_alpha = _strongest_best(rated_only, strongest_first=sorted(rated_only, reverse=True))
    chosen = next(c for c in candidates if c["class_weight"] == 0 and c["alpha"] == best_alpha)
    if class_train:
        floor = chosen["dev_pearson_mean"] - tolerance
        eligible = [c for c in candidates if c["dev_pearson_mean"] >= floor and np.isfinite(c["dev_mean_auc"])]
        if eligible:
            chosen = max(eligible, key=lambda c: (round(c["dev_mean_auc"], 12), -c["class_weight"], c["alpha"]))
    model = chosen["model"]
    head = VAHead(coef=model.coef_, intercept=model.intercept_, alpha=chosen["alpha"],
                  training_corpora=tuple(training_corpora) + tuple(t.corpus for t in class_train
                                                                   if chosen["class_weight"] > 0))
    head.metrics = {f"dev_{k}": v for k, v in va_metrics(head.predict(dev_embeddings, clip=False), dy).items()}
    if class_dev:
        head.metrics["dev_auc"] = chosen["dev_auc"]
    head.info = {"n_train": int(len(x)), "n_dev": int(len(dx)),
                 "dev_scores": {f"alpha={c['alpha']:g}": c["dev_pearson_mean"] for c in candidates
                                if c["class_weight"] == 0},
                 "selection": "alpha with the highest mean dev Pearson r of V and A; fitted on train only"}
    if class_train:
        head.info.update({
            "class_weight": chosen["class_weight"], "tolerance": tolerance,
            "class_corpora": {t.corpus: int(len(t.embeddings)) for t in class_train},
            "class_dev": {t.corpus: int(len(t.embeddings)) for t in class_dev},
            "candidates": [{k: c[k] for k in ("class_weight", "alpha", "dev_pearson_mean", "dev_mean_auc", "dev_auc")}
                           for c in candidates],
            "selection": (f"class weight and alpha: the highest mean dev AUC (arousal anger + fear vs sadness, valence "
                          f"joy vs sadness / anger / fear, over {', '.join(t.corpus for t in class_dev)}) among the "
                          f"candidates whose rated dev Pearson is within {tolerance:g} of the best rated-only head's; "
                          "fitted on train only")})
    return head


def _split_seed_of(model_dir: pathlib.Path) -> int:
    meta = model_dir / "carl.json"
    try:
        value = json.loads(meta.read_text())["config"]["data"]["split_seed"]
        return int(value)
    except (OSError, KeyError, TypeError, ValueError, json.JSONDecodeError):
        return 0


def train_va_head(model_dir: str | os.PathLike, data_dir: str | os.PathLike | None = None,
                  corpora: Sequence[str] = DEFAULT_CORPORA, *, dev: Sequence[str] | None = None,
                  alphas: Sequence[float] = DEFAULT_ALPHAS, split_seed: int | None = None, batch_size: int = 64,
                  max_train: int | None = None, save: bool = True, on_bad_row: str = "error",
                  class_corpora: Sequence[str] = (), class_weights: Sequence[float] = CLASS_WEIGHTS,
                  max_class_train: int | None = MAX_CLASS_TRAIN, max_class_dev: int | None = MAX_CLASS_DEV) -> VAHead:
    """Embed the training texts with ``carl.load(model_dir)``, fit the head
    (:func:`fit_va_head`) and save it as ``model_dir/va_head.json``.

    ``corpora``: corpus names, whose train split fits the head, and table specs
    (``mine.csv:text=body,valence=v,arousal=a``, :mod:`carl.data.specs`), every row of which
    fits it. ``dev`` chooses the Ridge alpha: corpus names (their dev split) and table specs
    (every row). Default: the dev splits of the named corpora; with tables only, a seeded
    10 % of the tables' texts (grouped by text), and the head is then fitted on the other 90 %.

    Labels are on carl's [0, 1] scale (per corpus, per table file), so the rows are
    simply concatenated. ``split_seed`` (Facebook-VA's seeded split, and the 10 % above)
    defaults to the model's training ``data.split_seed`` (``carl.json``), else 0, so the head
    never trains on rows the evaluation tests on. ``max_train`` subsamples each corpus's
    train split (seeded), for quick runs only.

    ``class_corpora`` (opt-in, e.g. :data:`DEFAULT_CLASS_CORPORA`): emotion corpora whose single-label
    train texts (at most ``max_class_train`` each, seeded) join the fit at a weight chosen on their dev
    texts (``max_class_dev``), see :func:`fit_va_head`; ``()`` fits the rated-only head.
    """
    folder = pathlib.Path(model_dir)
    if not folder.is_dir():
        raise ModelError(f"{folder} is not a model folder; give the folder that `carl train` wrote (OUTPUT/model)")
    corpora = split_specs(list(corpora), what="V-A head corpora")
    dev_specs = split_specs(list(dev), what="V-A head dev data") if dev else None  # [] = the default
    if not corpora:
        raise CarlError("train_va_head needs at least one corpus or table with V-A labels (e.g. emobank)")
    seed = _split_seed_of(folder) if split_seed is None else int(split_seed)
    data = resolve_data_dir(data_dir)
    rows: dict[str, list] = {"train": [], "dev": []}

    def va_rows(spec: str, records: list, split: str) -> list:
        kept = [r for r in records if has_va(r)]
        if not kept:
            raise CarlError(f"{spec} has no {split} records with valence and arousal; a V-A head needs V-A "
                            "labels (e.g. emobank, facebook-va, or a table with valence and arousal columns)")
        return kept

    tables = []
    for spec in corpora:
        if is_table(spec):
            tables.append(va_rows(spec, read_spec(spec, on_bad_row=on_bad_row), "train"))
            continue
        splits = ["train"] + (["dev"] if dev_specs is None else [])
        records = load_corpus(spec, data, splits, seed=seed)
        for split in splits:
            chosen = va_rows(spec, [r for r in records if r.split == split], split)
            rows[split] += subsample(chosen, max_train, 0, stream=(spec, "train")) if split == "train" else chosen
    dev_source = "the dev splits of the named corpora"
    if dev_specs is not None:
        dev_source = f"given: {', '.join(dev_specs)}"
        for spec in dev_specs:
            records = read_spec(spec, split="dev", on_bad_row=on_bad_row) if is_table(spec) else \
                load_corpus(spec, data, ["dev"], seed=seed)
            rows["dev"] += va_rows(spec, records, "dev")
    if tables and not rows["dev"]:
        dev_source = f"10 % of the training tables' texts (seeded split, seed {seed})"
        for records in tables:
            held_out = seeded_split([r.text for r in records], seed)
            rows["train"] += [r for r, split in zip(records, held_out) if split != "dev"]
            rows["dev"] += [r for r, split in zip(records, held_out) if split == "dev"]
        if len(rows["dev"]) < 3:
            raise TooFewTexts(f"too few texts to choose the V-A head's alpha ({len(rows['dev'])} held out of the "
                              "training tables): give a dev table (--set data.dev=[mine-dev.csv:...]) or more rows")
    else:
        for records in tables:
            rows["train"] += records
    embedder = load(folder)
    x = {s: embedder.encode([r.text for r in rows[s]], batch_size=batch_size) for s in ("train", "dev")}
    va = {s: np.array([(r.valence, r.arousal) for r in rows[s]]) for s in ("train", "dev")}
    class_train, class_dev = [], []
    for corpus in class_corpora:
        try:
            records = load_corpus(corpus, data, ["train", "dev"], seed=seed)
        except CarlError as exc:
            raise CarlError(f"class corpus {corpus} for the V-A head cannot be read: {exc}; fetch it (`carl data "
                            "list` says how) or leave it out of --class-corpora") from None
        for split, limit, out in (("train", max_class_train, class_train), ("dev", max_class_dev, class_dev)):
            chosen = class_rows(records, corpus, split, limit)
            out.append(ClassTexts(corpus, embedder.encode([r.text for r in chosen], batch_size=batch_size),
                                  np.array([(r.valence, r.arousal) for r in chosen]), tuple(r.labels[0] for r in chosen)))
    head = fit_va_head(x["train"], va["train"], alphas=alphas, dev_embeddings=x["dev"], dev_va=va["dev"],
                       training_corpora=corpora, class_train=class_train, class_dev=class_dev,
                       class_weights=class_weights)
    head.info.update({"split_seed": seed, "max_train": max_train, "dev_source": dev_source,
                      "created": datetime.datetime.now().isoformat(timespec="seconds")})
    if save:
        head.save(folder)
    return head


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m carl.va_head",
                                     description="Fit a V-A head on a model's embeddings and save it as va_head.json.")
    parser.add_argument("model", help="model folder written by `carl train` (OUTPUT/model)")
    parser.add_argument("--data-dir", default=None, help="corpus folder (default: $CARL_DATA_DIR)")
    parser.add_argument("--corpora", default=",".join(DEFAULT_CORPORA),
                        help="V-A corpora and table specs (mine.csv:text=body,valence=v,arousal=a), comma-separated")
    parser.add_argument("--class-corpora", default="none",
                        help="emotion corpora whose texts anchor arousal and valence (weight chosen on dev); "
                             "'none' for EmoBank + Facebook-VA only")
    parser.add_argument("--dev", default=None, help="what chooses the ridge alpha (default: the corpora's dev splits; "
                                                    "tables only: 10 %% of their texts)")
    parser.add_argument("--split-seed", type=int, default=None,
                        help="seed of Facebook-VA's split (default: the model's training split seed)")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    try:
        head = train_va_head(args.model, args.data_dir, split_specs(args.corpora, what="--corpora"),
                             dev=split_specs(args.dev, what="--dev") if args.dev is not None else None,
                             split_seed=args.split_seed, batch_size=args.batch_size,
                             class_corpora=() if args.class_corpora == "none" else split_specs(args.class_corpora,
                                                                                               what="--class-corpora"))
    except CarlError as exc:
        print(f"carl: error: {exc}", file=sys.stderr)
        return 2
    m = head.metrics
    print(f"V-A head saved to {pathlib.Path(args.model) / HEAD_FILE}: alpha {head.alpha:g}, "
          f"dev Pearson V {m.get('dev_pearson_v', float('nan')):.3f}, A {m.get('dev_pearson_a', float('nan')):.3f}")
    return 0



# ---------------------------------------------------------------- the emotion head (emotion_head.json)

DEFAULT_CS = (0.3, 1, 3, 10, 30)
EMOTION_CORPUS = {"ekman": "goemotions-ekman", "goemotions": "goemotions"}
"""The corpus whose labels fit each label set: GoEmotions (28 labels) and its official Ekman relabelling."""
THRESHOLD_GRID = tuple(np.round(np.arange(0.05, 0.951, 0.025), 3))
FIT_MAX_TRAIN = 8000
"""Training texts ``carl fit-heads`` fits an emotion head on by default (of GoEmotions' 43,410)."""
TRAIN_MAX_TRAIN, TRAIN_MAX_DEV = 2000, 1500
"""The smaller budget of the head ``carl train`` / ``carl run`` fit after training (fast)."""


class NoEmotionData(CarlError):
    """The corpus an emotion head is fitted on is missing or has too few rows of some label."""


def _label_matrix(records, labels: Sequence[str]) -> np.ndarray:
    index = {name: i for i, name in enumerate(labels)}
    y = np.zeros((len(records), len(labels)), dtype=bool)
    for row, record in enumerate(records):
        for name in record.labels:
            y[row, index[name]] = True
    return y


def _f1(gold: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per-column F1 of boolean matrices (0 where a label is neither given nor predicted)."""
    tp = (gold & pred).sum(axis=0).astype(float)
    denom = gold.sum(axis=0) + pred.sum(axis=0)
    return np.divide(2 * tp, denom, out=np.zeros(gold.shape[1]), where=denom > 0)


def _best_thresholds(gold: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per label, the threshold of :data:`THRESHOLD_GRID` with the highest dev F1 (ties: the lowest)."""
    f1 = np.stack([_f1(gold, scores >= t) for t in THRESHOLD_GRID])  # (T, L)
    return np.asarray(THRESHOLD_GRID)[f1.argmax(axis=0)]


def fit_emotion_head(embeddings, labels, *, dev_embeddings, dev_labels, label_set: str, encoder: dict,
                     cs: Sequence[float] = DEFAULT_CS) -> EmotionHead:
    """Fit an emotion head: logistic regression on L2-normalised ``embeddings``, C chosen on dev.

    ``labels`` / ``dev_labels``: (N, L) booleans in the order of ``LABEL_SETS[label_set]``.
    Single-label sets (ekman) fit a multinomial model on the rows with exactly one label, C by dev
    macro-F1; multi-label sets (goemotions) fit one binary model per label (one-vs-rest), choose
    each label's threshold on dev for its F1 and C by the dev macro-F1 at those thresholds
    (thresholds and C both on dev, so that macro-F1 is optimistic; test sets are for the docs'
    measurements). Ties go to the smallest C (the strongest regularisation).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import normalize

    check_label_set(label_set)
    names = LABEL_SETS[label_set]
    grid = _check_grid("C", cs)
    multi = MULTI_LABEL[label_set]
    x, dx = normalize(np.asarray(embeddings, dtype=np.float64)), normalize(np.asarray(dev_embeddings, dtype=np.float64))
    y, dy = np.asarray(labels, dtype=bool), np.asarray(dev_labels, dtype=bool)
    if not multi:
        keep, dkeep = y.sum(axis=1) == 1, dy.sum(axis=1) == 1
        x, y, dx, dy = x[keep], y[keep], dx[dkeep], dy[dkeep]
    missing = [names[j] for j in range(len(names)) if not y[:, j].any() or not dy[:, j].any()]
    if missing:
        raise NoEmotionData(f"too few texts to fit the {label_set} emotion head: no train or dev text labelled "
                            f"{', '.join(missing[:5])}; use more of the corpus (--max-train) or the full corpus")
    dev_scores, fitted = {}, {}
    for c in grid:
        if multi:
            model = OneVsRestClassifier(LogisticRegression(C=c, max_iter=2000)).fit(x, y.astype(int))
            coef = np.vstack([e.coef_ for e in model.estimators_])
            intercept = np.concatenate([e.intercept_ for e in model.estimators_])
        else:
            model = LogisticRegression(C=c, max_iter=2000).fit(x, y.argmax(axis=1))
            coef, intercept = model.coef_, model.intercept_
        head = EmotionHead(label_set=label_set, coef=coef, intercept=intercept, C=c, encoder=encoder)
        scores = head.predict(dx)
        if multi:
            head.thresholds = _best_thresholds(dy, scores)
        f1 = _f1(dy, head.predicted(scores))
        dev_scores[f"C={c:g}"] = float(f1.mean())
        fitted[c] = (head, f1, scores)
    best = max(grid, key=lambda c: (dev_scores[f"C={c:g}"], -c))
    head, f1, scores = fitted[best]
    pred = head.predicted(scores)
    head.metrics = {"dev_macro_f1": float(f1.mean()),
                    "dev_micro_f1": float(_f1(dy.reshape(-1, 1), pred.reshape(-1, 1))[0]),
                    "dev_f1": {name: float(v) for name, v in zip(names, f1)}}
    if not multi:
        head.metrics["dev_accuracy"] = float((pred == dy).all(axis=1).mean())
    head.info = {"n_train": int(len(x)), "n_dev": int(len(dx)), "dev_scores": dev_scores,
                 "selection": ("C with the highest dev macro-F1; fitted on train only" +
                               ("; per-label thresholds chosen on dev for F1 (so the dev F1 is optimistic)"
                                if multi else "; single-label rows only"))}
    return head


def train_emotion_head(model_dir: str | os.PathLike, data_dir: str | os.PathLike | None = None,
                       label_set: str = DEFAULT_LABEL_SET, *, max_train: int | None = FIT_MAX_TRAIN,
                       max_dev: int | None = None, cs: Sequence[float] = DEFAULT_CS, batch_size: int = 64,
                       seed: int = 0, save: bool = True, embedder=None) -> EmotionHead:
    """Embed GoEmotions train (at most ``max_train`` texts, seeded) and dev (``max_dev``) with
    ``carl.load(model_dir)``, fit the ``label_set`` head (:func:`fit_emotion_head`) and save it as
    ``model_dir/emotion_head.json``. Works on any sentence-transformers folder."""
    folder = pathlib.Path(model_dir)
    if not folder.is_dir():
        raise ModelError(f"{folder} is not a model folder; give a sentence-transformers folder (e.g. OUTPUT/model)")
    check_label_set(label_set)
    corpus = EMOTION_CORPUS[label_set]
    try:
        records = load_corpus(corpus, resolve_data_dir(data_dir), ["train", "dev"])
    except CarlError as exc:
        raise NoEmotionData(f"the {label_set} emotion head is fitted on {corpus}, which cannot be read: {exc}") from None
    rows = {s: [r for r in records if r.split == s] for s in ("train", "dev")}
    rows = {"train": subsample(rows["train"], max_train, seed, stream=(corpus, "emotion-head", "train")),
            "dev": subsample(rows["dev"], max_dev, seed, stream=(corpus, "emotion-head", "dev"))}
    embedder = embedder if embedder is not None else load(folder)
    encode = lambda texts: embedder.encode(texts, batch_size=batch_size)  # noqa: E731
    x = {s: encode([r.text for r in rows[s]]) for s in ("train", "dev")}
    y = {s: _label_matrix(rows[s], LABEL_SETS[label_set]) for s in ("train", "dev")}
    encoder = probe_record(encode, embedder.metadata.get("base_model") if hasattr(embedder, "metadata") else None)
    encoder["folder"] = folder.name
    head = fit_emotion_head(x["train"], y["train"], dev_embeddings=x["dev"], dev_labels=y["dev"],
                            label_set=label_set, encoder=encoder, cs=cs)
    head.info.update({"corpus": corpus, "max_train": max_train, "max_dev": max_dev, "subsample_seed": seed,
                      "created": datetime.datetime.now().isoformat(timespec="seconds")})
    if save:
        head.save(folder)
    return head


def describe_emotion_head(head: EmotionHead) -> str:
    m = head.metrics
    return (f"{head.label_set} ({len(head.labels)} labels), C {head.C:g}, dev macro-F1 {m['dev_macro_f1']:.3f} "
            f"on {head.info['n_dev']} texts, fitted on {head.info['n_train']}")
