"""Scoring a corpus (carl.scoring): every input and output format, bad rows, --keep-columns, worker
processes, a real SIGKILL and --resume, and the streaming Python API, on real EmoBank texts.

The model is the tiny 2-layer encoder with MiniLM's real tokenizer and a V-A head fitted on EmoBank
(tests/serve_models.py), so that thousands of texts score in seconds; one test runs the real
embedded MiniLM. The Ray engine has its own module (test_scoring_ray.py).
"""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from serve_models import build_minilm_model, build_tiny_model  # noqa: E402

from carl.errors import DataError  # noqa: E402


@pytest.fixture(scope="module")
def tiny_va(tmp_path_factory, export_tiny_model, data_dir):
    return build_tiny_model(tmp_path_factory.getbasetemp() / "serve-models", export_tiny_model, data_dir)


@pytest.fixture(scope="module")
def emobank(data_dir):
    """(id, text) of EmoBank's rows, in file order."""
    with open(data_dir / "emobank" / "corpus_emobank.csv", newline="", encoding="utf-8") as fh:
        return [(row["id"], row["text"]) for row in csv.DictReader(fh) if row["text"].strip()]


def write_inputs(folder, rows):
    """The same rows as .csv, .tsv, .jsonl, .parquet, a two-file Parquet folder and .txt."""
    paths = {}
    for suffix, delimiter in ((".csv", ","), (".tsv", "\t")):
        paths[suffix] = folder / f"in{suffix}"
        with open(paths[suffix], "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, delimiter=delimiter)
            writer.writerow(["id", "body"])
            writer.writerows(rows)
    paths[".jsonl"] = folder / "in.jsonl"
    paths[".jsonl"].write_text("".join(json.dumps({"id": i, "body": t}) + "\n" for i, t in rows), encoding="utf-8")
    table = pa.table({"id": [i for i, _ in rows], "body": [t for _, t in rows]})
    paths[".parquet"] = folder / "in.parquet"
    pq.write_table(table, paths[".parquet"], row_group_size=97)  # row groups that do not align with chunks
    paths["folder"] = folder / "in-folder"
    paths["folder"].mkdir()
    pq.write_table(table.slice(0, 130), paths["folder"] / "a.parquet")
    pq.write_table(table.slice(130), paths["folder"] / "b.parquet")
    paths[".txt"] = folder / "in.txt"
    paths[".txt"].write_text("".join(t.replace("\n", " ") + "\n" for _, t in rows), encoding="utf-8")
    return paths


def test_every_input_format_gives_the_same_scores_and_keeps_columns(tiny_va, emobank, tmp_path, carl_in_process):
    rows = [(i, t.replace("\n", " ")) for i, t in emobank[:300]]
    paths = write_inputs(tmp_path, rows)
    tables = {}
    for kind, path in paths.items():
        keep = [] if kind == ".txt" else ["--text-column", "body", "--keep-columns", "id"]
        out = tmp_path / f"va-{kind.strip('.')}.parquet"
        done = carl_in_process("predict-va", tiny_va, "--input", path, "--output", out, "--chunk-rows", 64, *keep)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "300 rows scored, 0 skipped" in done.stdout
        tables[kind] = pq.read_table(out)
    reference = tables[".csv"]
    assert reference.column_names == ["text", "id", "valence", "arousal"]
    assert reference.column("id").to_pylist() == [i for i, _ in rows]
    assert reference.column("text").to_pylist() == [t for _, t in rows]
    va = np.column_stack([reference.column("valence").to_numpy(), reference.column("arousal").to_numpy()])
    assert np.all((va >= 0) & (va <= 1)) and va.std(axis=0).min() > 0
    for kind, table in tables.items():  # same chunks, same batches: the same numbers, bit for bit
        assert table.column("valence").equals(reference.column("valence")), kind
        assert table.column("arousal").equals(reference.column("arousal")), kind
        if kind != ".txt":
            assert table.column("id").to_pylist() == [i for i, _ in rows], kind


def test_output_formats_hold_the_same_rows(tiny_va, emobank, tmp_path, carl_in_process):
    rows = emobank[:150]
    paths = write_inputs(tmp_path, rows)
    args = ["--input", paths[".parquet"], "--text-column", "body", "--chunk-rows", 40]
    assert carl_in_process("predict-va", tiny_va, *args, "--keep-columns", "id", "--with-embedding", "--output",
                           tmp_path / "va.parquet").returncode == 0
    full = pq.read_table(tmp_path / "va.parquet")
    assert full.column_names == ["text", "id", "valence", "arousal", "embedding"]
    assert full.schema.field("embedding").type == pa.list_(pa.float32(), 32)
    for suffix in (".jsonl", ".csv"):
        done = carl_in_process("predict-va", tiny_va, *args, "--keep-columns", "id", "--output",
                               tmp_path / f"va{suffix}")
        assert done.returncode == 0, done.stderr[-2000:]
    jsonl = [json.loads(line) for line in (tmp_path / "va.jsonl").read_text(encoding="utf-8").splitlines()]
    with open(tmp_path / "va.csv", newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert [r["id"] for r in jsonl] == [r["id"] for r in table] == [i for i, _ in rows]
    np.testing.assert_allclose([r["valence"] for r in jsonl], full.column("valence").to_numpy(), atol=1e-6)
    np.testing.assert_allclose([float(r["arousal"]) for r in table], full.column("arousal").to_numpy(), atol=1e-6)

    # embed: .npy (memory-mapped), .parquet, and a Parquet dataset folder (no suffix), all equal
    for target in ("e.npy", "e.parquet", "e-folder"):
        done = carl_in_process("embed", tiny_va, *args, "--output", tmp_path / target)
        assert done.returncode == 0, done.stderr[-2000:]
    matrix = np.load(tmp_path / "e.npy", mmap_mode="r")
    assert matrix.shape == (150, 32) and matrix.dtype == np.float32
    embedded = pq.read_table(tmp_path / "e.parquet").column("embedding")
    np.testing.assert_array_equal(np.stack(embedded.to_numpy(zero_copy_only=False)), matrix)
    np.testing.assert_array_equal(np.stack(full.column("embedding").to_numpy(zero_copy_only=False)), matrix)
    folder = pq.read_table(tmp_path / "e-folder")  # pyarrow reads the folder as one table (skips _carl_manifest)
    assert sorted(p.name for p in (tmp_path / "e-folder").iterdir())[:1] == ["_carl_manifest.json"]
    assert json.loads((tmp_path / "e-folder" / "_carl_manifest.json").read_text())["complete"] is True
    assert folder.num_rows == 150 and folder.column("text").to_pylist() == [t for _, t in rows]
    assert not (tmp_path / "e.npy.parts").exists() and not (tmp_path / "va.parquet.parts").exists()


def test_bad_rows_stop_with_their_line_or_are_skipped_counted_and_logged(tiny_va, emobank, tmp_path,
                                                                        carl_in_process):
    table = tmp_path / "bad.csv"
    lines = ["id,body"] + [f'{i},"{t.replace(chr(34), "")}"' for i, t in emobank[:40]]
    lines[5] = 'x5,"   "'               # line 6: empty text
    lines[12] = "x12,too,many,fields"   # line 13: wrong field count
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "va.parquet"
    strict = carl_in_process("predict-va", tiny_va, "--input", table, "--text-column", "body", "--output", out,
                             "--chunk-rows", 8)
    assert strict.returncode == 2 and "bad.csv, line 6: empty text" in strict.stderr
    assert not out.exists() and not (tmp_path / "va.parquet.parts").exists()
    lenient = carl_in_process("predict-va", tiny_va, "--input", table, "--text-column", "body", "--output", out,
                              "--chunk-rows", 8, "--keep-columns", "id", "--on-bad-row", "skip")
    assert lenient.returncode == 0, lenient.stderr[-2000:]
    assert "38 rows scored, 2 skipped" in lenient.stdout
    assert "line 6: empty text" in lenient.stderr and "line 13: 4 fields but the header has 2" in lenient.stderr
    kept = pq.read_table(out).column("id").to_pylist()
    assert len(kept) == 38 and "x5" not in kept and "x12" not in kept
    piped = carl_in_process("predict-va", tiny_va, "--input", table, "--text-column", "body", "--on-bad-row", "skip")
    assert piped.returncode == 0 and len(piped.stdout.splitlines()) == 1 + 38  # the header, then one line per row
    assert "38 rows scored, 2 skipped" in piped.stderr and "line 13: 4 fields" in piped.stderr

    nulls = tmp_path / "nulls.parquet"
    pq.write_table(pa.table({"text": ["fine", None, "also fine"]}), nulls)
    with pytest.raises(DataError, match=r"nulls.parquet: row 2: field 'text' is missing \(null\)"):
        from carl.scoring.sources import Source

        list(Source(nulls).chunks())
    wrong = carl_in_process("embed", tiny_va, "--input", nulls, "--output", tmp_path / "e.parquet",
                            "--keep-columns", "idd")
    assert wrong.returncode == 2 and "missing column(s) ['idd']; the file has columns ['text']" in wrong.stderr


def _uninterrupted(carl_in_process, model, source, out, *extra):
    done = carl_in_process("predict-va", model, "--input", source, "--output", out, "--keep-columns", "id",
                           "--with-embedding", "--chunk-rows", 100, *extra)
    assert done.returncode == 0, done.stderr[-2000:]
    return pq.read_table(out)


def test_sigkill_then_resume_writes_what_an_uninterrupted_run_writes(tiny_va, emobank, tmp_path, carl_in_process):
    rows = emobank[:1500]
    source = tmp_path / "corpus.parquet"
    pq.write_table(pa.table({"id": [i for i, _ in rows], "text": [t for _, t in rows]}), source)
    out = tmp_path / "killed.parquet"
    journal = tmp_path / "killed.parquet.parts" / "_carl_chunks.jsonl"  # one line per committed chunk
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    process = subprocess.Popen([sys.executable, "-m", "carl.cli", "predict-va", str(tiny_va), "--input", str(source),
                                "--output", str(out), "--keep-columns", "id", "--with-embedding", "--chunk-rows",
                                "100"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    committed = 0
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        try:
            committed = journal.read_text().count("\n")
        except OSError:
            committed = 0
        if committed >= 3:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, process.stderr.read()[-2000:]
    total_chunks = -(-len(rows) // 100)
    left = [json.loads(line) for line in journal.read_text().splitlines()]
    assert 3 <= len(left) < total_chunks and not out.exists()

    again = carl_in_process("predict-va", tiny_va, "--input", source, "--output", out, "--keep-columns", "id",
                            "--with-embedding", "--chunk-rows", 100)
    assert again.returncode == 2 and "pass --resume to continue it" in again.stderr
    other = carl_in_process("predict-va", tiny_va, "--input", source, "--output", out, "--keep-columns", "id",
                            "--with-embedding", "--chunk-rows", 100, "--batch-size", 16, "--resume")
    assert other.returncode == 2 and "model.batch_size (64 then, 16 now)" in other.stderr
    resumed = carl_in_process("predict-va", tiny_va, "--input", source, "--output", out, "--keep-columns", "id",
                              "--with-embedding", "--chunk-rows", 100, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"{len(rows)} rows scored, 0 skipped" in resumed.stdout
    assert f"resumed after {len(left)} committed chunk(s)" in resumed.stdout
    after_kill = pq.read_table(out)
    reference = _uninterrupted(carl_in_process, tiny_va, source, tmp_path / "whole.parquet", "--workers", "2")
    assert after_kill.num_rows == len(rows)
    assert after_kill.equals(reference)  # row for row, value for value (and --workers 2 writes the same)


def test_python_api_accepts_any_iterable_and_streams(tiny_va, emobank):
    import carl

    model = carl.load(tiny_va)
    texts = [t for _, t in emobank[:90]]
    whole = model.predict_va(iter(texts))  # a generator, not a list
    assert whole.shape == (90, 2) and np.all((whole >= 0) & (whole <= 1))
    streamed = list(model.iter_predict_va((t for t in texts), chunk_size=40))
    assert [len(c) for c in streamed] == [40, 40, 10]
    for start, chunk in zip((0, 40, 80), streamed):
        np.testing.assert_array_equal(chunk, model.predict_va(texts[start:start + 40]))
    np.testing.assert_allclose(np.concatenate(streamed), whole, atol=1e-5)
    chunks = list(model.iter_encode(iter([texts[:25], texts[25:90]])))  # a generator of chunks
    assert [c.shape for c in chunks] == [(25, 32), (65, 32)]
    np.testing.assert_array_equal(chunks[0], model.encode(texts[:25]))


def test_real_minilm_scores_agree_with_its_python_api(tmp_path_factory, data_dir, emobank, tmp_path,
                                                      carl_in_process):
    import carl

    model = build_minilm_model(tmp_path_factory.getbasetemp() / "serve-models", data_dir)
    texts = [t for _, t in emobank[:64]]
    source = tmp_path / "t.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    done = carl_in_process("predict-va", model, "--input", source, "--output", tmp_path / "va.parquet")
    assert done.returncode == 0, done.stderr[-2000:]
    table = pq.read_table(tmp_path / "va.parquet")
    expected = carl.load(model).predict_va(texts)
    scored = np.column_stack([table.column("valence").to_numpy(), table.column("arousal").to_numpy()])
    np.testing.assert_allclose(scored, expected, atol=1e-5)  # other batches, same texts: float32 rounding apart
    assert np.corrcoef(scored[:, 0], expected[:, 0])[0, 1] > 0.999


def test_an_input_without_texts_is_an_error_that_leaves_nothing_behind(tiny_va, tmp_path, carl_in_process):
    empty = tmp_path / "empty.csv"
    empty.write_text("id,text\n", encoding="utf-8")
    for _ in range(2):  # the second run is not told of an unfinished first one: nothing was left
        done = carl_in_process("predict-va", tiny_va, "--input", empty, "--output", tmp_path / "va.parquet")
        assert done.returncode == 2 and "holds no texts (the file is empty)" in done.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.csv"]
