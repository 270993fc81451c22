"""The one record type every corpus reader returns."""

from __future__ import annotations

from dataclasses import dataclass

#: Split names used everywhere; corpora that call their dev split "validation" or "val"
#: are renamed on reading so training code never needs to know.
SPLITS: tuple[str, ...] = ("train", "dev", "test")


@dataclass(frozen=True, slots=True)
class Record:
    """One text with its affect labels.

    Valence and arousal are normalised to [0, 1] per corpus, so corpora rated on
    different scales can be mixed in one MCCL batch (METHOD.md; the paper's Eq. 12).
    They are None where a corpus gives no V-A at all. ``labels`` holds discrete label
    names (emotions or sentiment classes); it is empty for purely dimensional corpora.
    """

    text: str
    valence: float | None
    arousal: float | None
    labels: tuple[str, ...] = ()
    corpus: str = ""
    split: str = ""
    id: str = ""
