"""Data specs: what ``--data``, ``data.train`` / ``data.dev`` and ``carl evaluate --tasks`` accept.

An item is a corpus name (``emobank``; see ``carl data list``) or a **table spec**::

    PATH[:KEY=COLUMN,KEY=COLUMN,...]       e.g.  mine.csv:text=body,valence=v,arousal=a

``PATH`` ends in ``.csv``, ``.tsv`` or ``.jsonl``. Keys: ``text``, ``valence``, ``arousal``,
``label`` (column names; default ``text``, ``valence``, ``arousal``, no label) and
``range``, ``valence_range``, ``arousal_range`` (the rating scale as ``LOW..HIGH``, e.g.
``range=1..9``; default: the file's observed minimum and maximum).

A list of items is comma-separated, and so are a table spec's columns. A comma therefore
starts a new item only where the text after it is not ``KEY=VALUE``:
``emobank,mine.csv:text=body,valence=v,arousal=a,facebook-va`` is three items. Corpus
names never contain ``=``, and a piece that names a table file (``other.csv...``) always
starts a new item, so the two uses cannot collide. Column names cannot contain commas.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from carl.data.tables import read_table
from carl.errors import ConfigError, DataError

__all__ = ["SPEC_FORMAT", "TABLE_KEYS", "TABLE_SUFFIXES", "TableSpec", "is_table", "parse_table_spec",
           "split_specs"]

TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl")
COLUMN_KEYS = ("text", "valence", "arousal", "label")
RANGE_KEYS = ("range", "valence_range", "arousal_range")
TABLE_KEYS = COLUMN_KEYS + RANGE_KEYS
SPEC_FORMAT = "PATH[:text=COL,valence=COL,arousal=COL,label=COL,range=LOW..HIGH]"
EXAMPLE = "mine.csv:text=body,valence=v,arousal=a"

# The path is everything up to the first table suffix that is followed by ':' or the end, so
# a Windows drive letter (C:\data\mine.csv) or a colon inside a folder name is not mistaken
# for the start of the column list.
_TABLE = re.compile(r"(?P<path>.+?\.(?:csv|tsv|jsonl))(?::(?P<columns>.*))?", re.IGNORECASE | re.DOTALL)
_KNOWN_KEY = re.compile(r"\s*(?:" + "|".join(TABLE_KEYS) + r")\s*=")


def is_table(item: str) -> bool:
    """True for a table spec (``PATH.csv``, ``PATH.tsv:text=...``), False for a corpus name."""
    return _TABLE.fullmatch(item.strip()) is not None


def _is_key_value(piece: str) -> bool:
    """Does this comma-separated piece continue a table spec's columns? ``valence=v`` does,
    even ``text=notes.csv`` (a column may be named like a file); ``other.csv:text=t`` starts a
    table and ``emobank`` a corpus; any other ``KEY=VALUE`` (a misspelt key) continues, so
    that the spec's parser can name the mistake."""
    if _KNOWN_KEY.match(piece):
        return True
    return "=" in piece and not is_table(piece)


@dataclass(frozen=True)
class TableSpec:
    """A parsed table spec: the file, its column names and rating scales."""

    spec: str
    path: str
    text_column: str = "text"
    valence_column: str = "valence"
    arousal_column: str = "arousal"
    label_column: str | None = None
    valence_range: tuple[float, float] | None = None
    arousal_range: tuple[float, float] | None = None
    given: frozenset[str] = field(default_factory=frozenset)
    """The keys the spec names explicitly."""

    @property
    def name(self) -> str:
        """The file name (``mine.csv``): how reports and errors refer to the table."""
        return self.path.replace("\\", "/").rsplit("/", 1)[-1]

    @property
    def has_va(self) -> bool:
        """False only for a spec that names a label column and neither V nor A column:
        a table of labelled texts (a classification task for ``carl evaluate``)."""
        return not ("label" in self.given and not {"valence", "arousal"} & self.given)

    def read_kwargs(self) -> dict:
        """Keyword arguments of :func:`carl.data.read_table` for this spec."""
        va = self.has_va
        return {"text_column": self.text_column, "valence_column": self.valence_column if va else None,
                "arousal_column": self.arousal_column if va else None, "label_column": self.label_column,
                "valence_range": self.valence_range if va else None,
                "arousal_range": self.arousal_range if va else None}

    def with_columns(self, columns: Iterable[str]) -> str:
        """A corrected spec for a file whose header is ``columns`` (used in error messages):
        the spec's own names where the file has them, ``COL`` where it does not."""
        present = list(columns)
        parts = []
        for key, name in (("text", self.text_column), ("valence", self.valence_column if self.has_va else None),
                          ("arousal", self.arousal_column if self.has_va else None), ("label", self.label_column)):
            if name is not None:
                parts.append(f"{key}={name if name in present else 'COL'}")
        return f"{self.path}:{','.join(parts)}"


