"""Scoring the emotion head a model folder ships (``emotion_head.json``), and the NRCLex baseline.

Two tasks of ``carl evaluate``, scored only when named (``--tasks emotion-head-goemotions,
emotion-head-transfer``). Unlike the probe tasks nothing is fitted here: the head in the folder
(:class:`carl.inference.heads.emotions.EmotionHead`, fitted on GoEmotions train by ``carl fit-heads``)
is applied to test texts as it is. A folder without one is an error naming ``carl fit-heads FOLDER``.

* ``emotion-head-goemotions`` (in-domain, GoEmotions test). An ``ekman`` head: the single-label
  test rows of ``goemotions-ekman`` (GoEmotions' own Ekman relabelling), its prediction the
  highest of the 7 probabilities; macro-F1 over the 7 labels, accuracy, F1 per label
  (``f1_<label>``). A ``goemotions`` head: every test row of ``goemotions`` (multi-label), a label
  predicted when its probability reaches the head's own threshold (chosen on GoEmotions dev when it
  was fitted); macro-F1 over the 28 labels, micro-F1, F1 per label.
* ``emotion-head-transfer`` (zero-shot, an ``ekman`` head only): the test splits of three corpora
  the head never saw, their labels mapped to Ekman's (:data:`TO_EKMAN`):

  ===============  ==============================================  ===========================
  corpus           its labels -> Ekman                             classes it has
  ===============  ==============================================  ===========================
  ``tec``          the same six (anger, disgust, fear, joy,        6 (no neutral)
                   sadness, surprise); carl's seeded test split
  ``carer``        love -> joy; sadness, joy, anger, fear,         5 (no disgust, no neutral)
                   surprise unchanged; official test split
  ``dailydialog``  "no emotion" -> neutral, happiness -> joy;      7
                   anger, disgust, fear, sadness, surprise
                   unchanged; official test split (utterances)
  ===============  ==============================================  ===========================

  Per corpus: ``<corpus>_macro_f1``, the mean F1 over the classes the corpus has (the right-hand
  column). The head still chooses among all 7 labels: a prediction outside the corpus's classes
  (neutral on TEC or CARER, disgust on CARER) **counts as wrong**: it is a missed text of the
  gold class (lowering that class's recall and the accuracy) and a false positive of no class
  that is averaged. ``<corpus>_macro_f1_restricted``: the same with the head restricted to the
  corpus's classes (argmax over only those labels' probabilities), what the head knows about the
  emotions the corpus distinguishes; equal to the first on DailyDialog, which has all 7. Also
  ``<corpus>_accuracy`` (and ``_restricted``), ``<corpus>_outside`` (share of texts predicted a
  label the corpus lacks), ``<corpus>_n``; ``dailydialog_macro_f1_without_neutral`` (the 6
  emotions' F1, predictions unchanged: 83 % of DailyDialog is "no emotion"), and ``macro_f1_mean``,
  the mean of the three corpora's ``macro_f1``. F1 per label and the confusion matrices are in the
  report's details.

**The NRCLex baseline.** The model name ``nrclex`` (``carl evaluate nrclex --tasks
emotion-head-goemotions,emotion-head-transfer``) scores the same rows with
:class:`carl.evaluation.lexicon_scorers.NrcLexEkmanScorer` (argmax of EmoLex's six Ekman word
counts, neutral when none, ties by a fixed order) in place of a head. It has no embeddings, so
every other task, ``--plots-dir`` and ``--learning-curve`` refuse it. Restricted to a corpus's
classes, a text whose allowed counts are all 0 stays ``neutral`` (no evidence) and counts as wrong.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping, Sequence

import numpy as np

from carl.errors import CarlError, ModelError
from carl.evaluation.lexicon_scorers import EKMAN_TIE_ORDER, NrcLexEkmanScorer, ekman_argmax
from carl.inference.heads.emotions import HEAD_FILE, LABEL_SETS, EmotionHead

__all__ = ["EKMAN", "IN_DOMAIN_TASK", "LEXICON_MODEL", "TASK_NAMES", "TO_EKMAN", "TRANSFER_CORPORA",
           "TRANSFER_TASK", "NrcLexBaseline", "check_lexicon_use", "corpus_classes", "is_lexicon_model",
           "map_to_ekman", "multi_label_scores", "per_label_f1", "restricted_argmax", "run_emotion_head_task",
           "single_label_scores"]

IN_DOMAIN_TASK = "emotion-head-goemotions"
TRANSFER_TASK = "emotion-head-transfer"
TASK_NAMES = (IN_DOMAIN_TASK, TRANSFER_TASK)
EKMAN: tuple[str, ...] = LABEL_SETS["ekman"]
TRANSFER_CORPORA = ("tec", "carer", "dailydialog")
TO_EKMAN: dict[str, dict[str, str]] = {
    "tec": {e: e for e in ("anger", "disgust", "fear", "joy", "sadness", "surprise")},
    "carer": {"sadness": "sadness", "joy": "joy", "love": "joy", "anger": "anger", "fear": "fear",
              "surprise": "surprise"},
    "dailydialog": {"no emotion": "neutral", "anger": "anger", "disgust": "disgust", "fear": "fear",
                    "happiness": "joy", "sadness": "sadness", "surprise": "surprise"},
}
"""Each transfer corpus's labels -> Ekman's (module docstring)."""
LEXICON_MODEL = "nrclex"
"""The model name that means the NRCLex baseline (a folder of that name: give it as ./nrclex)."""


# ------------------------------------------------------------------ pure parts: mapping and scores


def corpus_classes(corpus: str) -> tuple[str, ...]:
    """The Ekman labels a transfer corpus has after mapping, in Ekman's order."""
    present = set(TO_EKMAN[corpus].values())
    return tuple(label for label in EKMAN if label in present)


