"""`--engine ray`: the scoring job on a real local Ray (2 CPUs) writes what the local engine writes."""

import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from serve_models import build_tiny_model  # noqa: E402

# Ray is in the dev extra, which CI installs: a missing Ray fails here rather than skipping the engine's test.
import ray  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray (2 CPUs for the actors, 1 for reads and writes) that both jobs below join, as a job
    joins an existing cluster; a job that finds no Ray starts and stops its own."""
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def tiny_va(tmp_path_factory, export_tiny_model, data_dir):
    return build_tiny_model(tmp_path_factory.getbasetemp() / "serve-models", export_tiny_model, data_dir)


def test_ray_engine_writes_what_the_local_engine_writes(tiny_va, local_ray, data_dir, tmp_path, carl_in_process):
    import csv

    with open(data_dir / "emobank" / "corpus_emobank.csv", newline="", encoding="utf-8") as fh:
        rows = [(r["id"], r["split"], r["text"]) for r in csv.DictReader(fh)][:700]
    rows[123] = (rows[123][0], rows[123][1], "  ")  # a bad row: skipped and counted by both engines
    source = tmp_path / "corpus.parquet"
    pq.write_table(pa.table({"id": [r[0] for r in rows], "split": [r[1] for r in rows],
                             "text": [r[2] for r in rows]}), source, row_group_size=130)
    common = ["--input", source, "--keep-columns", "id,split", "--with-embedding", "--chunk-rows", 150,
              "--on-bad-row", "skip"]
    local = carl_in_process("predict-va", tiny_va, *common, "--output", tmp_path / "local.parquet")
    assert local.returncode == 0, local.stderr[-2000:]
    on_ray = carl_in_process("predict-va", tiny_va, *common, "--output", tmp_path / "ray.parquet", "--engine", "ray",
                             "--workers", 2, "--threads", 1)
    assert on_ray.returncode == 0, on_ray.stderr[-3000:]
    assert "699 rows scored, 1 skipped" in local.stdout and "699 rows scored, 1 skipped" in on_ray.stdout
    # both summaries name the row once ("first: row 124: row 124: ..." was the local engine's old summary)
    assert "first: row 124: empty text\n" in local.stderr and "first: row 124: empty text\n" in on_ray.stderr
    expected, got = pq.read_table(tmp_path / "local.parquet"), pq.read_table(tmp_path / "ray.parquet")
    assert got.column("id").to_pylist() == [r[0] for i, r in enumerate(rows) if i != 123]
    assert got.schema == expected.schema
    assert got.equals(expected)  # row for row, value for value
    assert not (tmp_path / "ray.parquet.parts").exists()

    # --on-bad-row error: the actor stops the job; the driver reports carl's message, not Ray's traceback
    # (one actor: the error path is the same with two, and each actor loads the model)
    strict = carl_in_process("predict-va", tiny_va, *common[:-2], "--output", tmp_path / "strict.parquet",
                             "--engine", "ray", "--workers", 1, "--threads", 1)
    assert strict.returncode == 2, strict.stderr[-3000:]
    assert f"carl: error: {source}: a row: empty text (its kept columns: id='{rows[123][0]}'" in strict.stderr
    assert not (tmp_path / "strict.parquet").exists() and not (tmp_path / "strict.parquet.parts").exists()


def test_driver_numbers_bad_rows_by_the_rows_before_them_whatever_the_block_sizes(tmp_path):
    """The driver's half of the Ray engine, without Ray: blocks of any size arrive in order; a bad row is
    numbered by the rows of every block before it, and the output keeps the good rows in order."""
    from carl.scoring.job import ScoreJob, Summary
    from carl.scoring.model import ModelSpec
    from carl.scoring.ray_engine import BAD, _collect
    from carl.scoring.sources import Source

    source = tmp_path / "corpus.parquet"
    ids = [f"r{i}" for i in range(300)]
    pq.write_table(pa.table({"id": ids, "text": ["t"] * 300}), source)
    bad_rows = {0: "empty text", 144: "empty text", 299: "not a string"}  # 0-based input positions
    sizes = [20, 150, 1, 129]  # not the chunk size: what a reordering or a split block would give
    blocks, start = [], 0
    for size in sizes:
        rows = range(start, start + size)
        blocks.append(pa.table({"id": [ids[i] for i in rows], "valence": [float(i) for i in rows],
                                BAD: [bad_rows.get(i) for i in rows]}))
        start += size
    job = ScoreJob(model=ModelSpec(path="unused"), input=source, output=tmp_path / "out.parquet",
                   keep_columns=("id",), on_bad_row="skip", chunk_rows=150)
    summary = Summary(output=job.output)
    _collect(iter(blocks), job, ".parquet", summary, Source(source, keep_columns=("id",), on_bad_row="skip",
                                                            chunk_rows=150))
    assert summary.bad == ["row 1: empty text", "row 145: empty text", "row 300: not a string"]
    assert (summary.rows, summary.skipped) == (297, 3)
    written = pq.read_table(job.output)
    assert written.column_names == ["id", "valence"]
    assert written.column("id").to_pylist() == [ids[i] for i in range(300) if i not in bad_rows]
    assert not (tmp_path / "out.parquet.parts").exists()


def test_a_failure_inside_ray_discards_the_driver_parts_and_reports_carls_message(tmp_path):
    from carl.errors import DataError
    from carl.scoring.job import ScoreJob, Summary
    from carl.scoring.model import ModelSpec
    from carl.scoring.ray_engine import BAD, _carry, _collect
    from carl.scoring.sources import Source

    source = tmp_path / "corpus.parquet"
    pq.write_table(pa.table({"text": ["a", "b"]}), source)

    def blocks():
        yield pa.table({"valence": [0.5], BAD: pa.array([None], type=pa.string())})
        raise RuntimeError("ray.exceptions.UserCodeException: ...\n" + _carry(DataError("a row: empty text")))

    job = ScoreJob(model=ModelSpec(path="unused"), input=source, output=tmp_path / "out.parquet", chunk_rows=1)
    with pytest.raises(DataError, match="a row: empty text"):
        _collect(blocks(), job, ".parquet", Summary(output=job.output), Source(source, chunk_rows=1))
    assert not (tmp_path / "out.parquet").exists() and not (tmp_path / "out.parquet.parts").exists()