def _range(text: str, key: str, spec: str) -> tuple[float, float]:
    low, sep, high = text.partition("..")
    try:
        if not sep:
            raise ValueError
        pair = (float(low), float(high))
    except ValueError:
        raise ConfigError(f"bad table spec {spec!r}: {key}={text!r} is not LOW..HIGH; e.g. {key}=1..9 "
                          f"(the scale the ratings use)") from None
    if not (math.isfinite(pair[0]) and math.isfinite(pair[1]) and pair[0] < pair[1]):
        raise ConfigError(f"bad table spec {spec!r}: {key}={text!r} needs two finite numbers with LOW < HIGH")
    return pair


def parse_table_spec(spec: str) -> TableSpec:
    """``"reviews.csv:text=body,valence=v,arousal=a"`` -> :class:`TableSpec`.

    A bad spec is a :class:`ConfigError` that shows the expected form and, for a misspelt
    key, the key it probably means.
    """
    match = _TABLE.fullmatch(spec.strip())
    if match is None:
        raise ConfigError(f"bad table spec {spec!r}: the path must end in .csv, .tsv or .jsonl; expected "
                          f"{SPEC_FORMAT}, e.g. {EXAMPLE}")
    path, columns = match["path"].strip(), match["columns"]
    values: dict[str, object] = {}
    for item in (columns or "").split(","):
        if not item.strip() and columns is not None and columns.strip():
            raise ConfigError(f"bad table spec {spec!r}: an empty entry between commas; expected {SPEC_FORMAT}")
        if not item.strip():
            continue
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or key not in TABLE_KEYS:
            hint = difflib.get_close_matches(key, TABLE_KEYS, n=1)
            what = f"unknown key {key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "") if sep else \
                f"{item.strip()!r} is not KEY=COLUMN"
            raise ConfigError(f"bad table spec {spec!r}: {what}; expected {SPEC_FORMAT}, e.g. {EXAMPLE}")
        if key in values:
            raise ConfigError(f"bad table spec {spec!r}: {key} is given twice")
        if not value:
            raise ConfigError(f"bad table spec {spec!r}: {key}= needs a value, e.g. {EXAMPLE}")
        values[key] = _range(value, key, spec) if key in RANGE_KEYS else value
    if "range" in values and ({"valence_range", "arousal_range"} & set(values)):
        raise ConfigError(f"bad table spec {spec!r}: give either range= (both ratings) or valence_range= / "
                          "arousal_range=, not both")
    both = values.get("range")
    return TableSpec(spec=spec.strip(), path=path,
                     text_column=str(values.get("text", "text")),
                     valence_column=str(values.get("valence", "valence")),
                     arousal_column=str(values.get("arousal", "arousal")),
                     label_column=values.get("label"),  # type: ignore[arg-type]
                     valence_range=values.get("valence_range", both),  # type: ignore[arg-type]
                     arousal_range=values.get("arousal_range", both),  # type: ignore[arg-type]
                     given=frozenset(values))


def split_specs(value: str | Iterable[str] | None, *, what: str = "--data") -> list[str]:
    """Split a comma-separated list of corpus names and table specs into items.

    ``value`` is one string or a list of strings (a YAML list such as ``[a.csv:text=t,
    valence=v]``, whose own commas YAML has already split); the result is the same either
    way. A piece ``KEY=VALUE`` continues the table spec before it; anything else starts a
    new item. Each table spec is parsed, so a bad one fails here, before any data is read.
    """
    if value is None:
        return []
    texts = [value] if isinstance(value, str) else list(value)
    pieces = [piece.strip() for text in texts for piece in str(text).split(",")]
    items: list[str] = []
    for piece in pieces:
        if not piece:
            continue
        if not _is_key_value(piece):
            items.append(piece)
            continue
        previous = items[-1] if items else None
        if previous is None or not is_table(previous):
            after = f" after {previous!r}" if previous else ""
            raise ConfigError(f"{what}: {piece!r}{after} is neither a corpus name nor a table file; column names "
                              f"follow a table's path, e.g. {EXAMPLE}")
        if ":" not in previous[len(_TABLE.fullmatch(previous)["path"]):]:
            raise ConfigError(f"{what}: {piece!r} follows {previous!r} after a comma; the column names go after a "
                              f"colon: {previous}:{piece}")
        items[-1] = f"{previous},{piece}"
    for item in items:
        if is_table(item):
            parse_table_spec(item)
    return items


def read_spec(spec: str | TableSpec, *, split: str = "train", on_bad_row: str = "error", corpus: str | None = None):
    """The records of a table spec (:func:`carl.data.read_table` with the spec's columns and
    scales). A missing column is reported with the corrected spec as the fix."""
    table = spec if isinstance(spec, TableSpec) else parse_table_spec(spec)
    try:
        return read_table(table.path, split=split, on_bad_row=on_bad_row, corpus=corpus, **table.read_kwargs())
    except DataError as err:
        present = getattr(err, "columns", None)
        if present is None:
            raise
        raise DataError(err.message, path=err.path, line=err.line,
                        fix=f"name the file's columns after its path: {table.with_columns(present)} "
                            f"(COL: one of {present})") from None
