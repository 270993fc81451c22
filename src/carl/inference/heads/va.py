"""The valence-arousal head that ships inside a model folder: ``va_head.json``.

A Ridge regression from L2-normalised sentence embeddings to (valence, arousal), the same
protocol as the V-A probe (:func:`carl.evaluation.probes.va_regression_probe`): alpha is
chosen on the dev split by mean Pearson r of V and A, then the head is fitted on the train
split alone, so the dev metrics it records are honest.

Stored as JSON only (weights as lists of floats, which round-trip float64 exactly), never
pickle: loading a head executes no code. Predictions are in the per-corpus min-max
normalised [0, 1] scale of carl's V-A labels (docs/data.md) and are **clipped to [0, 1]**
by default, since that scale's ends are the most extreme ratings seen in the training
corpora and a linear model's overshoot past them has no meaning; ``clip=False`` gives the
raw Ridge output (which is what the probe metrics score).

    python -m carl.va_head runs/main/model               # fit on EmoBank + Facebook-VA, save
    from carl.va_head import predict_va
    predict_va("runs/main/model", ["I won", "I lost"])   # (2, 2) valence, arousal
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import pathlib
import sys
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from carl.errors import CarlError, ModelError

__all__ = ["FIT_COMMAND", "HEAD_FILE", "VAHead", "fit_va_head", "predict_va", "train_va_head"]

HEAD_FILE = "va_head.json"
FORMAT = "carl-va-head/1"
DEFAULT_ALPHAS = (0.01, 0.1, 1, 10, 100)
DEFAULT_CORPORA = ("emobank", "facebook-va")
FIT_COMMAND = "python -m carl.va_head {model}"
"""How a user adds a head to a model folder (named in error messages)."""


class TooFewTexts(CarlError):
    """Too few texts to choose the head's alpha (a small table without a dev table)."""


def _normalise(x) -> np.ndarray:
    from carl.evaluation.probes import l2_normalise

    return l2_normalise(np.asarray(x, dtype=np.float64))


