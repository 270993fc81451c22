"""Zero-shot lexicon scorers: what most people use for affect today, as baselines for carl.

Three scorers, none trained on anything carl has:

* **VADER** (Hutto & Gilbert 2014, PyPI ``vaderSentiment``; its lexicon ships inside the
  package): the ``compound`` score in [-1, 1], a valence estimate with VADER's own rules
  (negation, intensifiers, "but", punctuation, capitals, emoticons). VADER has no arousal.
* **NRC-VAD word means** (Mohammad 2018, the lexicon carl already reads,
  :func:`carl.data.lexicon.load_nrc_vad`): a text's valence and arousal are the means of its
  words' lexicon values, each token occurrence counting once.

NRC-VAD tokenisation (:func:`nrc_tokens`): the text is lower-cased (the lexicon is lower case)
and split into runs of letters with inner apostrophes (``[a-z]+(?:'[a-z]+)*``; curly apostrophes
count as ``'``); digits, punctuation and emoji are not words. A token the lexicon lacks is
ignored; if it ends in ``'s`` the stem is tried (``mother's`` -> ``mother``). The lexicon's 130
multi-word entries are not matched (unigrams only), there is no negation handling ("not happy"
scores as "happy") and no lemmatisation. A text with **no** lexicon word gets the neutral
midpoint 0.5 for valence and arousal (on NRC-VAD's [0, 1] scale), the same choice as VADER,
whose compound is 0 (its neutral point) for such texts; :class:`NrcVadScorer` reports how
many texts that was (``coverage``), so the share of texts scored by the fallback is visible.

* **NRCLex as Ekman** (:class:`NrcLexEkmanScorer`; PyPI ``nrclex``, the NRC emotion lexicon
  EmoLex of Mohammad & Turney 2013 as that package ships it, 6,468 words with at least one
  association): a text's Ekman emotion is the argmax of its anger, disgust, fear, joy, sadness and
  surprise word counts (EmoLex's anticipation, trust, positive and negative are not Ekman's and
  are dropped), ``neutral`` when all six are 0. **Ties** go to the first of :data:`EKMAN_TIE_ORDER`
  (carl's Ekman label order, alphabetical: anger, disgust, fear, joy, sadness, surprise); the
  share of tied texts is reported. The lexicon is read from inside the ``nrclex`` package and
  tokenised with :func:`nrc_tokens` (a token EmoLex lacks is tried without a final ``'s``), each
  occurrence counting once: ``NRCLex.load_raw_text`` itself needs TextBlob's NLTK corpora (a
  download; it fails offline) to lemmatise nouns, so plural nouns it would find are missed here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from carl.data.lexicon import load_nrc_vad
from carl.errors import CarlError

__all__ = ["EKMAN_TIE_ORDER", "NEUTRAL", "NrcLexEkmanScorer", "NrcVadScorer", "VaderScorer", "ekman_argmax",
           "nrc_tokens"]

NEUTRAL = 0.5
"""NRC-VAD score of a text with no lexicon word: the midpoint of the lexicon's [0, 1] scale."""

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")


def nrc_tokens(text: str) -> list[str]:
    """Lower-cased word tokens of ``text`` as NRC-VAD is matched (module docstring)."""
    return _WORD.findall(text.lower().replace("\u2019", "'"))


@dataclass
class LexiconScores:
    """Per-text scores: ``values`` (N, k) and ``matched`` (N,) lexicon words found per text."""

    values: np.ndarray
    matched: np.ndarray

    @property
    def coverage(self) -> float:
        """Share of texts with at least one lexicon word (the rest got the neutral fallback)."""
        return float(np.mean(self.matched > 0)) if len(self.matched) else float("nan")


class NrcVadScorer:
    """Valence and arousal of a text as the mean NRC-VAD values of its words."""

    name = "NRC-VAD word means"

    def __init__(self, lexicon: dict[str, tuple[float, float]]):
        if not lexicon:
            raise CarlError("the NRC-VAD lexicon is empty")
        self.lexicon = lexicon

    @classmethod
    def from_data_dir(cls, data_dir: str | os.PathLike | None) -> "NrcVadScorer":
        return cls(load_nrc_vad(data_dir))

    def _lookup(self, token: str) -> tuple[float, float] | None:
        found = self.lexicon.get(token)
        if found is None and token.endswith("'s"):
            found = self.lexicon.get(token[:-2])
        return found

    def score(self, texts: Iterable[str]) -> LexiconScores:
        """(N, 2) valence, arousal in [0, 1]; 0.5 for a text without a lexicon word."""
        values, matched = [], []
        for text in texts:
            hits = [v for v in map(self._lookup, nrc_tokens(text)) if v is not None]
            matched.append(len(hits))
            values.append(np.mean(hits, axis=0) if hits else (NEUTRAL, NEUTRAL))
        return LexiconScores(np.asarray(values, dtype=np.float64).reshape(-1, 2), np.asarray(matched, dtype=np.int64))


