"""Paths as committed results may carry them: never an absolute path of the machine that wrote them.

Results (evaluation records, reports, run configs under ``results/``) travel with the repository,
so the paths they name are rewritten to what any checkout can read: relative to the working
directory (the repository root, where carl's commands run), ``$CARL_DATA_DIR/...`` for the corpora,
``<site-packages>/...`` for packaged models, ``~/...`` for the user's caches, ``<tmp>/...`` for
temporary folders.
"""

from __future__ import annotations

import os
import pathlib
import site
import sysconfig
import tempfile
from collections.abc import Mapping

from carl.data.registry import resolve_data_dir

DATA_DIR_PLACEHOLDER = "$CARL_DATA_DIR"


def _prefixes(cwd: pathlib.Path | None = None) -> list[tuple[str, str]]:
    """(absolute prefix, portable replacement), longest first so that the most specific wins."""
    found = [(str(resolve_data_dir().resolve()), DATA_DIR_PLACEHOLDER),
             (os.path.abspath(str(cwd or pathlib.Path.cwd())), "."),
             (str(pathlib.Path.home()), "~"),
             (tempfile.gettempdir(), "<tmp>")]
    packages = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()}
    found += [(os.path.abspath(p), "<site-packages>") for p in packages]
    return sorted({(p.rstrip("/"), r) for p, r in found if p not in ("", "/")}, key=lambda pr: -len(pr[0]))


def portable_text(text: str, cwd: pathlib.Path | None = None,
                  extra_prefixes: tuple[tuple[str, str], ...] = ()) -> str:
    """``text`` with every occurrence of a machine path prefix replaced (a whole path, or a path
    inside a command line or a Markdown cell); ``./`` of the working directory is dropped."""
    for prefix, replacement in sorted([*extra_prefixes, *_prefixes(cwd)], key=lambda pr: -len(pr[0])):
        if prefix not in text:
            continue
        pieces = text.split(prefix)
        out = pieces[0]
        for piece in pieces[1:]:
            if piece == "" or piece[0] in "/\"'` \n\t,;)|]":
                if replacement == "." and piece.startswith("/"):
                    out += piece[1:]
                else:
                    out += replacement + piece
            else:  # a longer name that merely starts like the prefix (/work/main2): not this path
                out += prefix + piece
        text = out
    return text


def portable(obj, cwd: pathlib.Path | None = None):
    """``obj`` (JSON-like: mappings, lists, strings) with :func:`portable_text` applied to every string,
    mapping keys included."""
    if isinstance(obj, str):
        return portable_text(obj, cwd) if "/" in obj else obj
    if isinstance(obj, Mapping):
        return {portable(k, cwd): portable(v, cwd) for k, v in obj.items()}  # keys too: runs are keyed by name
    if isinstance(obj, (list, tuple)):
        return [portable(v, cwd) for v in obj]
    return obj
