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


def test_a_failure_inside_ray_keeps_the_committed_parts_and_reports_carls_message(tmp_path):
    """Before, a failure inside Ray discarded every committed chunk (Ray runs had no --resume)."""
    from carl.errors import CarlError, DataError
    from carl.scoring.job import ScoreJob, Summary, prepare_work_dir
    from carl.scoring.model import ModelSpec
    from carl.scoring.ray_engine import BAD, _carry, _collect
    from carl.scoring.sources import Source

    source = tmp_path / "corpus.parquet"
    pq.write_table(pa.table({"text": ["a", "b"]}), source)

    def blocks():
        yield pa.table({"valence": [0.5], BAD: pa.array([None], type=pa.string())})
        raise RuntimeError("ray.exceptions.UserCodeException: ...\n" + _carry(DataError("a row: empty text")))

    job = ScoreJob(model=ModelSpec(path="unused"), input=source, output=tmp_path / "out.parquet", chunk_rows=1)
    with pytest.raises(DataError, match="a row: empty text") as stopped:
        _collect(blocks(), job, ".parquet", Summary(output=job.output), Source(source, chunk_rows=1))
    assert "the 1 chunk(s) committed so far (1 rows, input rows 1-1) are kept" in str(stopped.value)
    assert not (tmp_path / "out.parquet").exists()
    assert (tmp_path / "out.parquet.parts" / "part-000000.parquet").is_file()
    with pytest.raises(CarlError, match="holds an unfinished run .* pass --resume to continue it"):
        prepare_work_dir(job, ".parquet")


def test_ray_engine_reads_text_formats_as_the_local_engine_does(tiny_va, local_ray, tmp_path, carl_in_process):
    """Before, Ray Data's readers read CSV and JSON lines otherwise: "00123" became 123, date-like strings became
    timestamps, blank lines vanished (shifting every later line number) and a row with a wrong field count
    stopped the job under skip with a traceback. Now the driver reads them with the local engine's reader."""
    import csv
    import json

    rows = [(f"{i:05d}", f"2024-01-{i % 28 + 1:02d}", f"text number {i}, quite happy") for i in range(45)]
    source = tmp_path / "in.csv"
    with open(source, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "date", "text"])
        writer.writerows(rows[:10])
        fh.write("\n")                      # line 12: a blank line
        fh.write("x,too,many,fields\n")     # line 13: a wrong field count
        writer.writerows(rows[10:])
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("".join(json.dumps({"id": i, "date": d, "text": t}) + "\n" for i, d, t in rows[:20]) + "\n"
                     + "".join(json.dumps({"id": i, "date": d, "text": t}) + "\n" for i, d, t in rows[20:]),
                     encoding="utf-8")
    for path in (source, jsonl):
        common = ["--input", path, "--keep-columns", "id,date", "--chunk-rows", 20, "--on-bad-row", "skip"]
        local = carl_in_process("predict-va", tiny_va, *common, "--output", tmp_path / f"local{path.suffix}.parquet")
        on_ray = carl_in_process("predict-va", tiny_va, *common, "--output", tmp_path / f"ray{path.suffix}.parquet",
                                 "--engine", "ray", "--workers", 1, "--threads", 1)
        assert local.returncode == 0 and on_ray.returncode == 0, on_ray.stderr[-3000:]
        skipped = 2 if path == source else 1
        assert f"45 rows scored, {skipped} skipped" in local.stdout and f"45 rows scored, {skipped} skipped" in \
            on_ray.stdout
        first = "line 12: empty line" if path == source else "line 21: empty line"
        assert first in local.stderr and first in on_ray.stderr
        expected = pq.read_table(tmp_path / f"local{path.suffix}.parquet")
        got = pq.read_table(tmp_path / f"ray{path.suffix}.parquet")
        assert got.equals(expected)
        assert got.schema.field("id").type == pa.string() and got.schema.field("date").type == pa.string()
        assert got.column("id").to_pylist()[:2] == ["00000", "00001"]


def test_an_interrupted_ray_folder_output_is_resumed_and_a_stray_part_does_not_block_a_new_run(tiny_va, tmp_path):
    """Before, the Ray engine recorded its parts only at the end: an interrupted run with a folder output left
    parts no manifest named, and the same command then refused the folder ("holds other files")."""
    from carl.scoring.job import ScoreJob, Summary, prepare_work_dir, run_local
    from carl.scoring.model import ModelSpec
    from carl.scoring.ray_engine import RayChunkScorer, _collect
    from carl.scoring.sources import Source

    source = tmp_path / "corpus.parquet"
    table = pa.table({"id": [f"r{i}" for i in range(60)], "text": [f"text {i}" if i != 25 else " " for i in range(60)]})
    pq.write_table(table, source)
    spec = ModelSpec(path=str(tiny_va))
    reader = Source(source, keep_columns=("id",), on_bad_row="skip", chunk_rows=20)
    scorer = RayChunkScorer(spec, "text", ("id",), True, "skip", str(source), reader.schema)

    def blocks(stop_after):  # what Ray Data hands the driver, until the cluster fails
        for index in range(3):
            if index == stop_after:
                raise RuntimeError("ray.exceptions.ActorDiedError: the actor died unexpectedly")
            yield scorer(table.select(["text", "id"]).slice(20 * index, 20))

    out = tmp_path / "scores"
    job = ScoreJob(model=spec, input=source, output=out, keep_columns=("id",), on_bad_row="skip", chunk_rows=20)
    with pytest.raises(RuntimeError, match="actor died"):
        _collect(blocks(2), job, "folder", Summary(output=out), reader)
    assert sorted(p.name for p in out.iterdir()) == ["_carl_chunks.jsonl", "_carl_manifest.json", "part-000000.parquet",
                                                     "part-000001.parquet"]
    job.resume = True
    summary = run_local(job)  # continues after Ray's two committed chunks, checking them against the input
    assert (summary.rows, summary.skipped, summary.resumed_chunks) == (59, 1, 2)
    whole = tmp_path / "whole"
    run_local(ScoreJob(model=spec, input=source, output=whole, keep_columns=("id",), on_bad_row="skip",
                       chunk_rows=20))
    assert pq.read_table(out).equals(pq.read_table(whole))

    # a run killed between writing its first part and recording it (nothing committed, a stray part left):
    # the same command starts afresh
    fresh = tmp_path / "fresh"
    job = ScoreJob(model=spec, input=source, output=fresh, keep_columns=("id",), on_bad_row="skip", chunk_rows=20)
    prepare_work_dir(job, "folder")
    pq.write_table(pa.table({"x": [1]}), fresh / "part-000000.parquet")  # the stray part
    _collect(blocks(3), job, "folder", Summary(output=fresh), reader)
    assert pq.read_table(fresh).equals(pq.read_table(whole))
