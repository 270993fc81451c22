"""MTEB's ``EmotionClassification`` run by the ``mteb`` library itself, on the local CARER files.

MTEB's EmotionClassification reads ``mteb/emotion`` (revision ``4f58c6b2…``), which is CARER /
dair-ai/emotion with the same 16,000 / 2,000 / 2,000 train / validation / test rows as
``<data dir>/carer-emotion/{train,val,test}.txt`` (mteb's bundled descriptive statistics and
the local files agree on split sizes, per-label counts, total text length and unique texts).
The hub is unreachable here, so :class:`LocalEmotionClassification` subclasses mteb's task
and overrides only :meth:`load_data`: it builds the ``datasets.DatasetDict`` from carl's CARER
reader (which checks the files' SHA-256) instead of downloading it. Everything else —
undersampling (16 per label, 10 experiments, ``RandomState(seed)``), the
``LogisticRegression(max_iter=100)`` evaluator and the scores — is mteb's own code.

:func:`run_emotion_classification` scores a sentence-transformers model (a carl export, any
sentence-transformers folder, or the ``minilm`` alias) through ``mteb.evaluate`` with no
network access and no result cache, and returns carl's metric names (``accuracy``,
``macro_f1`` …, as the ``carer-mteb`` task reports them).

Labels are dair-ai/emotion's class ids (:data:`CARER_LABEL_IDS`), as in ``mteb/emotion``.
"""

from __future__ import annotations

import logging
import os
import pathlib
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from carl.data import load_corpus
from carl.data.records import Record
from carl.errors import CarlError
from carl.evaluation.embedding_store import EmbeddingStore
from carl.inference.embedder import load
from carl.inference.encoders import resolve_model_path

__all__ = ["CARER_LABEL_IDS", "MTEB_SEED", "LocalEmotionClassification", "carer_records",
           "emotion_classification_task", "mteb_scores_to_metrics", "run_emotion_classification"]

#: dair-ai/emotion's ClassLabel order (= mteb/emotion's integer labels).
CARER_LABEL_IDS: dict[str, int] = {"sadness": 0, "joy": 1, "love": 2, "anger": 3, "fear": 4, "surprise": 5}
MTEB_SEED = 42
"""mteb's default task seed (``AbsTask(seed=42)``)."""

_HF_SPLIT = {"train": "train", "dev": "validation", "test": "test"}


def _require_mteb():
    try:
        import mteb
        from mteb.tasks.classification.eng.emotion_classification import EmotionClassification
    except ImportError as exc:  # pragma: no cover - mteb is a dependency; this guards broken installs
        raise CarlError(f"the mteb package is needed for this task but cannot be imported ({exc}); "
                        "install it beside carl: pip install 'mteb>=2.26,<3'") from None
    return mteb, EmotionClassification


def carer_records(data_dir=None) -> dict[str, list[Record]]:
    """CARER rows per split (``train`` / ``dev`` / ``test``), in file order (carl's reader)."""
    out: dict[str, list[Record]] = {"train": [], "dev": [], "test": []}
    for r in load_corpus("carer", data_dir):
        out[r.split].append(r)
    return out


class _ListColumns:
    """A read-only view of a ``datasets.Dataset`` whose ``view[column]`` is a plain list (cached);
    ``len``, ``select`` and everything else go to the dataset."""

    def __init__(self, dataset):
        self._dataset = dataset
        self._columns: dict[str, list] = {}

    def __getitem__(self, key):
        if isinstance(key, str):
            if key not in self._columns:
                # one Arrow read (honours select()'s index mapping) instead of a row-by-row Column
                self._columns[key] = self._dataset.with_format("arrow")[key].to_pylist()
            return self._columns[key]
        return self._dataset[key]

    def __len__(self) -> int:
        return len(self._dataset)

    def __getattr__(self, name):
        return getattr(self._dataset, name)


