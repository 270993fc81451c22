"""The V-A grid: nine classes from the training tertiles of valence and arousal, the labels the
class baselines (supervised CE, SupCon) train on."""

from __future__ import annotations


import numpy as np
import pytest

from carl.data.records import Record
from carl.data.va_grid import LEVELS, VAGrid
from carl.errors import DataError


def _rec(v, a, labels=(), i=0) -> Record:
    return Record(text=f"text {i}", valence=v, arousal=a, labels=labels, corpus="toy", split="train", id=str(i))


def _toy_records() -> list[Record]:
    # V = 0..9 and A = 9..0 (reversed) so the two dimensions get different cuts.
    return [_rec(float(v), float(9 - v) * 2, labels=("joy",), i=v) for v in range(10)]


def test_va_grid_cuts_are_training_tertiles():
    records = _toy_records()
    grid = VAGrid.fit(records)
    v = np.array([r.valence for r in records])
    a = np.array([r.arousal for r in records])
    np.testing.assert_allclose(grid.valence_cuts, np.quantile(v, [1 / 3, 2 / 3]))
    np.testing.assert_allclose(grid.arousal_cuts, np.quantile(a, [1 / 3, 2 / 3]))
    assert grid.valence_cuts == pytest.approx((3.0, 6.0))
    assert grid.arousal_cuts == pytest.approx((6.0, 12.0))


def test_va_grid_cells_nine_levels_and_ties_go_up():
    grid = VAGrid(valence_cuts=(0.3, 0.6), arousal_cuts=(0.4, 0.7))
    cells = {grid.cell(v, a) for v in (0.0, 0.45, 0.9) for a in (0.1, 0.5, 0.95)}
    assert cells == {f"V-{lv}/A-{la}" for lv in LEVELS for la in LEVELS}
    assert len(cells) == 9
    # A value exactly on a cut goes to the upper level.
    assert grid.cell(0.3, 0.4) == "V-mid/A-mid"
    assert grid.cell(0.6, 0.7) == "V-high/A-high"
    assert grid.cell(0.2999, 0.3999) == "V-low/A-low"
    assert grid.cell(0.5999, 0.6999) == "V-mid/A-mid"
    # Values outside the training range still get the extreme levels.
    assert grid.cell(-5.0, 5.0) == "V-low/A-high"


def test_va_grid_relabel_keeps_va_and_replaces_labels():
    records = _toy_records()
    grid = VAGrid.fit(records)
    relabelled = grid.relabel(records)
    assert len(relabelled) == len(records)
    for old, new in zip(records, relabelled):
        assert (new.text, new.valence, new.arousal, new.corpus, new.split, new.id) == \
            (old.text, old.valence, old.arousal, old.corpus, old.split, old.id)
        assert new.labels == (grid.cell(old.valence, old.arousal),)
    assert records[0].labels == ("joy",)  # the originals are untouched
    # V 0..9 with cuts 3 and 6: 0-2 low, 3-5 mid, 6-9 high.
    assert [r.labels[0].split("/")[0] for r in relabelled] == ["V-low"] * 3 + ["V-mid"] * 3 + ["V-high"] * 4


def test_va_grid_class_ids_index_the_nine_cells_in_order():
    from carl.data.va_grid import CELLS

    records = _toy_records()
    grid = VAGrid.fit(records)
    ids = grid.class_ids(records)
    assert ids.dtype == np.int64 and ids.shape == (len(records),)
    assert [CELLS[i] for i in ids] == [grid.cell(r.valence, r.arousal) for r in records]
    assert len(set(CELLS)) == 9 and CELLS[0] == "V-low/A-low" and CELLS[-1] == "V-high/A-high"


def test_va_grid_fit_rejects_unrated_records():
    records = _toy_records() + [_rec(None, 0.5, i=99)]
    with pytest.raises(DataError, match="1 of 11"):
        VAGrid.fit(records)
    with pytest.raises(DataError):
        VAGrid.fit([_rec(0.5, None)])
    with pytest.raises(DataError):
        VAGrid.fit([])


def test_va_grid_on_emobank_gives_nine_populated_cells(data_dir):
    from carl.data import load_corpus

    records = load_corpus("emobank", data_dir, ["train"])
    relabelled = VAGrid.fit(records).relabel(records)
    cells = [r.labels[0] for r in relabelled]
    assert len(set(cells)) == 9
    # Tertiles: each level of each dimension holds a sizeable share (ties in the ratings
    # make it only roughly a third).
    for dim in (0, 1):
        counts = {lvl: sum(c.split("/")[dim].endswith(lvl) for c in cells) for lvl in LEVELS}
        assert all(0.2 < n / len(cells) < 0.45 for n in counts.values()), counts


def test_va_grid_relabel_rejects_unrated_records():
    rated = [Record(f"t{i}", i / 10, 1 - i / 10, (), "c", "train", str(i)) for i in range(10)]
    grid = VAGrid.fit(rated)
    with pytest.raises(DataError, match="no valence-arousal rating"):
        grid.relabel([*rated[:2], Record("x", None, 0.5, (), "c", "dev", "x")])
