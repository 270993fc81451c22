#!/usr/bin/env python3
"""Why carl and not a lexicon: VADER and NRC-VAD word means against V-A heads on the frozen
encoder, CARL (the paper's recipe) and CARL+ queue, on EmoBank test and Facebook-VA test,
in-corpus and cross-corpus (a head trained on one corpus scoring the other's test split).

    CARL_DATA_DIR=../shared/data python scripts/lexicon_vs_carl.py            # trains both CARL models (CPU preset)
    python scripts/lexicon_vs_carl.py --carl-model paper=DIR --carl-model carl-plus-queue=DIR   # existing models

Scorers (every number is Pearson r against the gold ratings of a test split):

* VADER compound and NRC-VAD word means (``carl.evaluation.lexicon_scorers``): zero-shot, no
  training data; VADER has valence only.
* frozen encoder / CARL / CARL+ queue, each with a V-A head (``carl.evaluation.head_fitting.fit_va_head``: Ridge
  on L2-normalised embeddings, alpha chosen on the dev splits of the head's own training corpora,
  fitted on their train splits; never a test split). In-corpus: the head carl ships with a model
  (trained on EmoBank + Facebook-VA train), and a head trained on the scored corpus alone.
  Cross-corpus: a head trained on EmoBank only scoring Facebook-VA test, and the reverse. Scores
  are the unclipped head outputs, as the V-A probe.

Each encoder cell is also given as a difference to the better lexicon of that cell, with a 95 %
paired-bootstrap interval (both scorers resampled on the same texts, 2,000 resamples, seed 0).

CARL models are trained here with ``carl train --config CONFIG --recipe R`` (default: the CPU
preset, 600 steps) into ``RUN_DIR/R/`` (default runs/lexicon-vs-carl, git-ignored); re-running
continues an unfinished training from its last checkpoint and reuses a finished one and the
cached embeddings (RUN_DIR/embeddings). The CARL encoders were trained on EmoBank + Facebook-VA
train, so in the cross-corpus rows only the *head* has not seen the target corpus: the report
says so. Writes OUTPUT_DIR/lexicon_vs_carl.md and .json (command, machine, date; no absolute paths).
``--max-steps``, ``--max-train`` and ``--max-eval`` make smoke runs, whose tables say they are not results.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import pathlib
import sys
from collections.abc import Sequence

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    try:
        import carl  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(ROOT / "src"))

from carl.errors import CarlError  # noqa: E402

CORPORA = ("emobank", "facebook-va")
CORPUS_NAMES = {"emobank": "EmoBank", "facebook-va": "Facebook-VA"}
RECIPES = {"paper": "CARL (paper)", "carl-plus-queue": "CARL+ queue"}
DEFAULT_CONFIG = ROOT / "src" / "carl" / "configs" / "cpu.yaml"
FORMAT = "carl-lexicon-vs-carl/1"
#: head name -> the corpora whose train split fits it (dev split chooses alpha)
HEADS = {"both": CORPORA, "emobank": ("emobank",), "facebook-va": ("facebook-va",)}


def display_path(path: str | os.PathLike) -> str:
    """A path as a committed report may show it: relative to the working directory or the
    repository when under one, else only its last two parts (never this machine's absolute path)."""
    p = pathlib.Path(path)
    if not p.is_absolute():
        return p.as_posix()
    for base in (pathlib.Path.cwd(), ROOT):
        try:
            return p.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            continue
    return ".../" + "/".join(p.parts[-2:])


def shown_argument(arg: str) -> str:
    """A command-line argument with any absolute path in it (ARG or KEY=PATH) shown by display_path."""
    key, sep, value = arg.partition("=")
    if sep and os.path.isabs(value):
        return f"{key}={display_path(value)}"
    return display_path(arg) if os.path.isabs(arg) else arg


def pearson_with_ci(pred: np.ndarray, gold: np.ndarray) -> dict:
    """Pearson r with a 95 % confidence interval (Fisher z), and n."""
    from scipy.stats import pearsonr

    n = len(gold)
    if n < 4 or np.std(pred) == 0 or np.std(gold) == 0:
        return {"r": float("nan"), "ci95": [float("nan"), float("nan")], "n": n}
    r = float(pearsonr(pred, gold)[0])
    z, half = math.atanh(max(min(r, 0.999999), -0.999999)), 1.959964 / math.sqrt(n - 3)
    return {"r": r, "ci95": [math.tanh(z - half), math.tanh(z + half)], "n": n}


def _rows_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of each row pair of (B, N) arrays."""
    x = x - x.mean(axis=1, keepdims=True)
    y = y - y.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x * y).sum(axis=1) / np.sqrt((x * x).sum(axis=1) * (y * y).sum(axis=1))


def paired_difference(pred: np.ndarray, reference: np.ndarray, gold: np.ndarray, *, resamples: int = 2000,
                      seed: int = 0) -> dict:
    """r(pred) - r(reference) on the same texts, with a 95 % paired-bootstrap interval (percentile):
    both scorers are resampled together, so the interval accounts for their shared texts."""
    n = len(gold)
    delta = float(_rows_pearson(pred[None], gold[None])[0] - _rows_pearson(reference[None], gold[None])[0])
    idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    boot = _rows_pearson(pred[idx], gold[idx]) - _rows_pearson(reference[idx], gold[idx])
    boot = boot[np.isfinite(boot)]
    lo, hi = (np.percentile(boot, [2.5, 97.5]) if len(boot) else (float("nan"), float("nan")))
    return {"delta": delta, "ci95": [float(lo), float(hi)], "resamples": resamples}


#: how each row of the difference table picks a head for a test corpus
HEAD_SETTINGS = {"shipped": lambda corpus: "both", "same-corpus": lambda corpus: corpus,
                 "cross-corpus": lambda corpus: next(c for c in CORPORA if c != corpus)}


def differences_to_lexicons(lexicons: dict, lexicon_pred: dict, encoder_pred: dict, splits: dict) -> dict:
    """{encoder: {setting: {corpus: {dim: paired_difference vs the best lexicon (+ "lexicon")}}}}. The
    best lexicon of a cell is the one with the higher test r there (for arousal NRC-VAD, the only one):
    chosen on test, which favours the lexicon, never the encoder."""
    out: dict = {}
    for corpus in CORPORA:
        gold = splits[corpus]["test"][1]
        for i, dim in enumerate(("valence", "arousal")):
            candidates = [k for k in lexicons if dim in lexicons[k]["test"][corpus]
                          and lexicons[k]["test"][corpus][dim]["r"] == lexicons[k]["test"][corpus][dim]["r"]]
            if not candidates:
                continue
            best = max(candidates, key=lambda k: lexicons[k]["test"][corpus][dim]["r"])
            for name, preds in encoder_pred.items():
                for setting, head_for in HEAD_SETTINGS.items():
                    diff = paired_difference(preds[(head_for(corpus), corpus)][:, i], lexicon_pred[(best, corpus, dim)],
                                             gold[:, i])
                    out.setdefault(name, {}).setdefault(setting, {}).setdefault(corpus, {})[dim] = {
                        **diff, "lexicon": lexicons[best]["name"]}
    return out


# ---------------------------------------------------------------- data


def load_splits(data_dir, split_seed: int, max_train: int | None, max_eval: int | None) -> dict:
    """{corpus: {split: (texts, va (N, 2))}}; train subsampled to max_train, dev/test to max_eval (seeded)."""
    from carl.data import load_corpus
    from carl.evaluation.tasks import has_va, subsample

    out: dict = {}
    for corpus in CORPORA:
        records = load_corpus(corpus, data_dir, ["train", "dev", "test"], seed=split_seed)
        for split in ("train", "dev", "test"):
            rows = [r for r in records if r.split == split and has_va(r)]
            rows = subsample(rows, max_train if split == "train" else max_eval, 0, stream=(corpus, split))
            out.setdefault(corpus, {})[split] = ([r.text for r in rows],
                                                 np.array([(r.valence, r.arousal) for r in rows], dtype=np.float64))
    return out


# ---------------------------------------------------------------- models


def train_recipe(recipe: str, config: pathlib.Path, run_dir: pathlib.Path, data_dir, max_steps: int | None,
                 sets: Sequence[str] = ()) -> dict:
    """Train (or continue, or reuse) ``carl train --config CONFIG --recipe RECIPE [--set K=V ...]`` in RUN_DIR/RECIPE."""
    from carl.config import CarlConfig, recipe_overrides
    from carl.training import checkpoint as ckpt
    from carl.training.trainer import train

    out = run_dir / recipe
    cfg = CarlConfig.load(config).override(recipe_overrides(recipe))
    settings = {"train.output_dir": str(out), "train.max_steps": max_steps, "data.data_dir": data_dir}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep:
            raise CarlError(f"--set {item!r}: expected KEY=VALUE, e.g. --set train.batch_size=16")
        settings[key] = value
    cfg = cfg.override({k: v for k, v in settings.items() if v is not None})
    steps = cfg.train.max_steps
    summary_path = out / "summary.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        if steps is not None and summary.get("steps") != steps:
            raise CarlError(f"{out} holds a finished {summary.get('steps')}-step training, not {steps} steps: "
                            "give another --run-dir (or delete that folder)")
        print(f"{recipe}: finished training found in {display_path(out)}", file=sys.stderr)
    else:
        resume = bool(ckpt.complete_checkpoints(out / "checkpoints")) if (out / "checkpoints").is_dir() else False
        print(f"{recipe}: {'continuing' if resume else 'starting'} training in {display_path(out)} "
              f"({steps} steps)", file=sys.stderr)
        result = train(cfg.override({"train.resume": resume}).validate())
        if not result.finished:
            raise CarlError(f"{recipe}: training stopped at step {result.steps}; re-run to continue")
        summary = json.loads(summary_path.read_text())
    return {"recipe": recipe, "model": out / "model", "trained_here": True, "steps": summary.get("steps"),
            "best_step": summary.get("best_step"), "config": display_path(config)}


def encoder_scores(model_ref: str, splits: dict, cache_dir: pathlib.Path, batch_size: int,
                   predictions: dict | None = None) -> dict:
    """Fit the three heads on this encoder's embeddings and score both test splits.
    Returns {head: {"alpha", "dev": metrics, "test": {corpus: {"valence": .., "arousal": ..}}}};
    ``predictions`` (if given) receives {(head, corpus): (N, 2) test predictions}."""
    from carl.evaluation.embedding_store import EmbeddingStore
    from carl.evaluation.head_fitting import fit_va_head

    store = EmbeddingStore(model_ref, cache_dir, batch_size=batch_size)
    x = {c: {s: store.embed(c, s, splits[c][s][0]) for s in ("train", "dev", "test")} for c in CORPORA}
    results = {}
    for head_name, corpora in HEADS.items():
        head = fit_va_head(np.concatenate([x[c]["train"] for c in corpora]),
                           np.concatenate([splits[c]["train"][1] for c in corpora]),
                           dev_embeddings=np.concatenate([x[c]["dev"] for c in corpora]),
                           dev_va=np.concatenate([splits[c]["dev"][1] for c in corpora]), training_corpora=corpora)
        test = {}
        for corpus in CORPORA:
            pred, gold = head.predict(x[corpus]["test"], clip=False), splits[corpus]["test"][1]
            if predictions is not None:
                predictions[(head_name, corpus)] = pred
            test[corpus] = {"valence": pearson_with_ci(pred[:, 0], gold[:, 0]),
                            "arousal": pearson_with_ci(pred[:, 1], gold[:, 1])}
        results[head_name] = {"alpha": head.alpha, "trained_on": list(corpora), "dev": head.metrics, "test": test}
    return results


def lexicon_scores(splits: dict, data_dir, predictions: dict | None = None) -> dict:
    """Pearson r of both lexicons on both test splits; ``predictions`` (if given) receives
    {(lexicon, corpus, dimension): (N,) scores}."""
    from carl.evaluation.lexicon_scorers import NrcVadScorer, VaderScorer

    out = {}
    for key, scorer, dims in (("vader", VaderScorer(), ("valence",)),
                              ("nrc-vad", NrcVadScorer.from_data_dir(data_dir), ("valence", "arousal"))):
        out[key] = {"name": scorer.name, "test": {}, "coverage": {}}
        for corpus in CORPORA:
            texts, gold = splits[corpus]["test"]
            scores = scorer.score(texts)
            out[key]["test"][corpus] = {d: pearson_with_ci(scores.values[:, i], gold[:, i]) for i, d in enumerate(dims)}
            if predictions is not None:
                predictions.update({(key, corpus, d): scores.values[:, i] for i, d in enumerate(dims)})
            out[key]["coverage"][corpus] = scores.coverage
    return out


# ---------------------------------------------------------------- report


def _cell(stat: dict | None, ci: bool = True) -> str:
    if stat is None:
        return "–"
    r = stat["r"]
    if r is None or (isinstance(r, float) and math.isnan(r)):
        return "nan"
    lo, hi = stat["ci95"]
    return f"{r:.3f} [{lo:.2f}, {hi:.2f}]" if ci else f"{r:.3f}"


def _delta(stat: dict | None) -> str:
    if not stat or stat.get("delta") is None:
        return "–"
    lo, hi = stat["ci95"]
    return f"{stat['delta']:+.3f} [{lo:+.2f}, {hi:+.2f}]" if lo is not None else f"{stat['delta']:+.3f}"


def markdown(report: dict) -> str:
    lex, enc = report["lexicons"], report["encoders"]
    eb, fb = "emobank", "facebook-va"
    lines = ["# Lexicons against carl: Pearson r on EmoBank and Facebook-VA test", ""]
    if report["smoke"]:
        lines += [f"**Smoke run, not results**: {report['smoke']}.", ""]
    lines += ["## In-corpus (carl's shipped head: EmoBank + Facebook-VA train; and a head of the scored corpus alone)", "",
              "| scorer | trained on | EmoBank V | EmoBank A | Facebook-VA V | Facebook-VA A |",
              "|---|---|---|---|---|---|"]
    for key in ("vader", "nrc-vad"):
        t = lex[key]["test"]
        lines.append(f"| {lex[key]['name']} | nothing (zero-shot) | {_cell(t[eb].get('valence'))} | "
                     f"{_cell(t[eb].get('arousal'))} | {_cell(t[fb].get('valence'))} | {_cell(t[fb].get('arousal'))} |")
    for name, info in enc.items():
        t = info["heads"]["both"]["test"]
        lines.append(f"| {name} + V-A head | {info['trained_on']} | {_cell(t[eb]['valence'])} | "
                     f"{_cell(t[eb]['arousal'])} | {_cell(t[fb]['valence'])} | {_cell(t[fb]['arousal'])} |")
    for name, info in enc.items():
        e, f = info["heads"]["emobank"]["test"][eb], info["heads"]["facebook-va"]["test"][fb]
        lines.append(f"| {name} + same-corpus head | head: the scored corpus's train only | {_cell(e['valence'])} | "
                     f"{_cell(e['arousal'])} | {_cell(f['valence'])} | {_cell(f['arousal'])} |")
    lines += ["", "## Cross-corpus (the head never saw the corpus it scores)", "",
              "| scorer | head EmoBank → Facebook-VA V | A | head Facebook-VA → EmoBank V | A |", "|---|---|---|---|---|"]
    for key in ("vader", "nrc-vad"):
        t = lex[key]["test"]
        lines.append(f"| {lex[key]['name']} (no head) | {_cell(t[fb].get('valence'))} | {_cell(t[fb].get('arousal'))} | "
                     f"{_cell(t[eb].get('valence'))} | {_cell(t[eb].get('arousal'))} |")
    for name, info in enc.items():
        to_fb, to_eb = info["heads"]["emobank"]["test"][fb], info["heads"]["facebook-va"]["test"][eb]
        lines.append(f"| {name} + V-A head | {_cell(to_fb['valence'])} | {_cell(to_fb['arousal'])} | "
                     f"{_cell(to_eb['valence'])} | {_cell(to_eb['arousal'])} |")
    diffs = report["differences_to_best_lexicon"]
    lines += ["", "## Difference to the best lexicon (r − r of the better lexicon of each cell; paired bootstrap 95 % CI)",
              "", "| encoder | head | EmoBank V | EmoBank A | Facebook-VA V | Facebook-VA A |", "|---|---|---|---|---|---|"]
    for name, settings in diffs.items():
        for setting, cells in settings.items():
            row = [_delta(cells.get(c, {}).get(d)) for c in (eb, fb) for d in ("valence", "arousal")]
            lines.append(f"| {name} | {setting} | " + " | ".join(row) + " |")
    best = {f"{CORPUS_NAMES[c]} {d[0].upper()}": cell["lexicon"]
            for c, dims in next(iter(next(iter(diffs.values())).values())).items() for d, cell in dims.items()} \
        if diffs else {}
    n = {c: report["sizes"][c]["test"] for c in CORPORA}
    cov = {k: lex[k]["coverage"] for k in lex}
    if best:
        lines += ["", "Better lexicon per cell (chosen on test, which favours the lexicon): "
                  + ", ".join(f"{k}: {v}" for k, v in best.items()) + ". Heads: shipped = EmoBank + Facebook-VA "
                  "train (carl's default); same-corpus = the scored corpus's train; cross-corpus = the other corpus's "
                  "train. An interval that excludes 0 is a difference on these texts; one that contains 0 is not."]
    lines += ["", f"Pearson r [95 % CI, Fisher z] on {n[eb]} EmoBank and {n[fb]} Facebook-VA test texts "
                  f"(split seed {report['arguments']['split_seed']}). VADER has no arousal (–). "
                  "Texts without a lexicon word score neutral (NRC-VAD 0.5, VADER 0): NRC-VAD covers "
                  f"{cov['nrc-vad'][eb]:.0%} / {cov['nrc-vad'][fb]:.0%} of the EmoBank / Facebook-VA test texts, "
                  f"VADER {cov['vader'][eb]:.0%} / {cov['vader'][fb]:.0%}. Heads: Ridge on L2-normalised "
                  "embeddings, alpha chosen on the dev splits of the head's training corpora, unclipped outputs.",
              "", "Cross-corpus caveat: the CARL encoders were trained on EmoBank + Facebook-VA train, so in the "
                  "cross-corpus rows only their head is new to the target corpus; the frozen encoder and the "
                  "lexicons never saw either corpus.", "", "| model | source | steps | best dev step |",
              "|---|---|---|---|"]
    for name, info in enc.items():
        lines.append(f"| {name} | `{info['model']}` | {info.get('steps') or '–'} | {info.get('best_step') or '–'} |")
    if report["arguments"]["sets"]:
        lines += ["", "Training settings changed from the preset: " + ", ".join(f"`{s}`" for s in report["arguments"]["sets"])
                  + "."]
    lines += ["", f"date: {report['created']}; machine: {report['machine']}; command: `{report['command']}`", ""]
    return "\n".join(lines)


def run(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--carl-model", action="append", default=[], metavar="RECIPE=DIR",
                        help="use an existing model folder for a recipe (paper, carl-plus-queue) instead of training")
    parser.add_argument("--config", type=pathlib.Path, default=DEFAULT_CONFIG, help="training preset (default cpu.yaml)")
    parser.add_argument("--max-steps", type=int, default=None, help="training steps (default: the preset's)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="training setting, as `carl train --set` (repeatable)")
    parser.add_argument("--run-dir", type=pathlib.Path, default=pathlib.Path("runs/lexicon-vs-carl"))
    parser.add_argument("--output-dir", type=pathlib.Path, default=pathlib.Path("results/lexicon-vs-carl"))
    parser.add_argument("--frozen", default="minilm", help="the frozen encoder (default minilm, CARL's base)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--split-seed", type=int, default=0, help="Facebook-VA's seeded split (the models' own)")
    parser.add_argument("--max-train", type=int, default=None, help="smoke runs: head training texts per corpus")
    parser.add_argument("--max-eval", type=int, default=None, help="smoke runs: dev and test texts per corpus")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)

    from carl.data import resolve_data_dir
    from carl.evaluation.report import machine_label
    from carl.io import atomic_write

    given = {}
    for item in args.carl_model:
        recipe, sep, folder = item.partition("=")
        if not sep or recipe not in RECIPES:
            raise CarlError(f"--carl-model {item!r}: expected RECIPE=DIR with RECIPE one of {', '.join(RECIPES)}")
        if not pathlib.Path(folder).is_dir():
            raise CarlError(f"--carl-model {item!r}: {folder} is not a model folder (OUTPUT/model of `carl train`)")
        given[recipe] = pathlib.Path(folder)
    data_dir = resolve_data_dir(args.data_dir)
    splits = load_splits(data_dir, args.split_seed, args.max_train, args.max_eval)
    args.run_dir.mkdir(parents=True, exist_ok=True)

    models = {}
    for recipe, name in RECIPES.items():
        if recipe in given:
            models[name] = {"recipe": recipe, "model": given[recipe], "trained_here": False}
        else:
            models[name] = train_recipe(recipe, args.config, args.run_dir, args.data_dir, args.max_steps,
                                        args.sets)
    frozen = shown_argument(args.frozen)
    encoder_pred: dict = {f"frozen {frozen}": {}}
    encoders = {f"frozen {frozen}": {"model": frozen, "trained_on": "head only: EmoBank + Facebook-VA train",
                                     "heads": encoder_scores(args.frozen, splits, args.run_dir / "embeddings",
                                                             args.batch_size, encoder_pred[f"frozen {frozen}"])}}
    for name, info in models.items():
        print(f"scoring {name}", file=sys.stderr)
        encoders[name] = {"model": display_path(info["model"]), "recipe": info["recipe"],
                          "trained_here": info["trained_here"], "steps": info.get("steps"),
                          "best_step": info.get("best_step"),
                          "trained_on": "encoder + head: EmoBank + Facebook-VA train",
                          "heads": encoder_scores(str(info["model"]), splits, args.run_dir / "embeddings",
                                                  args.batch_size, encoder_pred.setdefault(name, {}))}
    lexicon_pred: dict = {}
    lexicons = lexicon_scores(splits, data_dir, lexicon_pred)
    preset_steps = None
    try:
        from carl.config import CarlConfig

        preset_steps = CarlConfig.load(args.config).train.max_steps
    except CarlError:
        pass
    smoke = [s for s in (f"max_train={args.max_train}" if args.max_train else "",
                         f"max_eval={args.max_eval}" if args.max_eval else "",
                         f"max_steps={args.max_steps} (preset: {preset_steps})"
                         if args.max_steps is not None and args.max_steps != preset_steps and
                         any(m["trained_here"] for m in models.values()) else "") if s]
    shown_argv = [shown_argument(a) for a in (sys.argv[1:] if argv is None else argv)]
    report = {
        "format": FORMAT,
        "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(["python scripts/lexicon_vs_carl.py", *shown_argv]),
        "machine": machine_label(),
        "smoke": ", ".join(smoke),
        "arguments": {"config": display_path(args.config), "max_steps": args.max_steps,
                      "sets": [shown_argument(a) for a in args.sets], "split_seed": args.split_seed,
                      "max_train": args.max_train, "max_eval": args.max_eval, "frozen": frozen,
                      "run_dir": display_path(args.run_dir)},
        "sizes": {c: {s: len(splits[c][s][0]) for s in ("train", "dev", "test")} for c in CORPORA},
        "lexicons": lexicons,
        "encoders": encoders,
        "differences_to_best_lexicon": differences_to_lexicons(lexicons, lexicon_pred, encoder_pred, splits),
    }
    from carl.inference.heads.base import finite_or_none as _finite_or_none

    report = _finite_or_none(report)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = args.output_dir / "lexicon_vs_carl.json", args.output_dir / "lexicon_vs_carl.md"
    text = json.dumps(report, indent=1, allow_nan=False)
    atomic_write(json_path, lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))
    md = markdown(report)
    atomic_write(md_path, lambda tmp: tmp.write_text(md, encoding="utf-8"))
    print(md)
    print(f"written: {display_path(md_path)}, {display_path(json_path)}", file=sys.stderr)
    return report


def main() -> int:
    try:
        run()
    except CarlError as exc:
        print(f"lexicon_vs_carl: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
