"""``carl evaluate``: a plain function with typer-annotated parameters (``carl predict-va`` and
``carl embed`` are :mod:`carl.scoring.commands`).

The CLI registers it::

    app.command("evaluate")(evaluate_command)

User errors raise :class:`carl.errors.CarlError` (the CLI's ``main`` turns them into a
one-paragraph message and exit code 2).
"""

from __future__ import annotations

import pathlib
import re
from typing import List, Optional

import numpy as np
import typer

from carl.data import resolve_data_dir
from carl.errors import CarlError
from carl.evaluation.embedding_store import EmbeddingStore, default_cache_dir
from carl.evaluation.report import markdown_table, write_report
from carl.inference.heads.va import HEAD_FILE, VAHead

__all__ = ["evaluate_command", "make_plots", "parse_models"]


def parse_models(model: str) -> list[tuple[str, str]]:
    """``"a,b"`` / ``"NAME=PATH,NAME=PATH"`` -> [(name, path)]; a bare PATH is its own name."""
    entries = [m.strip() for m in str(model).split(",") if m.strip()]
    if not entries:
        raise CarlError("no model given; pass a model folder (OUTPUT/model), an alias such as minilm, or a hub id")
    out = []
    for entry in entries:
        name, sep, path = entry.partition("=")
        if sep and (not name.strip() or not path.strip()):
            raise CarlError(f"model entry {entry!r}: expected NAME=PATH or PATH")
        if sep and "=" in path and not pathlib.Path(path.strip()).exists():
            raise CarlError(f"model entry {entry!r}: NAME=PATH splits at the first '=', which makes the path "
                            f"{path.strip()!r}, and that does not exist; a name cannot hold '=' (write e.g. "
                            f"'{name.strip()}-{path.split('=')[0].strip()}={path.split('=', 1)[1].strip()}')")
        out.append((name.strip(), path.strip()) if sep else (entry, entry))
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z._-]+", "_", text).strip("_")[:60] or "model"


def make_plots(stores: dict, plots_dir: pathlib.Path, data_dir, *, seed: int = 0, split_seed: int = 0,
               max_train: Optional[int] = None, max_eval: Optional[int] = None) -> list[pathlib.Path]:
    """Figures for a report, one panel per model (``stores``: {name: EmbeddingStore}):

    * ``tsne-carer-test.png``: t-SNE of CARER test, coloured by emotion;
    * ``tsne-emobank-test-valence.png``: t-SNE of EmoBank test, coloured by valence;
    * ``va-circumplex-<name>.png``: predicted vs gold V-A of EmoBank test, from the model's
      ``va_head.json`` when it has one, else from a Ridge probe (train, alpha chosen on dev).
    """
    from carl.evaluation.plots import plot_embeddings_2d, plot_va_circumplex  # lazy: keeps carl --help fast
    from carl.evaluation.probes import fit_va_regressor, va_regression_probe  # lazy: keeps carl --help fast
    from carl.evaluation.tasks import EvalData, has_va, single_label  # lazy: keeps carl --help fast

    data = EvalData(data_dir=resolve_data_dir(data_dir), seed=seed, split_seed=split_seed, max_train=max_train,
                    max_eval=max_eval)
    carer = data.split("carer", "test", keep=lambda r: len(r.labels) == 1, stratify=single_label)
    emobank = {s: data.split("emobank", s, keep=has_va) for s in ("train", "dev", "test")}
    gold = {s: np.array([[r.valence, r.arousal] for r in rows]) for s, rows in emobank.items()}

    def embed(store, corpus, split, rows):
        return store.embed(corpus, split, [r.text for r in rows])

    written = [
        plot_embeddings_2d({name: embed(st, "carer", "test", carer) for name, st in stores.items()},
                           colour_by=np.array([r.labels[0] for r in carer]), colour_kind="categorical",
                           colour_name="emotion (CARER test)", path=plots_dir / "tsne-carer-test.png", seed=seed),
        plot_embeddings_2d({name: embed(st, "emobank", "test", emobank["test"]) for name, st in stores.items()},
                           colour_by=gold["test"][:, 0], colour_kind="continuous", colour_name="valence (EmoBank test)",
                           path=plots_dir / "tsne-emobank-test-valence.png", seed=seed),
    ]
    for name, st in stores.items():
        x_test = embed(st, "emobank", "test", emobank["test"])
        head_path = pathlib.Path(st.model_path) / HEAD_FILE
        if head_path.is_file():
            pred = VAHead.load(st.model_path).predict(x_test)
            how = "V-A head (va_head.json)"
        else:
            x_tr, x_dv = embed(st, "emobank", "train", emobank["train"]), embed(st, "emobank", "dev", emobank["dev"])
            alpha = va_regression_probe(x_tr, gold["train"], x_dv, gold["dev"], x_test, gold["test"]).chosen["alpha"]
            pred = fit_va_regressor(x_tr, gold["train"], alpha=alpha).predict(x_test)
            how = f"Ridge probe, alpha {alpha:g} chosen on dev"
        written.append(plot_va_circumplex(pred, gold["test"], path=plots_dir / f"va-circumplex-{_slug(name)}.png",
                                          title=f"{name}: {how}, EmoBank test", seed=seed))
    return written


