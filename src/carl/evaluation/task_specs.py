"""The evaluation task registry: what each task reads, how it is scored, which metrics a table shows.

Kept apart from :mod:`carl.evaluation.tasks` (which loads data and runs the probes) so that
reports and plots can name tasks and their metrics without importing the runners.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from carl.data.specs import is_table, parse_table_spec, split_specs
from carl.errors import CarlError

__all__ = ["MAX_PAIRS", "MIN_TABLE_ROWS", "TASKS", "TaskSpec", "VA_RADIUS", "known_tasks", "report_metrics_of",
           "named_only_tasks", "resolve_task_names", "table_task", "task_spec"]

VA_RADIUS = 0.05
"""Positive-pair rule for continuous labels: normalised V-A within this Euclidean radius.
About half a standard deviation of EmoBank's normalised V or A (~0.10 each); it makes 11 % of
EmoBank test pairs positive (0.1 would make 31 %, too loose to mean "same affect")."""
MAX_PAIRS = 10000
"""At most this many positive pairs per alignment number (sampled uniformly, seeded)."""

@dataclass(frozen=True)
class TaskSpec:
    """One evaluation task.

    ``kind``: ``va_regression`` | ``classification`` | ``mteb_classification`` | ``geometry`` |
    ``va_head_classes`` (the model folder's own ``va_head.json`` on a class corpus, :mod:`carl.evaluation.va_classes`) |
    ``emotion_head`` (the folder's own emotion head, :mod:`carl.evaluation.emotion_head_eval`).
    ``corpus``: the corpus it reads (geometry reads EmoBank and CARER test splits).
    ``single_label_only``: keep only rows with exactly one label (in every split).
    ``exclude_label``: also report macro-F1 without this label.
    ``report_metrics``: the metrics shown in Markdown tables (the JSON keeps all).
    ``lower_is_better``: metrics of this task where smaller is better.
    """

    name: str
    kind: str
    corpus: str | None
    description: str
    report_metrics: tuple[str, ...]
    single_label_only: bool = False
    exclude_label: str | None = None
    lower_is_better: tuple[str, ...] = ()
    options: Mapping[str, object] = field(default_factory=dict)
    in_all: bool = True
    """False: scored only when named (``--tasks NAME``), never by ``all``: a task whose texts other
    models have trained on (the SemEval headlines are EmoBank train rows), or one too large to run by
    default (``sentiment140``: 100,000 tweets)."""


_VA_METRICS = ("pearson_v", "pearson_a", "pearson_mean", "spearman_mean")
_CLS_METRICS = ("accuracy", "macro_f1")
_HEAD_CLASS_METRICS = ("arousal_auc", "valence_auc")


def _cls(name: str, description: str, **kw) -> TaskSpec:
    metrics = _CLS_METRICS + (("macro_f1_without_no_emotion",) if kw.get("exclude_label") == "no emotion" else ())
    return TaskSpec(name=name, kind="classification", corpus=name, description=description, report_metrics=metrics,
                    **kw)


_TASK_LIST: list[TaskSpec] = [
    TaskSpec("emobank", "va_regression", "emobank",
             "EmoBank V-A regression (official test split), Ridge probe", _VA_METRICS),
    TaskSpec("facebook-va", "va_regression", "facebook-va",
             "Facebook-VA V-A regression (seeded 80/10/10 split), Ridge probe", _VA_METRICS),
    _cls("goemotions-10", "GoEmotions-10: 10 most frequent emotions, single-label rows (carl.data definition)"),
    _cls("goemotions-ekman", "GoEmotions Ekman 6 + neutral, single-label rows only", single_label_only=True),
    _cls("dailydialog", "DailyDialog utterances, 7 classes incl. 'no emotion'", exclude_label="no emotion"),
    _cls("tec", "Twitter Emotion Corpus, 6 Ekman emotions (seeded split)"),
    _cls("carer", "CARER tweets, 6 emotions (stands in for IEMOCAP)"),
    _cls("sst2", "SST-2 sentence sentiment (transfer)"),
    _cls("sst5", "SST-5 fine-grained sentence sentiment (transfer)"),
    _cls("mr", "MR movie-review polarity (transfer, seeded split)"),
    _cls("cr", "CR customer-review polarity (transfer, seeded split)"),
    _cls("mpqa", "MPQA opinion polarity (transfer, seeded split)"),
    _cls("sentiment140", "Sentiment140-100k tweet polarity by emoticon (seeded 80/10/10 split; scale checks, "
         "learning curves); only when named", in_all=False),
    TaskSpec("carer-mteb", "mteb_classification", "carer",
             "MTEB EmotionClassification run by the mteb library on the local CARER files: 10 experiments x 16 "
             "examples per label, logistic regression (max_iter 100), test split",
             ("accuracy", "macro_f1")),
    TaskSpec("geometry", "geometry", None,
             f"Alignment (EmoBank test pairs within V-A radius {VA_RADIUS}; CARER test same-label pairs) and "
             "uniformity (t=2) of EmoBank and CARER test embeddings",
             ("alignment_va", "alignment_label", "uniformity_emobank", "uniformity_carer"),
             lower_is_better=("alignment_va", "alignment_label", "uniformity_emobank", "uniformity_carer")),
    # Issue 43: the shipped V-A head on texts of known emotion. Named only: they need the folder's va_head.json,
    # which a frozen encoder's name does not have (`carl fit-heads` on a copy of its folder gives it one).
    *[TaskSpec(f"va-head-{corpus}", "va_head_classes", corpus,
               f"The model folder's V-A head on {corpus} single-label test texts: AUC of arousal for anger + fear "
               "vs sadness, of valence for joy vs sadness / anger / fear", _HEAD_CLASS_METRICS, in_all=False)
      for corpus in ("carer", "goemotions-ekman", "tec", "dailydialog")],
    # Issue 38, part 5: one set of headlines, both kinds of human label (carl.data.semeval). Named only: 956 of
    # these headlines are EmoBank train rows, so "all" would score every EmoBank-trained model on its own texts.
    TaskSpec("semeval-headlines-va", "va_regression", "semeval-headlines",
             "SemEval-2007 headlines, EmoBank's V-A ratings (carl's seeded split, not EmoBank's), Ridge probe",
             _VA_METRICS, in_all=False),
    TaskSpec("semeval-headlines-emotion", "classification", "semeval-headlines",
             "SemEval-2007 headlines, dominant of six emotion intensities (the same texts and split as "
             "semeval-headlines-va), logistic probe", _CLS_METRICS, in_all=False),
    # Issue 43: the emotion head a model folder ships, applied as it is (nothing fitted); the model name
    # `nrclex` scores the same rows with the NRC emotion lexicon (carl.evaluation.emotion_head_eval).
    TaskSpec("emotion-head-goemotions", "emotion_head", "goemotions-ekman",
             "The folder's emotion_head.json on GoEmotions test: an ekman head on goemotions-ekman's single-label "
             "rows (argmax), a goemotions head on every row at its own dev thresholds; no probe",
             ("macro_f1", "accuracy", "micro_f1"), in_all=False),
    TaskSpec("emotion-head-transfer", "emotion_head", None,
             "The folder's ekman emotion head, zero-shot on TEC (seeded split), CARER and DailyDialog test, their "
             "labels mapped to Ekman (CARER love->joy, DailyDialog no emotion->neutral, happiness->joy)",
             tuple(f"{c}_{m}" for c in ("tec", "carer", "dailydialog")
                   for m in ("macro_f1", "macro_f1_restricted", "accuracy")) + ("macro_f1_mean",), in_all=False),
]

TASKS: dict[str, TaskSpec] = {t.name: t for t in _TASK_LIST}


def known_tasks() -> list[str]:
    """The tasks ``all`` means, in registry order (named-only tasks: :func:`named_only_tasks`)."""
    return [name for name, spec in TASKS.items() if spec.in_all]


def named_only_tasks() -> list[str]:
    """Tasks scored only when named, never by ``all``."""
    return [name for name, spec in TASKS.items() if not spec.in_all]


def _task_list() -> str:
    return ", ".join(["all", *known_tasks(), *named_only_tasks()])


def resolve_task_names(tasks: str | Sequence[str] | None) -> list[str]:
    """``"all"`` / None -> every task of :func:`known_tasks` (named-only tasks join it only when
    named too: ``all,semeval-headlines-va``); a comma list or sequence -> those, in registry order,
    deduplicated, followed by table specs (``mine.csv:text=body,valence=v,arousal=a``, see
    :func:`table_task`) in the order given. An unknown name is a :class:`CarlError` listing
    the known ones."""
    if tasks is None:
        return known_tasks()
    items = split_specs(tasks if isinstance(tasks, str) else [str(t) for t in tasks], what="--tasks")
    if not items:
        raise CarlError(f"no task given; tasks are: {_task_list()}, or a table spec "
                        "mine.csv:text=COL,valence=COL,arousal=COL")
    tables = list(dict.fromkeys(t for t in items if is_table(t)))
    items = [t for t in items if not is_table(t)]
    unknown = [t for t in items if t not in TASKS and t != "all"]
    if unknown:
        raise CarlError(f"unknown task(s) {', '.join(unknown)}; tasks are: {_task_list()}, or a "
                        "table spec such as mine.csv:text=body,valence=v,arousal=a (.csv, .tsv or .jsonl)")
    wanted = set(items) | (set(known_tasks()) if "all" in items else set())
    return [t for t in TASKS if t in wanted] + tables


MIN_TABLE_ROWS = 30
"""An evaluation table is split 80/10/10; below this many rows its test split is too small."""


def table_task(spec: str) -> TaskSpec:
    """A task built from a user's table spec (:mod:`carl.data.specs`), named by its path.

    With valence and arousal columns (the default) it is a V-A regression task, scored like
    ``emobank``; a spec that names only a ``label=`` column (no ``valence=`` / ``arousal=``)
    is a single-label classification task, scored like ``carer``. The table's rows are split
    80/10/10 by text (seeded by the split seed, as Facebook-VA): the probe is fitted on the
    first part, its hyper-parameter chosen on the second, and scored on the third.
    """
    table = parse_table_spec(spec)
    if table.has_va:
        return TaskSpec(table.path, "va_regression", table.spec,
                        f"V-A regression on your table {table.spec} (seeded 80/10/10 split), Ridge probe",
                        _VA_METRICS)
    return TaskSpec(table.path, "classification", table.spec,
                    f"classification of {table.label_column} in your table {table.spec} (seeded 80/10/10 split), "
                    "logistic probe", _CLS_METRICS)


def task_spec(name: str) -> TaskSpec:
    """The :class:`TaskSpec` of a registry name or a table spec."""
    if name in TASKS:
        return TASKS[name]
    if is_table(name):
        return table_task(name)
    raise CarlError(f"unknown task {name!r}; tasks are: {_task_list()}, or a table spec")


def report_metrics_of(task: str, present: Sequence[str]) -> list[str]:
    """The metrics a Markdown table shows for ``task``: its spec's, or for a task outside the
    registry (a table, named by its path) the V-A or classification headline metrics present."""
    if task in TASKS:
        return [m for m in TASKS[task].report_metrics if m in present]
    for metrics in (_VA_METRICS, _CLS_METRICS):
        if metrics[0] in present:
            return [m for m in metrics if m in present]
    return sorted(present)
