#!/usr/bin/env python3
"""SetFit beside the union study (issue 38, part 1): fine-tune all-MiniLM-L6-v2 with SetFit's own
trainer on the union's emotion classes, and save the fine-tuned sentence-transformers body as a
model folder that `carl evaluate` / `carl.load` read like any grid model.

    bash scripts/setfit_env.sh                     # once: setfit 1.2.0 beside carl's venv (no clash)
    CARL_DATA_DIR=../shared/data python scripts/setfit_union.py --output-dir runs/setfit-union/seed0 --seed 0
    carl evaluate --model runs/setfit-union/seed0/model --output results/.../setfit-seed0.json

**Texts.** The union study's training texts: `load_records(UNION_TRAIN, data_dir, "train", split_seed,
max_per_spec=8000)` (carl.training.trainer; the same seeded 8,000-text sample of each corpus), of which
SetFit takes the texts that have an emotion label (GoEmotions single-label, DailyDialog, TEC, CARER:
32,000). The rated texts of EmoBank and Facebook-VA have no emotion; the union's class rows gave them
their 3x3 V-A cell, but SetFit is a classifier library for labelled classes, so they are left out here
(the coordinator's choice; `--with-va-cells` puts them in with their V-A cells, as the union's CE row).
Names are unified as in the union (carl.data.emotion_classes: "no emotion" -> neutral, happiness -> joy):
28 classes.

**Budget.** The grid trains 1,000 steps of batch 32 (32,000 texts, each in two views for the
contrastive rows). SetFit trains its body on pairs (CosineSimilarityLoss: cosine 1 for a same-class
pair, 0 otherwise, half of the pairs each): `--max-steps 1000 --batch-size 32` is 32,000 pairs in 1,000
optimiser steps of 32 pairs (64 texts encoded per step, as a contrastive row's two views of 32), max
length 64 tokens, SetFit's own schedule (linear warm-up over 10 %, then linear decay to 0 at the last
step), weight decay 0.01 and gradient clipping at 1.0 as carl's. The learning rate is the grid's (the
union study chose 1e-4 for every contender; SetFit's own default is 2e-5): choose it on dev with
`--stop-after 200 --dev-eval` at each rate, as the grid's cut-schedule trial does (the 1,000-step schedule
stopped after 200 steps, scored by the mean dev score of the 12 probe tasks, no test split read).
No checkpoint selection: the last step is the model (the union grid's runs picked step 900 or 1,000 in
24 of 27 cases).

**Pairs.** SetFit's own sampler (setfit.sampler.ContrastiveDataset) enumerates all n(n+1)/2 pairs of
the training texts and shuffles them: for 32,000 texts that is 512 million pairs, about 20 GB of index
arrays. :class:`UnionTrainer` replaces only that step by drawing the same pairs without listing them:
half positive pairs (a class with probability proportional to its number of pairs, then two of its
texts), half negative pairs (two texts drawn uniformly until their classes differ), interleaved as
SetFit interleaves them, seeded by `--seed`. Everything else (model, loss, trainer, optimiser, schedule,
the logistic-regression head) is SetFit's.

**Output.** OUTPUT/model: the sentence-transformers body (max_seq_length 256 for inference, as carl's
exports; the Normalize module of the base kept) with carl.json (base model, step, the settings above,
the union's data settings) and SetFit's head (model_head.pkl, config_setfit.json: `SetFitModel.from_pretrained`
reads the folder too); OUTPUT/metrics.jsonl (SetFit's logged loss and learning rate), OUTPUT/summary.json
(texts, classes, pairs, seconds per step, versions) and, with `--dev-eval`, OUTPUT/dev.json.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import pathlib
import platform
import sys
import time

from carl.evaluation.report import machine_label
from carl.reproduce.grid import evaluate_job, git_commit
from carl.reproduce.presets import PRESETS

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_SITE = "/tmp/carl-setfit/site"
BASE_MODEL = "minilm"
#: The folder name of SetFit's rows in a grid (GRID/runs/setfit/seedS, GRID/evals/setfit/seedS.json).
GRID_ROW = "setfit"
#: Inference truncation of the saved model (carl's exports: model.max_seq_length); training uses --max-length.
EXPORT_MAX_SEQ_LENGTH = 256


def import_setfit(site: str | None):
    """setfit from the environment, else from the folder scripts/setfit_env.sh installs it into."""
    try:
        import setfit  # noqa: F401
    except ImportError:
        folder = site or os.environ.get("CARL_SETFIT_SITE") or DEFAULT_SITE
        if not pathlib.Path(folder).is_dir():
            sys.exit(f"setfit is not installed: run `bash scripts/setfit_env.sh` (it installs into {folder})")
        sys.path.insert(0, folder)
        import setfit  # noqa: F401
    import setfit

    return setfit


# ------------------------------------------------------------------ texts and classes


def union_texts(data_dir, split_seed: int, max_per_corpus: int, *, with_va_cells: bool = False,
                max_texts: int | None = None) -> tuple[list[str], list[str], dict]:
    """(texts, class names, facts): the union study's training texts with an emotion label (or, with
    ``with_va_cells``, all of them, rated texts in their V-A cell as the union's CE row trains them)."""
    from carl.data import resolve_data_dir
    from carl.data.emotion_classes import emotion_classes, unified
    from carl.reproduce.presets import UNION_TRAIN
    from carl.training.trainer import capped, load_records

    records = load_records(UNION_TRAIN, resolve_data_dir(data_dir), "train", split_seed, max_per_spec=max_per_corpus)
    per_corpus = collections.Counter(r.corpus for r in records)
    if with_va_cells:
        kept, _ = emotion_classes(records, [])
        labels = [r.labels[0] for r in kept]
    else:
        kept = [r for r in records if r.labels]
        labels = [unified(r.labels[0]) for r in kept]
    if max_texts is not None:  # a tiny validation run only: a seeded sample in file order
        index = capped(list(range(len(kept))), max_texts, split_seed)
        kept, labels = [kept[i] for i in index], [labels[i] for i in index]
    facts = {"corpora": UNION_TRAIN, "max_per_corpus": max_per_corpus, "split_seed": split_seed,
             "union_texts_per_corpus": dict(per_corpus),
             "texts_per_corpus": dict(collections.Counter(r.corpus for r in kept)),
             "left_out": "none (rated texts in their 3x3 V-A cell)" if with_va_cells else
             "the rated texts without an emotion label (EmoBank, Facebook-VA)",
             "texts": len(kept), "classes": dict(sorted(collections.Counter(labels).items()))}
    return [r.text for r in kept], labels, facts


