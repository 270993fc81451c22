"""The documentation's links: every relative link of README.md, CONTRIBUTING.md and docs/*.md
points at an existing file and, for ``#anchors`` into Markdown, an existing heading (GitHub's
slugs); links starting ``../shared/`` resolve against the repository's parent folder, where CI
clones ``shared/`` beside the checkout. No document names an absolute path of one machine
(``/work/...``, ``/home/...``). The examples in the same files run in tests/test_docs.py.
"""

from __future__ import annotations

import pathlib
import re

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").glob("*.md"))]


def github_slug(heading: str) -> str:
    text = re.sub(r"`", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors_of(path: pathlib.Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if re.match(r"^ {0,3}(`{3,}|~{3,})", line):
            in_code = not in_code
            continue
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match and not in_code:
            slug = github_slug(match[1])
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            out.add(slug if count == 0 else f"{slug}-{count}")
    return out


def links_of(path: pathlib.Path) -> list[tuple[int, str]]:
    out, in_code = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if re.match(r"^ {0,3}(`{3,}|~{3,})", line):
            in_code = not in_code
            continue
        if in_code:
            continue
        text = re.sub(r"`[^`]*`", "", line)
        out += [(number, target) for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text)]
    return out


def broken_links(doc: pathlib.Path, shared_parent: pathlib.Path = REPO.parent) -> list[str]:
    """``file:line: target ...`` for each relative link of ``doc`` whose file or anchor is missing."""
    broken = []
    for number, target in links_of(doc):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
            continue  # https:, mailto: ... (no internet here)
        path, _, anchor = target.partition("#")
        if not path:
            resolved = doc
        elif path.startswith("../shared/"):
            resolved = shared_parent / path[len("../"):]
        else:
            resolved = (doc.parent / path).resolve()
        if not resolved.exists():
            broken.append(f"{doc.name}:{number}: {target} -> {resolved} does not exist")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors_of(resolved):
            broken.append(f"{doc.name}:{number}: {target}: no heading with anchor #{anchor} in {resolved.name}")
    return broken


def one_machine_paths(doc: pathlib.Path) -> list[str]:
    return [f"{doc.name}:{n}: {line.strip()}" for n, line in
            enumerate(doc.read_text(encoding="utf-8").splitlines(), start=1)
            if re.search(r"(?<![\w.])/(work|home|Users|root)/", line)]


@pytest.mark.parametrize("doc", DOCS, ids=[d.relative_to(REPO).as_posix() for d in DOCS])
def test_relative_links_resolve(doc: pathlib.Path):
    if not doc.is_file():
        pytest.skip(f"{doc.name} does not exist")
    broken = broken_links(doc)
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("doc", DOCS, ids=[d.relative_to(REPO).as_posix() for d in DOCS])
def test_no_paths_of_one_machine(doc: pathlib.Path):
    if not doc.is_file():
        pytest.skip(f"{doc.name} does not exist")
    found = one_machine_paths(doc)
    assert not found, "absolute paths of one machine (use paths relative to the repository):\n" + "\n".join(found)


def test_the_checker_finds_missing_files_anchors_and_machine_paths(tmp_path):
    """A synthetic pair of documents: GitHub's slugs (backticks dropped, punctuation dropped,
    repeated headings numbered), links inside code ignored, and each kind of fault reported."""
    docs = tmp_path / "repo" / "docs"
    docs.mkdir(parents=True)
    (tmp_path / "shared" / "data").mkdir(parents=True)
    other = docs / "other.md"
    other.write_text("# The `cpu` grid: 3 seeds\n\n## Notes\n\n## Notes\n\n```\n# not a heading\n```\n")
    assert anchors_of(other) == {"the-cpu-grid-3-seeds", "notes", "notes-1"}
    doc = docs / "doc.md"
    doc.write_text("# Top\n"
                   "[ok](other.md#notes-1) [self](#top) [web](https://example.org/x) [shared](../shared/data)\n"
                   "[gone](missing.md) [bad anchor](other.md#not-a-heading) `[code](nowhere.md)`\n"
                   "```\n[in a block](nowhere.md)\n```\n"
                   "see /work/main/results and /home/me/x\nrelative: ./work/ and a/work/b\n")
    assert broken_links(doc, shared_parent=tmp_path) == [
        f"doc.md:3: missing.md -> {docs / 'missing.md'} does not exist",
        "doc.md:3: other.md#not-a-heading: no heading with anchor #not-a-heading in other.md"]
    assert one_machine_paths(doc) == ["doc.md:7: see /work/main/results and /home/me/x"]