class VaderScorer:
    """VADER's compound score (valence only), in [-1, 1]; 0 for a text without a VADER word."""

    name = "VADER compound"

    def __init__(self):
        try:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
        except ImportError:
            raise CarlError("VADER is not installed: pip install vaderSentiment "
                            "(or carl-affect[lexicons])") from None
        self.analyzer = SentimentIntensityAnalyzer()

    def score(self, texts: Sequence[str]) -> LexiconScores:
        """(N, 1) compound scores; ``matched`` counts the words VADER's lexicon knows."""
        from vaderSentiment.vaderSentiment import SentiText

        lexicon = self.analyzer.lexicon
        values, matched = [], []
        for text in texts:
            values.append(self.analyzer.polarity_scores(text)["compound"])
            # VADER's own tokens (emoticons kept), looked up lower-cased as VADER does.
            matched.append(sum(1 for w in SentiText(text).words_and_emoticons if w.lower() in lexicon))
        return LexiconScores(np.asarray(values, dtype=np.float64).reshape(-1, 1), np.asarray(matched, dtype=np.int64))


EKMAN_TIE_ORDER = ("anger", "disgust", "fear", "joy", "sadness", "surprise")
"""The six Ekman emotions EmoLex has, in the order that breaks ties of :func:`ekman_argmax`."""
EKMAN_NEUTRAL = "neutral"


def ekman_argmax(counts: np.ndarray, allowed: Sequence[str] | None = None) -> list[str]:
    """Per row of ``counts`` ((N, 6), columns in :data:`EKMAN_TIE_ORDER`), the emotion with the most
    words; ties go to the first in :data:`EKMAN_TIE_ORDER`; ``neutral`` when every count is 0.
    ``allowed``: only these emotions compete (the others' counts are ignored); a row whose allowed
    counts are all 0 is still ``neutral``, as the lexicon found no evidence for any of them."""
    counts = np.asarray(counts)
    if counts.ndim != 2 or counts.shape[1] != len(EKMAN_TIE_ORDER):
        raise CarlError(f"expected counts of shape (N, {len(EKMAN_TIE_ORDER)}); got {counts.shape}")
    keep = np.array([allowed is None or e in allowed for e in EKMAN_TIE_ORDER])
    masked = np.where(keep, counts, 0)
    best = masked.argmax(axis=1)  # numpy's argmax returns the first maximum: the tie rule
    return [EKMAN_NEUTRAL if row[i] <= 0 else EKMAN_TIE_ORDER[i] for row, i in zip(masked, best)]


class NrcLexEkmanScorer:
    """NRCLex's emotion lexicon as an Ekman classifier (module docstring: tokens, ties, neutral)."""

    name = "NRCLex (EmoLex) word counts, argmax as Ekman"

    def __init__(self, lexicon: dict[str, Sequence[str]], version: str | None = None):
        if not lexicon:
            raise CarlError("the NRC emotion lexicon is empty")
        index = {e: i for i, e in enumerate(EKMAN_TIE_ORDER)}
        self.lexicon = {word: [index[e] for e in emotions if e in index] for word, emotions in lexicon.items()}
        self.version = version

    @classmethod
    def from_package(cls) -> "NrcLexEkmanScorer":
        """The lexicon file inside the installed ``nrclex`` package (no TextBlob, no download)."""
        import importlib.metadata
        import importlib.resources
        import json

        try:
            source = importlib.resources.files("nrclex.data").joinpath("nrc_en.json")
            with source.open("r", encoding="utf-8") as fh:
                lexicon = json.load(fh)
        except (ImportError, FileNotFoundError, OSError):
            raise CarlError("NRCLex is not installed: pip install nrclex (or carl-affect[lexicons])") from None
        except ValueError as exc:
            raise CarlError(f"the NRC emotion lexicon inside the nrclex package is unreadable ({exc}); "
                            "reinstall nrclex") from None
        try:
            version = importlib.metadata.version("nrclex")
        except importlib.metadata.PackageNotFoundError:
            version = None
        return cls(lexicon, version)

    def _lookup(self, token: str) -> list[int] | None:
        found = self.lexicon.get(token)
        if found is None and token.endswith("'s"):
            found = self.lexicon.get(token[:-2])
        return found

    def score(self, texts: Iterable[str]) -> LexiconScores:
        """(N, 6) counts of anger, disgust, fear, joy, sadness, surprise words (:data:`EKMAN_TIE_ORDER`);
        ``matched`` counts the tokens found in the lexicon (any of its ten categories)."""
        values, matched = [], []
        for text in texts:
            row = np.zeros(len(EKMAN_TIE_ORDER), dtype=np.int64)
            hits = 0
            for found in map(self._lookup, nrc_tokens(text)):
                if found is not None:
                    hits += 1
                    row[found] += 1
            values.append(row)
            matched.append(hits)
        return LexiconScores(np.asarray(values, dtype=np.int64).reshape(-1, len(EKMAN_TIE_ORDER)),
                             np.asarray(matched, dtype=np.int64))

    def predict(self, texts: Iterable[str], allowed: Sequence[str] | None = None) -> list[str]:
        """One Ekman label per text (:func:`ekman_argmax`)."""
        return ekman_argmax(self.score(texts).values, allowed)