# ------------------------------------------------------------------ pairs


def sampled_pairs(texts, labels, n_pairs: int, seed: int) -> list[dict]:
    """``n_pairs`` SetFit pairs (half positive, half negative; label 1.0 / 0.0), interleaved
    positive-negative as setfit.sampler.ContrastiveDataset yields them, drawn without listing
    every pair: positive pairs uniformly over all same-class pairs, negative ones uniformly over
    all different-class pairs (with replacement; SetFit draws without, from n(n+1)/2 pairs)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    names, inverse = np.unique(labels, return_inverse=True)
    members = [np.flatnonzero(inverse == c) for c in range(len(names))]
    sizes = np.array([len(m) for m in members], dtype=np.float64)
    weights = sizes * (sizes + 1) / 2  # SetFit's pairs include a text with itself (combinations with replacement)
    n_pos = n_neg = n_pairs // 2
    classes = rng.choice(len(names), size=n_pos, p=weights / weights.sum())
    positives = [(members[c][rng.integers(sizes[c])], members[c][rng.integers(sizes[c])]) for c in classes]
    negatives: list[tuple[int, int]] = []
    while len(negatives) < n_neg:
        i, j = rng.integers(len(texts), size=(2, 2 * (n_neg - len(negatives)) + 16))
        negatives += [(a, b) for a, b in zip(i, j) if inverse[a] != inverse[b]][: n_neg - len(negatives)]
    pairs = []
    for (a, b), (c, d) in zip(positives, negatives):
        pairs.append({"sentence_1": texts[a], "sentence_2": texts[b], "label": 1.0})
        pairs.append({"sentence_1": texts[c], "sentence_2": texts[d], "label": 0.0})
    return pairs


# ------------------------------------------------------------------ training


def build_trainer(setfit, model, texts, labels, args, callbacks):
    from datasets import Dataset
    from sentence_transformers import losses

    class UnionTrainer(setfit.Trainer):
        """SetFit's Trainer; only its pair generation draws the pairs instead of listing them (see the module doc)."""

        def get_dataset(self, x, y, args, max_pairs=-1):
            if args.loss is not losses.CosineSimilarityLoss or max_pairs == -1:
                return super().get_dataset(x, y, args=args, max_pairs=max_pairs)
            return Dataset.from_list(sampled_pairs(x, y, max_pairs, args.seed)), args.loss(self.model.model_body)

    train = Dataset.from_dict({"text": texts, "label": labels})
    return UnionTrainer(model=model, args=args, train_dataset=train, callbacks=callbacks)


