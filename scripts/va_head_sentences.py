"""Where a model's V-A head puts a few sentences whose feeling a reader knows, and the explorer's nearest words.

    python scripts/va_head_sentences.py "CARL=runs/main/model" "frozen=/tmp/minilm-with-heads" [--output table.md]

For each model (a folder with ``va_head.json``) and sentence: predicted valence and arousal (what
``/v1/affect`` answers) and the three nearest emotion words of the explorer's map
(:class:`carl.serving.affect.EmotionMap`: each word placed by the same model and head in "I feel WORD.").
The sentences were picked before looking at any prediction: the issue's two, and one per circumplex
quadrant and class that a reader places without hesitation.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from carl.inference import load
from carl.serving.affect import EMOTION_WORDS, EmotionMap, reference_texts

SENTENCES = (
    ("I won the final and I can't stop smiling", "pleasant, aroused"),
    ("I am terrified, someone is breaking into the house", "unpleasant, aroused"),
    ("I am so angry I could scream at them", "unpleasant, aroused"),
    ("My dog died this morning and I feel empty", "unpleasant, calm"),
    ("A quiet evening with tea and a good book", "pleasant, calm"),
    ("I'm bored, nothing to do all day", "unpleasant, calm"),
)


def rows(models: dict[str, str]) -> list[str]:
    out = ["| model | sentence | expected | valence | arousal | nearest words |", "|---|---|---|---|---|---|"]
    for name, folder in models.items():
        model = load(folder)
        words = EmotionMap(EMOTION_WORDS, model.predict_va(reference_texts()))
        va = model.predict_va([s for s, _ in SENTENCES])
        for (sentence, expected), point, near in zip(SENTENCES, va, words.nearest(va, 3)):
            out.append(f"| {name} | {sentence} | {expected} | {point[0]:.2f} | {point[1]:.2f} | "
                       f"{', '.join(w for w, *_ in near)} |")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+", help="NAME=FOLDER, each folder with va_head.json")
    parser.add_argument("--output", type=pathlib.Path, default=None, help="also write the table here (Markdown)")
    args = parser.parse_args(argv)
    models = dict(spec.split("=", 1) if "=" in spec else (spec, spec) for spec in args.models)
    table = "\n".join(rows(models)) + "\n"
    sys.stdout.write(table)
    if args.output:
        args.output.write_text(table, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
