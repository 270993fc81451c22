"""Emotion words on the valence-arousal circumplex, placed by the served model itself.

The words are common English emotion terms chosen for this project (spread over Russell's
circumplex: pleasant/unpleasant x activated/deactivated). Their coordinates are **not** taken from
a lexicon (NRC-VAD's licence forbids redistributing its ratings): each word is embedded by the
served model in the sentence ``"I feel WORD."`` and the model's own V-A head (``va_head.json``)
predicts its valence and arousal, so words and user texts sit in the same predicted space and
"nearest words" means nearest by the model's own reading. The frame sentence is used because the
head was fitted on sentences (EmoBank, Facebook posts), not on isolated words.
"""

from __future__ import annotations

import numpy as np

EMOTION_WORDS: tuple[str, ...] = (
    # pleasant, activated
    "excited", "elated", "ecstatic", "enthusiastic", "delighted", "thrilled", "triumphant", "proud", "amused",
    "joyful", "happy", "cheerful", "hopeful", "inspired",
    # pleasant, deactivated
    "content", "satisfied", "pleased", "grateful", "loving", "relieved", "relaxed", "calm", "serene", "peaceful",
    "comfortable",
    # unpleasant, deactivated
    "bored", "tired", "sleepy", "lethargic", "gloomy", "sad", "lonely", "depressed", "miserable", "disappointed",
    "hopeless", "guilty", "ashamed", "nostalgic",
    # unpleasant, activated
    "angry", "furious", "enraged", "annoyed", "irritated", "frustrated", "disgusted", "hostile", "jealous", "bitter",
    "afraid", "scared", "terrified", "anxious", "nervous", "worried", "tense", "stressed", "panicked", "alarmed",
    "embarrassed",
    # ambiguous valence, mostly activated
    "surprised", "astonished", "curious", "confused", "shocked",
)

FRAME = "I feel {word}."
METHOD = f"the model's V-A head applied to the model's embedding of '{FRAME}' for each word"
SCALE = "valence and arousal in the normalised [0, 1] scale of carl's V-A labels (0.5 = neutral / mid)"


def reference_texts(words: tuple[str, ...] = EMOTION_WORDS) -> list[str]:
    """The frame sentence for each emotion word: the explorer's reference set of sentences that
    differ in feeling and in nothing else."""
    return [FRAME.format(word=w) for w in words]


def similarity_reference(vectors: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of the cosine over every pair (i < j) of ``vectors``.

    Applied to the embeddings of :func:`reference_texts`, they say how similar a space finds two
    sentences that differ only in the emotion named: a space that is less uniform (every cosine
    high) has a high mean, so raw cosines of two spaces are not comparable, standardised ones are.
    """
    unit = np.asarray(vectors, dtype=np.float64)
    unit = unit / np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)
    upper = (unit @ unit.T)[np.triu_indices(len(unit), k=1)]
    return float(upper.mean()), float(upper.std())


def standardised(cosine: float, reference: tuple[float, float]) -> float:
    """z = (cos - mean_ref) / std_ref: how many reference standard deviations a pair's cosine
    lies above the typical cosine between two emotion-word sentences in the same space."""
    mean, std = reference
    return (cosine - mean) / std if std > 0 else 0.0


class EmotionMap:
    """The words' predicted (valence, arousal), and nearest-word look-ups on that plane."""

    def __init__(self, words: tuple[str, ...], coordinates: np.ndarray):
        self.words = words
        self.coordinates = np.asarray(coordinates, dtype=np.float64)

    def nearest(self, points: np.ndarray, k: int) -> list[list[tuple[str, float, float, float]]]:
        """For each (valence, arousal) point, the k nearest words: (word, valence, arousal, distance)."""
        k = min(k, len(self.words))
        out = []
        for point in np.atleast_2d(points):
            dist = np.linalg.norm(self.coordinates - point, axis=1)
            order = np.argsort(dist, kind="stable")[:k]
            out.append([(self.words[i], float(self.coordinates[i, 0]), float(self.coordinates[i, 1]), float(dist[i]))
                        for i in order])
        return out
