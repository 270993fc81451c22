"""The target table of docs/results.md ("The target of issue #12, and what was tried") says
what the committed reports say.

Each row names a configuration, a report (a link, or "same" for the row above's) and three
numbers read from it: the seeds, the count of headline tasks where the row's mean is above
the mean of every baseline (and, in brackets, clearly above), and the EmoBank Pearson of the
frozen encoder and of the row. This module recomputes each from the report's ``report.json``
with the report's own function (:func:`carl.reproduce.report.baseline_gaps`), so a report that
gains a seed fails here until the table is brought up to date.
"""

from __future__ import annotations

import functools
import json
import pathlib
import re

import pytest

from carl.reproduce.presets import FROZEN_LABEL
from carl.reproduce.report import baseline_gaps, baselines_in

REPO = pathlib.Path(__file__).resolve().parents[1]
RESULTS_DOC = REPO / "docs" / "results.md"
HEADING = "## The target of issue #12, and what was tried"
LABEL_OF_ROW = {
    "CARL, the paper's settings": "CARL",
    "CARL online-only": "CARL online-only",
    "CARL w/o PTD": "CARL w/o PTD",
    "CARL+ (`--recipe carl-plus`)": "CARL+ (recipe)",
    "CARL+": "CARL+ (recipe)",
    "CARL+ queue (`--recipe carl-plus-queue`)": "CARL+ queue (recipe)",
    "CARL+ queue": "CARL+ queue (recipe)",
    "CARL+ queue, all-mpnet-base-v2": "CARL+ queue (recipe)",
    "CARL, the paper's settings, all-mpnet-base-v2": "CARL",
    "CARL, the paper's settings, six corpora": "CARL",
    "CARL online-only, six corpora": "CARL online-only",
    "CARL+, six corpora": "CARL+ (recipe)",
    "CARL+ queue, six corpora": "CARL+ queue (recipe)",
    **{label: label for label in ("CARL w/o MCCL", "CARL one-hot labels", "CARL random tokens", "CARL ε=0.01·‖e‖",
                                  "CARL ε=0.1·‖e‖", "CARL ε=1·‖e‖", "CARL top-0.3", "CARL top-0.5",
                                  "CARL momentum 0.99")},
}
"""The table's wording of a configuration → the report's label for it."""


def target_table_rows(text: str) -> list[dict]:
    """The rows of the first table under HEADING, as {column: cell}, with "same" resolved."""
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows, report = [], None
    for line in lines[2:]:
        cells = dict(zip(header, (cell.strip() for cell in line.strip("|").split("|"))))
        link = re.search(r"\]\(([^)]+)\)", cells["report"])
        report = (RESULTS_DOC.parent / link[1]).resolve() if link else report
        assert report is not None, f"row {cells['configuration']!r}: 'same' with no report above it"
        rows.append({**cells, "report_path": report})
    return rows


@functools.cache
def report_json(report_md: pathlib.Path) -> dict:
    return json.loads(report_md.with_name("report.json").read_text())


def found_in(report_md: pathlib.Path) -> list[tuple[str, dict, dict]]:
    """(label, result, record) per evaluated run of the report, as carl.reproduce.report.collect gives."""
    return [(run["name"], run["results"], run) for run in report_json(report_md)["runs"]]


ROWS = target_table_rows(RESULTS_DOC.read_text(encoding="utf-8"))


def test_the_table_has_every_budget_and_report():
    assert len(ROWS) >= 10
    reports = {row["report_path"].parent.name for row in ROWS}
    assert reports == {"reproduce-cpu", "budget-cpu-long", "base-cpu", "union-cpu"}


@pytest.mark.parametrize("row", ROWS, ids=[f"{r['configuration']} @ {r['budget']}" for r in ROWS])
def test_row_says_what_its_report_says(row: dict):
    found = found_in(row["report_path"])
    label = LABEL_OF_ROW[row["configuration"]]
    gaps = baseline_gaps(found, label, baselines_in(found))
    assert gaps, f"{label} has no evaluation in {row['report_path']}"
    assert row["seeds"] == str(len(gaps[0].values)), "seeds"

    count = re.fullmatch(r"\**(\d+) \(([\d–]+)[^)]*\)\**", row["above every baseline, of 13 (clearly)"])
    assert count, f"unreadable count cell {row['above every baseline, of 13 (clearly)']!r}"
    assert (len(gaps), int(count[1])) == (13, sum(g.delta > 0 for g in gaps)), "tasks above every baseline"
    clearly = sum(g.clearly for g in gaps)
    assert count[2] == (str(clearly) if len(gaps[0].values) > 1 else "–"), "clearly above"

    emobank = re.fullmatch(r"(0\.\d{3}) → \**(0\.\d{3})\**", row["EmoBank r, frozen → it"])
    assert emobank, f"unreadable EmoBank cell {row['EmoBank r, frozen → it']!r}"
    summary = report_json(row["report_path"])["summary"]
    frozen, ours = (summary[name]["emobank"]["pearson_mean"]["mean"] for name in (FROZEN_LABEL, label))
    assert (emobank[1], emobank[2]) == (f"{frozen:.3f}", f"{ours:.3f}"), "EmoBank"


def test_the_reader_catches_a_wrong_count():
    """The same check on a copy of the table with one count changed must fail."""
    row = next(r for r in ROWS if r["configuration"] == "CARL, the paper's settings")
    wrong = {**row, "above every baseline, of 13 (clearly)": "12 (0)"}
    with pytest.raises(AssertionError, match="tasks above every baseline"):
        test_row_says_what_its_report_says(wrong)