def map_to_ekman(corpus: str, label: str) -> str:
    try:
        return TO_EKMAN[corpus][label]
    except KeyError:
        raise CarlError(f"{corpus}: label {label!r} has no Ekman mapping "
                        f"(known: {', '.join(TO_EKMAN[corpus])})") from None


def per_label_f1(gold: np.ndarray, pred: np.ndarray, labels: Sequence[str]) -> dict[str, dict]:
    """Per label of boolean matrices ``gold`` / ``pred`` ((N, L), columns in ``labels``' order):
    ``{"f1", "precision", "recall", "support" (gold texts), "predicted" (texts given it)}``.
    A label neither given nor predicted has F1 0 (and precision / recall 0 when undefined)."""
    gold, pred = np.asarray(gold, dtype=bool), np.asarray(pred, dtype=bool)
    if gold.shape != pred.shape or gold.ndim != 2 or gold.shape[1] != len(labels):
        raise CarlError(f"gold {gold.shape} and predicted {pred.shape} must be (N, {len(labels)})")
    tp = (gold & pred).sum(axis=0).astype(float)
    support, predicted = gold.sum(axis=0), pred.sum(axis=0)

    def ratio(a, b):
        return np.divide(a, b, out=np.zeros(len(labels)), where=b > 0)

    f1 = ratio(2 * tp, support + predicted)
    precision, recall = ratio(tp, predicted), ratio(tp, support)
    return {name: {"f1": float(f1[j]), "precision": float(precision[j]), "recall": float(recall[j]),
                   "support": int(support[j]), "predicted": int(predicted[j])} for j, name in enumerate(labels)}


