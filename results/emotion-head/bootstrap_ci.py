"""95 % bootstrap intervals of the macro-F1s in this folder's reports, from their confusion matrices.

    python results/emotion-head/bootstrap_ci.py            # prints one Markdown table

A report keeps, per corpus, the confusion matrix of gold against predicted labels: the multiset of
(gold, predicted) pairs of its test rows, which is all a row bootstrap needs. Each replicate draws
as many rows with replacement (a multinomial over the cells) and recomputes macro-F1 over the
corpus's classes (carl.evaluation.emotion_head_eval.single_label_scores' rule: predictions outside
them are wrong). Intervals are per model, not paired: two models' intervals that overlap can still
differ on the same rows.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
MODELS = ("frozen-minilm", "carl-main", "main-run-head", "nrclex", "union-ce-emotion", "hybrid-w1")
CLASSES = {"goemotions": ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"),
           "tec": ("anger", "disgust", "fear", "joy", "sadness", "surprise"),
           "carer": ("anger", "fear", "joy", "sadness", "surprise"),
           "dailydialog": ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")}


def macro_f1(counts: np.ndarray, gold: list[str], pred: list[str], classes) -> np.ndarray:
    """Macro-F1 over ``classes`` of each row of ``counts`` ((R, cells), one count per (gold, pred) cell)."""
    f1 = []
    for c in classes:
        tp = counts[:, [i for i, (g, p) in enumerate(zip(gold, pred)) if g == c and p == c]].sum(axis=1)
        support = counts[:, [i for i, g in enumerate(gold) if g == c]].sum(axis=1)
        predicted = counts[:, [i for i, p in enumerate(pred) if p == c]].sum(axis=1)
        denom = support + predicted
        f1.append(np.divide(2 * tp, denom, out=np.zeros(len(counts)), where=denom > 0))
    return np.mean(f1, axis=0)


def interval(confusion: dict, classes, reps: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    cells = [(g, p, n) for g, row in confusion.items() for p, n in row.items()]
    gold, pred, n = [c[0] for c in cells], [c[1] for c in cells], np.array([c[2] for c in cells])
    point = macro_f1(n[None, :], gold, pred, classes)[0]
    draws = np.random.default_rng(seed).multinomial(n.sum(), n / n.sum(), size=reps)
    lo, hi = np.percentile(macro_f1(draws, gold, pred, classes), [2.5, 97.5])
    return point, lo, hi


def main() -> None:
    print("| model | GoEmotions-Ekman | TEC | CARER | DailyDialog |")
    print("|---|---|---|---|---|")
    for model in MODELS:
        if not (HERE / f"{model}.json").is_file():
            print(f"| {model} | not evaluated yet: no {model}.json here | | | |")
            continue
        details = json.loads((HERE / f"{model}.json").read_text())["runs"][0]["results"]["_meta"]["details"]
        cells = [interval(details["emotion-head-goemotions"]["confusion"], CLASSES["goemotions"])]
        cells += [interval(details["emotion-head-transfer"][c]["confusion"], CLASSES[c])
                  for c in ("tec", "carer", "dailydialog")]
        print(f"| {model} | " + " | ".join(f"{p:.3f} [{lo:.3f}, {hi:.3f}]" for p, lo, hi in cells) + " |")


if __name__ == "__main__":
    main()
