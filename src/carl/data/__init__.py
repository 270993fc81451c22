"""carl's data layer: affect corpora as Records with V-A in [0, 1] and discrete labels.

See docs/data.md for every corpus's source, licence, split rule and label -> V-A mapping.
"""

from carl.data.fetch import fetch
from carl.data.lexicon import EMOTION_VA_WORDS, GOEMOTIONS_10_LABELS, label_coordinates, load_nrc_vad
from carl.data.loading import load_corpus
from carl.data.records import SPLITS, Record
from carl.data.registry import CORPORA, CorpusInfo, cli_list_rows, known_corpora, resolve_data_dir
from carl.data.tables import read_table
from carl.data.va_grid import VAGrid

__all__ = [
    "CORPORA",
    "EMOTION_VA_WORDS",
    "GOEMOTIONS_10_LABELS",
    "SPLITS",
    "VAGrid",
    "CorpusInfo",
    "Record",
    "cli_list_rows",
    "fetch",
    "known_corpora",
    "label_coordinates",
    "load_corpus",
    "load_nrc_vad",
    "read_table",
    "resolve_data_dir",
]