def _one_hot(values: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    index = {name: j for j, name in enumerate(labels)}
    out = np.zeros((len(values), len(labels)), dtype=bool)
    for i, v in enumerate(values):
        if v in index:  # a label outside ``labels`` (a prediction the corpus lacks) sets no column
            out[i, index[v]] = True
    return out


def single_label_scores(gold: Sequence[str], pred: Sequence[str], classes: Sequence[str]) -> dict:
    """Single-label scores over ``classes``: ``macro_f1`` (mean F1 of ``classes``), ``accuracy``
    (over every row), ``outside`` (share of predictions not in ``classes``: all wrong), ``n`` and
    ``per_label`` (:func:`per_label_f1`)."""
    gold, pred = list(gold), list(pred)
    if len(gold) != len(pred) or not gold:
        raise CarlError(f"need as many predictions as gold labels, at least one (got {len(pred)}, {len(gold)})")
    unknown = sorted(set(gold) - set(classes))
    if unknown:
        raise CarlError(f"gold labels {unknown} are not among the classes {list(classes)}")
    per = per_label_f1(_one_hot(gold, classes), _one_hot(pred, classes), classes)
    allowed = set(classes)
    return {"macro_f1": float(np.mean([per[c]["f1"] for c in classes])),
            "accuracy": float(np.mean([g == p for g, p in zip(gold, pred)])),
            "outside": float(np.mean([p not in allowed for p in pred])), "n": len(gold), "per_label": per}


def multi_label_scores(gold: np.ndarray, pred: np.ndarray, labels: Sequence[str]) -> dict:
    """Multi-label scores: ``macro_f1`` over ``labels``, ``micro_f1`` (every (text, label) decision
    pooled), ``n``, ``per_label``."""
    gold, pred = np.asarray(gold, dtype=bool), np.asarray(pred, dtype=bool)
    per = per_label_f1(gold, pred, labels)
    tp = float((gold & pred).sum())
    denom = float(gold.sum() + pred.sum())
    return {"macro_f1": float(np.mean([per[c]["f1"] for c in labels])), "micro_f1": 2 * tp / denom if denom else 0.0,
            "n": int(len(gold)), "per_label": per}


def restricted_argmax(probabilities: np.ndarray, labels: Sequence[str],
                      allowed: Sequence[str] | None = None) -> list[str]:
    """Per row, the label of highest probability among ``allowed`` (None: all ``labels``); ties go
    to the first in ``labels``' order."""
    p = np.asarray(probabilities, dtype=np.float64)
    keep = np.array([allowed is None or name in allowed for name in labels])
    if not keep.any():
        raise CarlError(f"none of {list(allowed or [])} is among the head's labels {list(labels)}")
    masked = np.where(keep, p, -np.inf)
    return [labels[j] for j in masked.argmax(axis=1)]


def confusion(gold: Sequence[str], pred: Sequence[str]) -> dict[str, dict[str, int]]:
    """``{gold label: {predicted label: count}}``, labels in first-seen order."""
    out: dict[str, dict[str, int]] = {}
    for g, p in zip(gold, pred):
        row = out.setdefault(g, {})
        row[p] = row.get(p, 0) + 1
    return {g: dict(sorted(row.items(), key=lambda kv: -kv[1])) for g, row in out.items()}


# ------------------------------------------------------------------ what predicts: a head, or the lexicon


class NrcLexBaseline:
    """The ``nrclex`` model of ``carl evaluate``: takes an :class:`EmbeddingStore`'s place in
    ``run_tasks`` (the same attributes), but has no embeddings; only the emotion-head tasks use it."""

    cache_dir = None
    batch_size = 0

    def __init__(self, model_ref: str = LEXICON_MODEL):
        self.scorer = NrcLexEkmanScorer.from_package()
        self.model_ref = model_ref
        self.model_path = LEXICON_MODEL
        self.fingerprint = f"nrclex-{self.scorer.version}"
        self.metadata: dict = {}
        self.scored_texts = 0

    def embed(self, corpus: str, split: str, texts: Sequence[str]) -> np.ndarray:
        raise CarlError(f"{LEXICON_MODEL} is a lexicon baseline without embeddings: it scores only the tasks "
                        f"{', '.join(TASK_NAMES)}")

    def counters(self) -> dict[str, int]:
        return {"hits": 0, "memory_hits": 0, "misses": 0, "embedded_texts": 0, "scored_texts": self.scored_texts}


def is_lexicon_model(path: str) -> bool:
    return str(path).strip() == LEXICON_MODEL


def check_lexicon_use(task_names: Sequence[str], *, learning_curve: bool = False, plots: bool = False) -> None:
    """Refuse ``nrclex`` with anything but the emotion-head tasks (it has no embeddings)."""
    other = [t for t in task_names if t not in TASK_NAMES]
    if other or learning_curve or plots:
        what = (f"task(s) {', '.join(other)}" if other else "--learning-curve" if learning_curve else "--plots-dir")
        raise CarlError(f"{LEXICON_MODEL} is a lexicon baseline without embeddings: it scores only "
                        f"--tasks {','.join(TASK_NAMES)}, not {what}; score those with a model folder")


class _Predictor:
    """Predictions of one model: ``label_set``, ``single(corpus, split, texts, allowed)`` -> labels,
    and for a multi-label head ``multi(corpus, split, texts)`` -> (N, L) booleans."""

    label_set = "ekman"
    description = ""

    def single(self, corpus: str, split: str, texts: Sequence[str], allowed: Sequence[str] | None) -> list[str]:
        raise NotImplementedError

    def multi(self, corpus: str, split: str, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError


class _HeadPredictor(_Predictor):
    def __init__(self, store):
        folder = pathlib.Path(str(store.model_path))
        try:
            self.head = EmotionHead.load(folder)
        except ModelError as exc:
            hint = ""
            if str(store.model_ref) != str(store.model_path):
                hint = (f" ({store.model_ref} is a packaged encoder: copy its folder {folder} and fit the copy, "
                        f"e.g. `cp -r {folder} mymodel && carl fit-heads mymodel`, then evaluate mymodel)")
            raise ModelError(f"{exc}{hint}") from None
        self.head.check_encoder(store.embedder.encode, where=str(folder))
        self.store = store
        self.label_set = self.head.label_set
        self.description = (f"{HEAD_FILE}: {self.head.label_set}, C {self.head.C:g}, fitted on "
                            f"{self.head.info.get('n_train')} {self.head.info.get('corpus', 'GoEmotions')} train texts")
        self._cache: dict = {}

    def _probabilities(self, corpus, split, texts) -> np.ndarray:
        key = (corpus, split, len(texts), hash(tuple(texts)))
        if key not in self._cache:
            self._cache[key] = self.head.predict(self.store.embed(corpus, split, texts))
        return self._cache[key]

    def single(self, corpus, split, texts, allowed):
        return restricted_argmax(self._probabilities(corpus, split, texts), self.head.labels, allowed)

    def multi(self, corpus, split, texts):
        return self.head.predicted(self._probabilities(corpus, split, texts))


class _LexiconPredictor(_Predictor):
    def __init__(self, baseline: NrcLexBaseline):
        self.baseline = baseline
        self.description = f"{baseline.scorer.name} (nrclex {baseline.scorer.version})"
        self._cache: dict = {}

    def _counts(self, texts) -> np.ndarray:
        key = (len(texts), hash(tuple(texts)))
        if key not in self._cache:
            scores = self.baseline.scorer.score(texts)
            self.baseline.scored_texts += len(texts)
            self._cache[key] = scores
        return self._cache[key]

    def single(self, corpus, split, texts, allowed):
        return ekman_argmax(self._counts(texts).values, allowed)

    def lexicon_details(self, texts) -> dict:
        scores = self._counts(texts)
        counts = scores.values
        top = counts.max(axis=1)
        tied = (top > 0) & ((counts == top[:, None]).sum(axis=1) > 1)
        return {"coverage": scores.coverage, "no_emotion_word": float(np.mean(top == 0)),
                "tied": float(np.mean(tied)), "tie_order": list(EKMAN_TIE_ORDER)}


def _predictor(store) -> _Predictor:
    return _LexiconPredictor(store) if isinstance(store, NrcLexBaseline) else _HeadPredictor(store)


# ------------------------------------------------------------------ the two tasks


def _exactly_one(r) -> bool:
    return len(r.labels) == 1


def _first_label(r) -> str:
    return r.labels[0]


def _flat(prefix: str, scores: Mapping, keys: Sequence[str]) -> dict:
    return {f"{prefix}{k}": scores[k] for k in keys}


def _in_domain(model: _Predictor, ctx) -> tuple[dict, dict]:
    if model.label_set == "ekman":
        rows = ctx.split("goemotions-ekman", "test", keep=_exactly_one, stratify=_first_label)
        texts = [r.text for r in rows]
        gold = [r.labels[0] for r in rows]
        pred = model.single("goemotions-ekman", "test", texts, None)
        scores = single_label_scores(gold, pred, EKMAN)
        metrics = {"macro_f1": scores["macro_f1"], "accuracy": scores["accuracy"], "n_test": scores["n"]}
        details = {"rows": "goemotions-ekman test, single-label rows", "confusion": confusion(gold, pred)}
    else:
        labels = LABEL_SETS[model.label_set]
        rows = ctx.split("goemotions", "test")
        texts = [r.text for r in rows]
        index = {name: j for j, name in enumerate(labels)}
        gold = np.zeros((len(rows), len(labels)), dtype=bool)
        for i, r in enumerate(rows):
            gold[i, [index[name] for name in r.labels]] = True
        scores = multi_label_scores(gold, model.multi("goemotions", "test", texts), labels)
        metrics = {"macro_f1": scores["macro_f1"], "micro_f1": scores["micro_f1"], "n_test": scores["n"]}
        details = {"rows": "goemotions test, every row (multi-label); a label is predicted at the head's own "
                           "threshold, chosen on GoEmotions dev when the head was fitted"}
    metrics.update({f"f1_{name}": v["f1"] for name, v in scores["per_label"].items()})
    details["per_label"] = scores["per_label"]
    if isinstance(model, _LexiconPredictor):
        details["lexicon"] = model.lexicon_details(texts)
    return {"label_set": model.label_set, **metrics}, details


def _transfer(model: _Predictor, ctx, store) -> tuple[dict, dict]:
    if model.label_set != "ekman":
        raise CarlError(f"{TRANSFER_TASK} scores an ekman emotion head (Ekman's 6 + neutral, mapped from each "
                        f"corpus's labels); {store.model_path} has a {model.label_set} head: fit an ekman one on a "
                        f"copy with `carl fit-heads COPY --no-va --emotions ekman`")
    metrics: dict = {"label_set": model.label_set}
    details: dict = {"mapping": TO_EKMAN, "classes": {c: list(corpus_classes(c)) for c in TRANSFER_CORPORA},
                     "outside_classes": "a prediction outside the corpus's classes counts as wrong (module "
                                        "carl.evaluation.emotion_head_eval)"}
    trained = _encoder_trained_on(store)
    if trained:
        details["encoder_trained_on_these_corpora"] = trained
    for corpus in TRANSFER_CORPORA:
        rows = ctx.split(corpus, "test", keep=_exactly_one, stratify=_first_label)
        texts = [r.text for r in rows]
        gold = [map_to_ekman(corpus, r.labels[0]) for r in rows]
        classes = corpus_classes(corpus)
        pred = model.single(corpus, "test", texts, None)
        restricted = model.single(corpus, "test", texts, classes)
        full, narrow = single_label_scores(gold, pred, classes), single_label_scores(gold, restricted, classes)
        metrics.update(_flat(f"{corpus}_", full, ("macro_f1", "accuracy", "outside", "n")))
        metrics[f"{corpus}_macro_f1_restricted"] = narrow["macro_f1"]
        metrics[f"{corpus}_accuracy_restricted"] = narrow["accuracy"]
        if "neutral" in classes:
            emotions = [c for c in classes if c != "neutral"]
            metrics[f"{corpus}_macro_f1_without_neutral"] = float(np.mean([full["per_label"][c]["f1"]
                                                                           for c in emotions]))
        details[corpus] = {"split": "test" + (" (carl's seeded 80/10/10 split, --split-seed)" if corpus == "tec" else
                                              " (official)"),
                           "per_label": full["per_label"], "per_label_restricted": narrow["per_label"],
                           "confusion": confusion(gold, pred), "confusion_restricted": confusion(gold, restricted)}
        if isinstance(model, _LexiconPredictor):
            details[corpus]["lexicon"] = model.lexicon_details(texts)
    metrics["macro_f1_mean"] = float(np.mean([metrics[f"{c}_macro_f1"] for c in TRANSFER_CORPORA]))
    return metrics, details


def _encoder_trained_on(store) -> list[str]:
    try:
        train = store.metadata["config"]["data"]["train"] or []
    except (KeyError, TypeError):
        return []
    return [str(t) for t in train if str(t) in TRANSFER_CORPORA]


def run_emotion_head_task(spec, ctx, store) -> tuple[dict, dict]:
    """The runner of both tasks (``run_tasks``' signature: task spec, :class:`EvalData`, store)."""
    if spec.name not in TASK_NAMES:
        raise CarlError(f"no emotion-head task {spec.name!r}; they are {', '.join(TASK_NAMES)}")
    model = _predictor(store)
    metrics, details = _in_domain(model, ctx) if spec.name == IN_DOMAIN_TASK else _transfer(model, ctx, store)
    return metrics, {"predictor": model.description, **details}