def _task_class():
    _, EmotionClassification = _require_mteb()
    global LocalEmotionClassification
    if LocalEmotionClassification is None:

        class _LocalEmotionClassification(EmotionClassification):
            """mteb's EmotionClassification with ``load_data`` reading given CARER records.

            ``splits``: {"train": [Record], "test": [Record], optionally "dev"}; each record
            has exactly one CARER label. The metadata (name, revision, ``samples_per_label``
            = 16, main score) is mteb's, unchanged.
            """

            def __init__(self, splits: Mapping[str, Sequence[Record]], seed: int = MTEB_SEED, **kwargs):
                super().__init__(seed=seed, **kwargs)
                missing = {"train", "test"} - set(splits)
                if missing:
                    raise CarlError(f"EmotionClassification needs train and test records; missing {sorted(missing)}")
                self._splits = {s: list(rows) for s, rows in splits.items()}

            # mteb indexes the label column row by row (``labels[i]`` while undersampling, and
            # sklearn's ``np.asarray(y)`` while scoring); with datasets >= 4 ``dataset["label"]`` is
            # a lazy Column and each access a table query: ~50 s per run on CARER. These two
            # overrides hand mteb's own methods a view whose columns are plain lists; the
            # algorithm is untouched (tests/test_mteb_library.py checks it against the originals).
            def _undersample_data(self, dataset, experiment_num, idxs=None):
                return super()._undersample_data(_ListColumns(dataset), experiment_num, idxs)

            def _run_experiment(self, train_split, eval_split, train_embeddings, test_embeddings, timer):
                return super()._run_experiment(_ListColumns(train_split), _ListColumns(eval_split), train_embeddings,
                                               test_embeddings, timer)

            def load_data(self, num_proc=None, *, timer=None, **kwargs) -> None:  # noqa: ARG002 (mteb's signature)
                if self.data_loaded:
                    return
                from datasets import Dataset, DatasetDict

                parts = {}
                for split, rows in self._splits.items():
                    labels = []
                    for r in rows:
                        if len(r.labels) != 1 or r.labels[0] not in CARER_LABEL_IDS:
                            raise CarlError(f"CARER record {r.id}: expected one of {list(CARER_LABEL_IDS)}, "
                                            f"got {list(r.labels)}")
                        labels.append(CARER_LABEL_IDS[r.labels[0]])
                    parts[_HF_SPLIT.get(split, split)] = Dataset.from_dict({"text": [r.text for r in rows],
                                                                            "label": labels})
                self.dataset = DatasetDict(parts)
                self.dataset_transform(num_proc=num_proc)
                self.data_loaded = True

        _LocalEmotionClassification.__name__ = _LocalEmotionClassification.__qualname__ = "LocalEmotionClassification"
        LocalEmotionClassification = _LocalEmotionClassification
    return LocalEmotionClassification


LocalEmotionClassification = None
"""The subclass of ``mteb``'s ``EmotionClassification`` (created on first use, so that importing
carl does not import mteb); :func:`emotion_classification_task` returns an instance."""


def emotion_classification_task(splits: Mapping[str, Sequence[Record]] | None = None, *, data_dir=None,
                                seed: int = MTEB_SEED):
    """An instance of :data:`LocalEmotionClassification` over ``splits`` (default: every CARER
    row from ``data_dir``). ``seed`` is mteb's task seed (undersampling and the classifier's
    ``random_state``); 42 is mteb's."""
    cls = _task_class()
    return cls(splits if splits is not None else carer_records(data_dir), seed=int(seed))


def mteb_scores_to_metrics(scores: Mapping) -> dict[str, float]:
    """mteb's classification scores (one subset of one split) -> carl's metric names.

    ``f1`` is macro-F1; ``accuracy_std`` / ``macro_f1_std`` are the population std over
    ``scores_per_experiment`` (mteb v1's ``*_stderr``), as in the ``carer-mteb`` task.
    """
    names = {"accuracy": "accuracy", "f1": "macro_f1", "f1_weighted": "weighted_f1", "precision": "macro_precision",
             "precision_weighted": "weighted_precision", "recall": "macro_recall", "recall_weighted": "weighted_recall"}
    out = {carl: float(scores[key]) for key, carl in names.items()}
    per = scores.get("scores_per_experiment") or []
    if per:
        out["accuracy_std"] = float(np.std([float(e["accuracy"]) for e in per]))
        out["macro_f1_std"] = float(np.std([float(e["f1"]) for e in per]))
    return out


