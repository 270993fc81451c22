#!/usr/bin/env python3
"""Rewrite absolute paths of the machines that wrote committed results into portable ones.

    python scripts/portable_results.py results [--also /old/prefix=REPLACEMENT ...] [--check]

Every text file (.json, .jsonl, .md, .yaml, .csv, .txt) under the folders given is passed through
carl.portable.portable_text: paths under the working directory become relative, the corpora
``$CARL_DATA_DIR/...``, packaged models ``<site-packages>/...``, the home folder ``~/...``. Run it
from the repository root. ``--also`` adds prefixes of other machines or checkouts (e.g. another
worktree's virtualenv). ``--check`` only lists the files that would change (exit 1 if any).
carl's own writers already write portable paths; this mends results written before they did.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from carl.portable import portable_text

SUFFIXES = {".json", ".jsonl", ".md", ".yaml", ".yml", ".csv", ".txt"}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=pathlib.Path)
    parser.add_argument("--also", action="append", default=[], metavar="PREFIX=REPLACEMENT")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    extra = tuple(tuple(item.split("=", 1)) for item in args.also)
    changed = []
    for folder in args.folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in SUFFIXES):
            text = path.read_text(encoding="utf-8")
            new = portable_text(text, extra_prefixes=extra)
            if new != text:
                changed.append(path)
                if not args.check:
                    path.write_text(new, encoding="utf-8")
    print(f"{'would change' if args.check else 'changed'} {len(changed)} files")
    for path in changed:
        print(f"  {path}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