def callbacks_for(out: pathlib.Path, stop_after: int | None):
    from transformers import TrainerCallback

    class Log(TrainerCallback):
        """SetFit's logged loss and learning rate -> metrics.jsonl; seconds per step; the cut of a trial."""

        def __init__(self):
            self.started = self.last = time.time()
            self.step_seconds: list[float] = []
            self.handle = open(out / "metrics.jsonl", "w")

        def on_step_end(self, args, state, control, **kwargs):
            now = time.time()
            self.step_seconds.append(now - self.last)
            self.last = now
            if stop_after is not None and state.global_step >= stop_after:
                control.should_training_stop = True
            return control

        def on_log(self, args, state, control, logs=None, **kwargs):
            row = {"step": state.global_step, **{k: v for k, v in (logs or {}).items() if isinstance(v, (int, float))}}
            self.handle.write(json.dumps(row) + "\n")
            self.handle.flush()

    return Log()


def save_model(model, folder: pathlib.Path, meta: dict, *, with_head: bool) -> None:
    import joblib

    body = model.model_body
    body.max_seq_length = EXPORT_MAX_SEQ_LENGTH
    folder.mkdir(parents=True, exist_ok=True)
    body.save(str(folder), create_model_card=False)
    (folder / "carl.json").write_text(json.dumps(meta, indent=1, default=str))
    if with_head:  # SetFit's own layout: SetFitModel.from_pretrained(folder) reads it
        joblib.dump(model.model_head, folder / "model_head.pkl")
        (folder / "config_setfit.json").write_text(json.dumps({"labels": model.labels, "normalize_embeddings": False}))


def dev_scores(model_dir: pathlib.Path, data_dir, split_seed: int, tasks=None, max_texts: int = 1000) -> dict:
    """Each probe task's dev selection score and their mean, as the grid's learning-rate trial scores
    a trial (carl.reproduce.lr_trial: every probe task, at most 1,000 train / dev texts each, probe seed
    0; no test split embedded)."""
    import statistics

    from carl.evaluation.tasks import dev_scored_tasks, run_tasks

    tasks = list(tasks or dev_scored_tasks())
    result = run_tasks(str(model_dir), tasks, data_dir, seed=0, max_train=max_texts, max_eval=max_texts,
                       split_seed=split_seed, dev_only=True)
    scores = {task: m["dev_score"] for task, m in result.items() if task != "_meta"}
    return {"dev_mean": statistics.mean(scores.values()), "dev_scores": scores,
            "probe_sizes": f"at most {max_texts} train / {max_texts} dev texts per task"}


def grid_eval_path(grid: pathlib.Path, seed: int) -> pathlib.Path:
    """Where a SetFit run's test evaluation goes in a grid folder: beside the grid's own rows."""
    return grid / "evals" / GRID_ROW / f"seed{seed}.json"