def evaluate_command(
    model: str = typer.Argument(..., help="Model folder (OUTPUT/model), alias (minilm) or hub id. Several: a comma "
                                          "list, each optionally NAME=PATH; one NAME given several times (e.g. one "
                                          "per training seed) is reported as mean ± std."),
    tasks: str = typer.Option("all", "--tasks", help="'all' or a comma list: emobank, facebook-va, goemotions-10, "
                                                     "goemotions-ekman, dailydialog, tec, carer, sst2, sst5, mr, cr, "
                                                     "mpqa, carer-mteb, geometry (these are 'all'); semeval-headlines-va, "
                                                     "semeval-headlines-emotion, sentiment140, emotion-head-goemotions, "
                                                     "emotion-head-transfer (only when named; the last two score the "
                                                     "folder's emotion_head.json, or the model name nrclex); and "
                                                     "your own tables as PATH:text=COL,valence=COL,arousal=COL (split "
                                                     "80/10/10)."),
    output: pathlib.Path = typer.Option(..., "--output", help="Report .json; the Markdown table goes beside it (.md)."),
    data_dir: Optional[str] = typer.Option(None, "--data-dir", help="Corpus folder (default: $CARL_DATA_DIR, else "
                                                                     "the user data folder)."),
    seed: List[int] = typer.Option([0], "--seed", help="Probe / subsample seed; repeat (--seed 0 --seed 1) to "
                                                       "report mean ± std over seeds."),
    max_train: Optional[int] = typer.Option(None, "--max-train", help="Subsample each train split to this many "
                                                                      "texts (seeded; CPU budgets; recorded)."),
    max_eval: Optional[int] = typer.Option(None, "--max-eval", help="Subsample each dev and test split (smoke "
                                                                    "tests only; recorded)."),
    split_seed: int = typer.Option(0, "--split-seed", help="Split seed of the corpora without an official split "
                                                             "(Facebook-VA, TEC, MR, CR, MPQA), the same for every "
                                                             "model so that all are scored on one test split. A "
                                                             "model trained with another data.split_seed is flagged "
                                                             "(its test rows may be training rows)."),
    plots_dir: Optional[pathlib.Path] = typer.Option(None, "--plots-dir", help="Also write t-SNE and V-A circumplex "
                                                                               "figures here."),
    cache_dir: Optional[pathlib.Path] = typer.Option(None, "--cache-dir", help="Embedding cache (default: "
                                                                               "$CARL_CACHE_DIR/embeddings)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write cached embeddings."),
    batch_size: int = typer.Option(64, "--batch-size"),
    learning_curve: bool = typer.Option(False, "--learning-curve", help="Draw learning curves instead: the probe "
                                        "fitted on n train texts for each of --sizes (several seeded --draws each), "
                                        "the test split fixed; each model's metric and its gap to --reference with "
                                        "intervals; JSON, Markdown and a plot per task (docs/evaluation.md)."),
    sizes: Optional[str] = typer.Option(None, "--sizes", help="Learning-curve train sizes, comma list (1k, 1M "
                                        "allowed; default 100,300,1k,3k,10k,30k,100k,300k,1M); sizes above the "
                                        "train split are replaced by the whole train split."),
    draws: int = typer.Option(5, "--draws", help="Learning curve: seeded train subsamples per size (the same "
                                                 "for every model: gaps are paired)."),
    reference: Optional[str] = typer.Option(None, "--reference", help="Learning curve: the model name gaps are "
                                            "measured against (default: the first model carl did not train, else "
                                            "the frozen base encoder of the first model)."),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Learning curve: bootstrap replicates over draws and "
                                                            "test rows for the intervals (0: t-interval over draws)."),
):
    """Score models on the evaluation tasks (frozen-embedding probes); write JSON + Markdown, print the table."""
    from carl.evaluation.emotion_head_eval import (NrcLexBaseline, check_lexicon_use,  # lazy: keeps --help fast
                                                   is_lexicon_model)
    from carl.evaluation.tasks import resolve_task_names, run_tasks  # lazy: keeps carl --help fast

    if output.suffix.lower() != ".json":
        raise CarlError(f"--output {output}: give a .json path (the Markdown table is written beside it as .md)")
    names = resolve_task_names(tasks)
    models = parse_models(model)
    if any(is_lexicon_model(path) for _, path in models):  # the NRCLex baseline: emotion-head tasks only
        check_lexicon_use(names, learning_curve=learning_curve, plots=plots_dir is not None)
    seeds = list(dict.fromkeys(seed or [0]))
    cache = None if no_cache else (cache_dir or default_cache_dir())
    if learning_curve:
        from carl.evaluation.learning_curve_report import learning_curves_command  # lazy: keeps carl --help fast

        return learning_curves_command(models, tasks, names, output=output, data_dir=data_dir, seeds=seeds,
                                       max_train=max_train, max_eval=max_eval, split_seed=split_seed,
                                       plots_dir=plots_dir, cache=cache, batch_size=batch_size, sizes=sizes,
                                       draws=draws, reference=reference, bootstrap=bootstrap)
    if sizes is not None or reference is not None:
        raise CarlError("--sizes and --reference belong to --learning-curve; add --learning-curve, or drop them")
    stores: dict[str, EmbeddingStore] = {}
    for _, path in models:
        if path not in stores and is_lexicon_model(path):
            stores[path] = NrcLexBaseline()
        elif path not in stores:
            stores[path] = EmbeddingStore(path, cache, batch_size=batch_size)  # fails early on a bad path
    runs = []
    for name, path in models:
        for s in seeds:
            typer.echo(f"evaluating {name} (seed {s}) on {len(names)} task(s)...", err=True)
            runs.append((name, run_tasks(path, names, data_dir, seed=s, max_train=max_train, max_eval=max_eval,
                                         split_seed=split_seed, store=stores[path])))
    arguments = {"model": model, "models": [{"name": n, "path": p} for n, p in models], "tasks": names,
                 "output": str(output), "data_dir": data_dir, "seeds": seeds, "max_train": max_train,
                 "max_eval": max_eval, "split_seed": split_seed, "plots_dir": str(plots_dir) if plots_dir else None,
                 "cache_dir": str(cache) if cache else None, "batch_size": batch_size}
    plots = []
    if plots_dir is not None:
        first = {}
        for name, path in models:
            first.setdefault(name, stores[path])
        meta = runs[0][1]["_meta"]
        plots = make_plots(first, plots_dir, data_dir, seed=seeds[0], split_seed=meta["split_seed"],
                           max_train=max_train, max_eval=max_eval)
        arguments["plots"] = [str(p) for p in plots]
    notes = {}
    for name, res in runs:
        note = res["_meta"].get("split_seed_note")
        if note:
            notes.setdefault(f"{name} ({res['_meta']['model_path']})", note)
    for who, note in notes.items():
        typer.echo(f"{who}: {note}", err=True)
    class_plot = _plot_head_classes(runs, output)
    if class_plot is not None:
        plots.append(class_plot)
        arguments["plots"] = [str(p) for p in plots]
    json_path, md_path, _ = write_report(output, runs, arguments=arguments)
    typer.echo(markdown_table(runs))
    typer.echo(f"\nwritten: {json_path}, {md_path}" + (f"; figures: {', '.join(str(p) for p in plots)}" if plots else ""))


def _plot_head_classes(runs, output: pathlib.Path) -> pathlib.Path | None:
    """With ``va-head-*`` tasks: each class's mean predicted V-A per corpus, one panel per model
    (the first seed's run), written beside the report as ``<output stem>.va-classes.png``."""
    from carl.evaluation.va_classes import plot_class_means  # lazy: matplotlib only when plotting

    means: dict = {}
    for name, res in runs:
        for task, detail in res["_meta"]["details"].items():
            if detail.get("kind") == "va_head_classes":
                means.setdefault(name, {}).setdefault(detail["corpus"], detail["class_means"])
    if not means:
        return None
    return plot_class_means(means, pathlib.Path(output).parent / (pathlib.Path(output).stem + ".va-classes.png"))

