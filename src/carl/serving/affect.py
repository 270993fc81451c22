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


class EmotionMap:
    """The words' predicted (valence, arousal), and nearest-word look-ups on that plane."""

    def __init__(self, words: tuple[str, ...], coordinates: np.ndarray):
        self.words = words
        self.coordinates = np.asarray(coordinates, dtype=np.float64)

    @classmethod
    def from_model(cls, embed, va_head, words: tuple[str, ...] = EMOTION_WORDS) -> "EmotionMap":
        """``embed(texts) -> (N, H)`` embeddings of the served model; ``va_head`` its VAHead."""
        vectors = embed([FRAME.format(word=w) for w in words])
        return cls(words, va_head.predict(vectors))

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