def evaluate_as_grid_row(run: pathlib.Path, opts) -> pathlib.Path:
    """Score ``run``/model exactly as the grid scores its rows (carl.reproduce.grid.evaluate_job: the preset's
    tasks, probe sizes and probe seed, the test predictions beside the record); kept if it exists already."""
    summary = json.loads((run / "summary.json").read_text())
    if summary["setfit"].get("seed", opts.seed) != opts.seed:
        sys.exit(f"{run / 'summary.json'}: the run was trained with seed {summary['setfit']['seed']}, not --seed "
                 f"{opts.seed}; give --seed {summary['setfit']['seed']} so its row is filed under that seed")
    path = grid_eval_path(opts.evaluate_into, opts.seed)
    evaluate_job(str(run / "model"), path, PRESETS[opts.preset], opts.data_dir, opts.split_seed,
                 {"variant": GRID_ROW, "seed": opts.seed, "commit": git_commit(ROOT), "train_seconds": summary["seconds"],
                  "best_step": summary["steps"], "best_dev_va_pearson": None, "setfit": summary["setfit"]})
    print(f"evaluated as a grid row: {path}", file=sys.stderr)
    return path


def versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for name in ("setfit", "sentence-transformers", "transformers", "torch", "datasets", "scikit-learn"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", type=pathlib.Path, required=True)
    parser.add_argument("--seed", type=int, default=0, help="SetFit's seed and the pairs' (default 0)")
    parser.add_argument("--learning-rate", type=float, default=1e-4,
                        help="body learning rate (default 1e-4: the union study's choice; SetFit's own default 2e-5)")
    parser.add_argument("--max-steps", type=int, default=1000, help="optimiser steps; pairs = steps x batch size")
    parser.add_argument("--batch-size", type=int, default=32, help="pairs per step (default 32)")
    parser.add_argument("--max-length", type=int, default=64, help="tokens per text in training (default 64)")
    parser.add_argument("--stop-after", type=int, default=None,
                        help="stop after this many steps of the --max-steps schedule (a cut-schedule lr trial)")
    parser.add_argument("--max-per-corpus", type=int, default=8000, help="the union's cap per corpus (default 8000)")
    parser.add_argument("--split-seed", type=int, default=0, help="data.split_seed of the union study (default 0)")
    parser.add_argument("--data-dir", default=None, help="corpus folder (default $CARL_DATA_DIR)")
    parser.add_argument("--model", default=BASE_MODEL, help="base encoder (default minilm: all-MiniLM-L6-v2)")
    parser.add_argument("--with-va-cells", action="store_true",
                        help="also train on the rated texts, in their 3x3 V-A cell (the union's CE row's classes)")
    parser.add_argument("--max-texts", type=int, default=None, help="validation runs only: a seeded sample of texts")
    parser.add_argument("--no-head", action="store_true",
                        help="skip SetFit's logistic-regression head (carl scores the body; trials need no head)")
    parser.add_argument("--dev-eval", action="store_true", help="score the body on every probe task's dev split")
    parser.add_argument("--setfit-site", default=None, help=f"where setfit_env.sh installed setfit ({DEFAULT_SITE})")
    parser.add_argument("--evaluate-into", type=pathlib.Path, default=None, metavar="GRID",
                        help="score the body on the test splits as a grid row: GRID/evals/setfit/seedS.json and its "
                             "test predictions, with the --preset's probe settings (paired_gaps.py reads them)")
    parser.add_argument("--preset", default="cpu-union-labels", help="the grid preset whose probes --evaluate-into "
                                                                     "uses (default cpu-union-labels)")
    opts = parser.parse_args(argv)
    if opts.evaluate_into is not None and opts.preset not in PRESETS:
        parser.error(f"--preset {opts.preset!r} is not a grid preset; known: {', '.join(PRESETS)}")

    out = opts.output_dir
    if (out / "summary.json").is_file():
        if opts.evaluate_into is None:
            sys.exit(f"{out} holds a finished run (summary.json); give another --output-dir")
        print(f"{out} is trained (summary.json); evaluating it only", file=sys.stderr)
        evaluate_as_grid_row(out, opts)
        return

    setfit = import_setfit(opts.setfit_site)
    import torch
    from setfit import SetFitModel, TrainingArguments

    from carl.inference.encoders import resolve_model_path

    out.mkdir(parents=True, exist_ok=True)
    texts, labels, facts = union_texts(opts.data_dir, opts.split_seed, opts.max_per_corpus,
                                       with_va_cells=opts.with_va_cells, max_texts=opts.max_texts)
    print(f"{facts['texts']} texts, {len(facts['classes'])} classes; {opts.max_steps * opts.batch_size} pairs in "
          f"{opts.max_steps} steps of {opts.batch_size}" + (f", stopping after {opts.stop_after}" if opts.stop_after
                                                             else ""), file=sys.stderr)
    names = sorted(set(labels))  # SetFit's convention: integer labels 0..k-1, their names in model.labels
    ids = [names.index(label) for label in labels]
    model = SetFitModel.from_pretrained(resolve_model_path(opts.model), labels=names)
    model.model_body.max_seq_length = opts.max_length
    args = TrainingArguments(output_dir=str(out / "setfit-checkpoints"), batch_size=opts.batch_size,
                             max_steps=opts.max_steps, body_learning_rate=opts.learning_rate,
                             max_length=opts.max_length, seed=opts.seed, report_to="none", save_strategy="no",
                             logging_steps=10, show_progress_bar=True)
    log = callbacks_for(out, opts.stop_after)
    trainer = build_trainer(setfit, model, texts, ids, args, [log])
    started = time.time()
    if opts.no_head or opts.stop_after:
        trainer.train_embeddings(texts, ids)
    else:
        trainer.train()
    seconds = time.time() - started
    steps = len(log.step_seconds)
    settings = {"trainer": f"setfit {setfit.__version__} Trainer (pair sampling drawn, see scripts/setfit_union.py)",
                "loss": "CosineSimilarityLoss", "pairs": opts.max_steps * opts.batch_size,
                "positive_fraction": 0.5, "batch_size_pairs": opts.batch_size, "max_steps": opts.max_steps,
                "stopped_after": steps, "learning_rate": opts.learning_rate, "schedule": "linear, 10 % warm-up",
                "weight_decay": 0.01, "max_length": opts.max_length, "seed": opts.seed,
                "head": None if (opts.no_head or opts.stop_after) else "LogisticRegression (SetFit's default)"}
    meta = {"base_model": opts.model, "step": steps, "pooling": "mean", "max_seq_length": EXPORT_MAX_SEQ_LENGTH,
            "setfit": settings, "classes": names,
            "config": {"data": {"train": facts["corpora"], "split_seed": opts.split_seed,
                                "max_train_per_corpus": opts.max_per_corpus, "max_length": opts.max_length,
                                "discrete_labels": "emotion (texts with an emotion label only)"
                                if not opts.with_va_cells else "emotion"},
                       "train": {"seed": opts.seed, "batch_size": opts.batch_size, "max_steps": opts.max_steps,
                                 "learning_rate": opts.learning_rate}}}
    save_model(model, out / "model", meta, with_head=settings["head"] is not None)
    if (out / "setfit-checkpoints").is_dir() and not any((out / "setfit-checkpoints").iterdir()):
        (out / "setfit-checkpoints").rmdir()  # SetFit's output_dir; nothing is saved there (save_strategy="no")
    timed = log.step_seconds[1:] or log.step_seconds  # the first step includes the data loader's start
    summary = {"command": " ".join(["python", "scripts/setfit_union.py", *(argv or sys.argv[1:])]),
               "date": datetime.datetime.now().astimezone().isoformat(timespec="minutes"),
               "steps": steps, "seconds": seconds, "seconds_per_step": sum(timed) / max(1, len(timed)),
               "machine": machine_label(), "torch_threads": torch.get_num_threads(),
               "data": facts, "setfit": settings, "versions": versions()}
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    if opts.dev_eval:
        (out / "dev.json").write_text(json.dumps(dev_scores(out / "model", opts.data_dir, opts.split_seed), indent=1))
    print(f"saved {out / 'model'} ({steps} steps, {summary['seconds_per_step']:.2f} s/step)", file=sys.stderr)
    if opts.evaluate_into is not None:
        evaluate_as_grid_row(out, opts)


if __name__ == "__main__":
    main()