def _store_encoder(store, corpus: str = "carer"):
    """An mteb encoder (``AbsEncoder``) that embeds through carl's :class:`EmbeddingStore`, so the
    library path shares carl's embedding cache and calls ``SentenceTransformer.encode`` exactly as
    every other carl task does (batch size, no normalisation by carl)."""
    from mteb.models import ModelMeta
    from mteb.models.abs_encoder import AbsEncoder

    class CarlStoreEncoder(AbsEncoder):
        def __init__(self, store):
            self.store = store
            self.mteb_model_meta = ModelMeta.create_empty(overwrites=dict(
                name=f"carl/{pathlib.Path(str(store.model_path)).name or 'model'}",
                revision=store.fingerprint[:16], modalities=["text"]))
            self.n_encoded: dict[str, int] = {}

        def encode(self, inputs, *, task_metadata, hf_split, hf_subset, prompt_type=None, **kwargs):
            del task_metadata, hf_subset, prompt_type, kwargs  # no prompts: carl models take raw text
            texts = [t for batch in inputs for t in batch["text"]]
            split = {"validation": "dev"}.get(hf_split, hf_split)
            self.n_encoded[split] = self.n_encoded.get(split, 0) + len(texts)
            return self.store.embed(corpus, split, texts)

    return CarlStoreEncoder(store)


def run_emotion_classification(model, splits: Mapping[str, Sequence[Record]] | None = None, *, data_dir=None,
                               seed: int = MTEB_SEED, batch_size: int = 64, device: str | None = None) -> dict:
    """Score ``model`` on EmotionClassification through ``mteb.evaluate``.

    ``model``: a :class:`carl.evaluation.embedding_store.EmbeddingStore` (embeddings through carl's cache,
    as ``carl evaluate`` does), a ``SentenceTransformer``, or a model folder / alias / hub id
    (loaded as by ``carl.load``, the ``minilm`` alias from the packaged copy, offline; then mteb's
    own ``SentenceTransformerEncoderWrapper`` encodes). Runs with no result cache,
    ``overwrite_strategy="always"``, no CO2 tracker and ``HF_HUB_OFFLINE=1``, so nothing is
    fetched. Returns ``{"metrics": carl metric names -> value, "scores": mteb's raw scores for
    the test split (incl. ``scores_per_experiment``), "mteb_version", "task", "n_experiments",
    "samples_per_label", "seed", "n_encoded" (texts embedded per split, store path only)}``.
    """
    mteb, _ = _require_mteb()
    from sentence_transformers import SentenceTransformer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if isinstance(model, EmbeddingStore):
        model = _store_encoder(model)
    elif not isinstance(model, SentenceTransformer):
        model = load(resolve_model_path(str(model)), device=device).model
    task = emotion_classification_task(splits, data_dir=data_dir, seed=seed)
    superseded_log = logging.getLogger("mteb.abstasks.abstask")
    level = superseded_log.level
    superseded_log.setLevel(logging.ERROR)  # the same "superseded" notice, logged as well as warned
    try:
        result = _evaluate(mteb, model, task, batch_size)
    finally:
        superseded_log.setLevel(level)
    (task_result,) = result.task_results
    (scores,) = task_result.scores["test"]
    return {"metrics": mteb_scores_to_metrics(scores), "scores": dict(scores), "mteb_version": mteb.__version__,
            "task": task_result.task_name, "n_experiments": int(task.n_experiments),
            "samples_per_label": int(task.samples_per_label), "seed": int(task.seed),
            "n_encoded": dict(getattr(model, "n_encoded", {}))}


def _evaluate(mteb, model, task, batch_size: int):
    with warnings.catch_warnings():
        # mteb warns that EmotionClassification is superseded by .v2 (corrected data); the
        # published leaderboard numbers are v1's, which is what this reproduces. The
        # fill_missing DeprecationWarning comes from mteb's own default argument.
        warnings.filterwarnings("ignore", message=".*superseded by.*")
        warnings.filterwarnings("ignore", message=".*fill_missing parameter is deprecated.*")
        warnings.filterwarnings("ignore", message=".*get_sentence_embedding_dimension.*")
        return mteb.evaluate(model, task, cache=None, overwrite_strategy="always", co2_tracker=False,
                             show_progress_bar=False, raise_error=True,
                             encode_kwargs={"batch_size": int(batch_size), "show_progress_bar": False})