@dataclass
class VAHead:
    """Ridge weights mapping L2-normalised embeddings to (valence, arousal).

    ``coef``: (2, H); ``intercept``: (2,); ``alpha``: the Ridge penalty chosen on dev;
    ``training_corpora``: where the labels came from; ``metrics``: dev scores of the fitted
    head (Pearson/Spearman of V and A); ``info``: anything else worth keeping (split sizes,
    dev score of every alpha, split seed, date).
    """

    coef: np.ndarray
    intercept: np.ndarray
    alpha: float
    training_corpora: tuple[str, ...] = ()
    metrics: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        self.coef = np.asarray(self.coef, dtype=np.float64)
        self.intercept = np.asarray(self.intercept, dtype=np.float64)
        if self.coef.ndim != 2 or self.coef.shape[0] != 2:
            raise ModelError(f"V-A head weights must have shape (2, dim); got {self.coef.shape}")
        if self.intercept.shape != (2,):
            raise ModelError(f"V-A head intercept must have 2 values; got shape {self.intercept.shape}")
        if not (np.all(np.isfinite(self.coef)) and np.all(np.isfinite(self.intercept))):
            raise ModelError("V-A head weights contain NaN or infinite values")
        self.training_corpora = tuple(self.training_corpora)

    @property
    def dim(self) -> int:
        return int(self.coef.shape[1])

    def predict(self, embeddings, *, clip: bool = True) -> np.ndarray:
        """(N, 2) valence, arousal in the normalised [0, 1] scale (clipped unless ``clip=False``)."""
        x = np.asarray(embeddings)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ModelError(f"the V-A head expects embeddings of dimension {self.dim}; got shape {x.shape}. "
                             "Was va_head.json fitted for another model?")
        pred = _normalise(x) @ self.coef.T + self.intercept
        return np.clip(pred, 0.0, 1.0) if clip else pred

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "input": "sentence embedding of this model folder, L2-normalised",
            "output": ["valence", "arousal"],
            "scale": "per-corpus min-max normalised [0, 1] (docs/data.md); predictions clipped to [0, 1] by default",
            "alpha": float(self.alpha),
            "dim": self.dim,
            "training_corpora": list(self.training_corpora),
            "metrics": _finite_or_none(self.metrics),
            "info": _finite_or_none(self.info),
            "intercept": [float(v) for v in self.intercept],
            "coef": [[float(v) for v in row] for row in self.coef],
        }

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "V-A head") -> "VAHead":
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ModelError(f"{source}: not a carl V-A head (expected format {FORMAT!r})")
        try:
            return cls(coef=np.array(data["coef"], dtype=np.float64),
                       intercept=np.array(data["intercept"], dtype=np.float64), alpha=float(data["alpha"]),
                       training_corpora=tuple(data.get("training_corpora", ())), metrics=data.get("metrics", {}),
                       info=data.get("info", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{source}: malformed V-A head ({exc})") from None

    def save(self, model_dir: str | os.PathLike) -> pathlib.Path:
        """Write ``model_dir/va_head.json`` atomically; returns its path."""
        from carl.io import atomic_write

        folder = pathlib.Path(model_dir)
        if not folder.is_dir():
            raise ModelError(f"{folder} is not a folder; a V-A head is saved inside a model folder")
        path = folder / HEAD_FILE
        text = json.dumps(self.to_dict(), indent=1, allow_nan=False)
        atomic_write(path, lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))
        return path

    @classmethod
    def load(cls, model_dir: str | os.PathLike) -> "VAHead":
        """Read ``model_dir/va_head.json``; a :class:`ModelError` says how to make one if absent."""
        folder = pathlib.Path(model_dir)
        path = folder / HEAD_FILE
        if not path.is_file():
            raise ModelError(f"{folder} has no V-A head ({HEAD_FILE}); fit one with "
                             f"`{FIT_COMMAND.format(model=folder)}` (Ridge on EmoBank + Facebook-VA, "
                             "saved into the model folder)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"{path}: cannot read the V-A head ({exc}); refit it with "
                             f"`{FIT_COMMAND.format(model=folder)}`") from None
        return cls.from_dict(data, source=str(path))


def _finite_or_none(obj):
    """JSON has no NaN: NaN/inf become null (e.g. a correlation of constant predictions)."""
    if isinstance(obj, dict):
        return {str(k): _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def fit_va_head(embeddings, va, *, alphas: Sequence[float] = DEFAULT_ALPHAS, dev_embeddings, dev_va,
                training_corpora: Sequence[str] = ()) -> VAHead:
    """Fit the head: Ridge on L2-normalised ``embeddings`` -> ``va`` (N, 2), alpha chosen on dev.

    The candidate with the highest mean dev Pearson r of V and A wins (ties: the largest
    alpha, i.e. the strongest regularisation; NaN scores never win), as in the V-A probe; the head is then fitted on the
    train rows only. ``metrics`` holds the chosen head's (unclipped) dev scores.
    """
    from sklearn.linear_model import Ridge

    from carl.evaluation.probes import _check_grid, _check_split, _score_for_selection, _strongest_best, va_metrics

    grid = _check_grid("alphas", alphas)
    x, y = _check_split("train", embeddings, va, y_columns=2)
    dx, dy = _check_split("dev", dev_embeddings, dev_va, y_columns=2)
    if x.shape[1] != dx.shape[1]:
        raise ValueError(f"train and dev embeddings differ in dimension: {x.shape[1]} vs {dx.shape[1]}")
    dev_scores: dict[str, float] = {}
    by_alpha: dict[float, float] = {}
    models = {}
    for alpha in grid:
        model = Ridge(alpha=alpha).fit(x, y)
        score = va_metrics(model.predict(dx), dy)["pearson_mean"]
        dev_scores[f"alpha={alpha:g}"] = score
        by_alpha[alpha], models[alpha] = _score_for_selection(score), model
    best_alpha = _strongest_best(by_alpha, strongest_first=sorted(by_alpha, reverse=True))
    best_model = models[best_alpha]
    head = VAHead(coef=best_model.coef_, intercept=best_model.intercept_, alpha=best_alpha,
                  training_corpora=tuple(training_corpora))
    head.metrics = {f"dev_{k}": v for k, v in va_metrics(head.predict(dev_embeddings, clip=False), dy).items()}
    head.info = {"n_train": int(len(x)), "n_dev": int(len(dx)), "dev_scores": dev_scores,
                 "selection": "alpha with the highest mean dev Pearson r of V and A; fitted on train only"}
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
                  max_train: int | None = None, save: bool = True, on_bad_row: str = "error") -> VAHead:
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
    """
    import carl
    from carl.data import load_corpus, resolve_data_dir
    from carl.data.specs import is_table, read_spec, split_specs
    from carl.data.splits import seeded_split
    from carl.evaluation.tasks import has_va, subsample

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
    embedder = carl.load(folder)
    x = {s: embedder.encode([r.text for r in rows[s]], batch_size=batch_size) for s in ("train", "dev")}
    va = {s: np.array([(r.valence, r.arousal) for r in rows[s]]) for s in ("train", "dev")}
    head = fit_va_head(x["train"], va["train"], alphas=alphas, dev_embeddings=x["dev"], dev_va=va["dev"],
                       training_corpora=corpora)
    head.info.update({"split_seed": seed, "max_train": max_train, "dev_source": dev_source,
                      "created": datetime.datetime.now().isoformat(timespec="seconds")})
    if save:
        head.save(folder)
    return head


def predict_va(model_dir: str | os.PathLike, texts: Sequence[str], *, batch_size: int = 64,
               clip: bool = True) -> np.ndarray:
    """(N, 2) valence and arousal of ``texts`` from a model folder that holds ``va_head.json``."""
    import carl

    head = VAHead.load(model_dir)
    texts = list(texts)
    if not texts:
        return np.empty((0, 2))
    return head.predict(carl.load(model_dir).encode(texts, batch_size=batch_size), clip=clip)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m carl.va_head",
                                     description="Fit a V-A head on a model's embeddings and save it as va_head.json.")
    parser.add_argument("model", help="model folder written by `carl train` (OUTPUT/model)")
    parser.add_argument("--data-dir", default=None, help="corpus folder (default: $CARL_DATA_DIR)")
    parser.add_argument("--corpora", default=",".join(DEFAULT_CORPORA),
                        help="V-A corpora and table specs (mine.csv:text=body,valence=v,arousal=a), comma-separated")
    parser.add_argument("--dev", default=None, help="what chooses the ridge alpha (default: the corpora's dev splits; "
                                                    "tables only: 10 %% of their texts)")
    parser.add_argument("--split-seed", type=int, default=None,
                        help="seed of Facebook-VA's split (default: the model's training split seed)")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    try:
        from carl.data.specs import split_specs

        head = train_va_head(args.model, args.data_dir, split_specs(args.corpora, what="--corpora"),
                             dev=split_specs(args.dev, what="--dev") if args.dev is not None else None,
                             split_seed=args.split_seed, batch_size=args.batch_size)
    except CarlError as exc:
        print(f"carl: error: {exc}", file=sys.stderr)
        return 2
    m = head.metrics
    print(f"V-A head saved to {pathlib.Path(args.model) / HEAD_FILE}: alpha {head.alpha:g}, "
          f"dev Pearson V {m.get('dev_pearson_v', float('nan')):.3f}, A {m.get('dev_pearson_a', float('nan')):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
