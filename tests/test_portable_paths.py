"""Committed results carry no absolute path of the machine that wrote them (carl.portable)."""

import json
import pathlib
import re

from carl.portable import portable, portable_text

ROOT = pathlib.Path(__file__).resolve().parents[1]
#: An absolute path under a folder where machines keep checkouts, homes, data or temporary files.
MACHINE_PATH = re.compile(r"(?<![\w$<>~.-])/(?:work|root|home|Users|tmp|mnt|opt|srv|scratch|var|private)/[^\s\"'`|,)]+")


def test_no_absolute_path_in_committed_results():
    offenders = {}
    for path in sorted([*(ROOT / "results").rglob("*"), *(ROOT / "benchmarks" / "results").rglob("*")]):
        if path.is_file() and path.suffix in {".json", ".jsonl", ".md", ".yaml", ".csv", ".txt"}:
            found = MACHINE_PATH.findall(path.read_text(encoding="utf-8"))
            if found:
                offenders[str(path.relative_to(ROOT))] = found[:2]
    assert not offenders, f"absolute paths in results/ or benchmarks/results/ (mend with scripts/portable_results.py): {offenders}"


def test_the_pattern_finds_the_paths_it_guards_against():
    assert MACHINE_PATH.findall('"data_dir": "/work/shared/data"') == ["/work/shared/data"]
    assert MACHINE_PATH.findall("| frozen | `/root/.cache/carl/mpnet` |") == ["/root/.cache/carl/mpnet"]
    assert not MACHINE_PATH.findall('"model": "results/x/model", "data_dir": "$CARL_DATA_DIR", route /v1/map')


def test_portable_text_rewrites_each_kind_of_machine_path(tmp_path, monkeypatch):
    data = tmp_path / "corpora"
    monkeypatch.setenv("CARL_DATA_DIR", str(data))
    repo = tmp_path / "repo"
    home = pathlib.Path.home()
    assert portable_text(f"{repo}/results/grid/runs/carl/seed0/model", cwd=repo) == "results/grid/runs/carl/seed0/model"
    assert portable_text(str(repo), cwd=repo) == "."
    assert portable_text(f"{data}/emobank/corpus_emobank.csv", cwd=repo) == "$CARL_DATA_DIR/emobank/corpus_emobank.csv"
    assert portable_text(f"{home}/.cache/carl/mpnet", cwd=repo) == "~/.cache/carl/mpnet"
    # inside a command line, and a longer folder name that only starts like the prefix is left alone
    assert (portable_text(f"carl reproduce --output-dir {repo}/results/x --data-dir {data}", cwd=repo)
            == "carl reproduce --output-dir results/x --data-dir $CARL_DATA_DIR")
    assert portable_text(f"{repo}2/file", cwd=repo).endswith("/repo2/file")  # (its temporary parent becomes <tmp>)
    assert portable_text("/old/venv/site-packages/pkg/model", cwd=repo,
                         extra_prefixes=(("/old/venv/site-packages", "<site-packages>"),)) == "<site-packages>/pkg/model"
    record = {"_meta": {"model_path": f"{repo}/results/m", "seconds": {"emobank": 1.5}, "tasks": [f"{data}/x", "sst2"]}}
    assert portable(record, cwd=repo) == {"_meta": {"model_path": "results/m", "seconds": {"emobank": 1.5},
                                                    "tasks": ["$CARL_DATA_DIR/x", "sst2"]}}
    json.dumps(portable(record, cwd=repo))  # still JSON
