"""Faults of a scoring job lose nothing (issue 39): a bad row, a full disk or a failing write after chunks were
committed keeps them, and ``--resume`` continues; SIGKILL at every commit point, then ``--resume``, writes what
an uninterrupted run writes; ``--resume`` refuses a changed input or model unless the committed rows are still
the input's; broken bytes, malformed CSV rows, unpaired surrogates and JSON fields of changing types are bad rows
that ``--on-bad-row skip`` skips and counts, naming their lines."""

import csv
import errno
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from serve_models import build_tiny_model  # noqa: E402

ROWS = 100
CHUNK = 20


@pytest.fixture(scope="module")
def tiny_va(tmp_path_factory, export_tiny_model, data_dir):
    return build_tiny_model(tmp_path_factory.getbasetemp() / "serve-models", export_tiny_model, data_dir)


@pytest.fixture(scope="module")
def rows(data_dir):
    with open(data_dir / "emobank" / "corpus_emobank.csv", newline="", encoding="utf-8") as fh:
        return [(r["id"], r["text"].replace("\n", " ").replace("\r", " ")) for r in csv.DictReader(fh)
                if r["text"].strip()][:ROWS]


def write_csv(path, rows, header=("id", "text")):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def score(carl_in_process, model, source, out, *extra):
    return carl_in_process("predict-va", model, "--input", source, "--output", out, "--keep-columns", "id",
                           "--chunk-rows", CHUNK, "--no-progress", *extra)


def journal(out):
    path = out.with_name(out.name + ".parts") / "_carl_chunks.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


# ---------------------------------------------------------------------- committed chunks survive every error


def test_a_bad_row_after_commits_keeps_them_and_resume_continues(tiny_va, rows, tmp_path, carl_in_process):
    """Before: a DataError after commits deleted every committed chunk ("a changed input cannot be resumed")."""
    broken = list(rows)
    broken[65] = ("x65", "   ")  # line 67 (the header is line 1): chunk 3
    source = write_csv(tmp_path / "in.csv", broken)
    out = tmp_path / "va.parquet"
    stopped = score(carl_in_process, tiny_va, source, out)
    assert stopped.returncode == 2 and "in.csv, line 67: empty text" in stopped.stderr
    assert "the 3 chunk(s) committed so far (60 rows, input rows 1-60) are kept" in stopped.stderr
    assert "--resume" in stopped.stderr and len(journal(out)) == 3 and not out.exists()

    # go on skipping the bad row: the same output as a run that skipped from the start
    skipped = score(carl_in_process, tiny_va, source, out, "--on-bad-row", "skip", "--resume")
    assert skipped.returncode == 0, skipped.stderr[-2000:]
    assert "99 rows scored, 1 skipped" in skipped.stdout and "resumed after 3 committed chunk(s)" in skipped.stdout
    whole = score(carl_in_process, tiny_va, source, tmp_path / "whole.parquet", "--on-bad-row", "skip")
    assert whole.returncode == 0 and pq.read_table(out).equals(pq.read_table(tmp_path / "whole.parquet"))

    # or fix the line and go on: the committed rows are checked against the edited input, and still match
    fixed_out = tmp_path / "fixed.parquet"
    assert score(carl_in_process, tiny_va, source, fixed_out).returncode == 2
    fixed = write_csv(tmp_path / "in.csv", rows)
    resumed = score(carl_in_process, tiny_va, fixed, fixed_out, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert score(carl_in_process, tiny_va, fixed, tmp_path / "clean.parquet").returncode == 0
    assert pq.read_table(fixed_out).equals(pq.read_table(tmp_path / "clean.parquet"))


@pytest.mark.parametrize("where", ["part", "journal", "assemble"])
def test_a_full_disk_keeps_committed_chunks_and_resume_finishes(where, tiny_va, rows, tmp_path, carl_in_process,
                                                                monkeypatch):
    """ENOSPC (or EIO) from the writer of the 3rd part, from the journal, or while the output is assembled from
    the parts: the error names the file and the fix, every committed chunk stays, and --resume finishes."""
    from carl.scoring import job as job_module
    from carl.scoring import sinks

    source = write_csv(tmp_path / "in.csv", rows)
    out = tmp_path / "va.jsonl"
    calls = {"n": 0}

    def failing(original, after, err):
        def wrapped(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] > after:
                raise OSError(err, os.strerror(err))
            return original(*args, **kwargs)
        return wrapped

    if where == "part":
        monkeypatch.setattr(sinks.pq, "write_table", failing(pq.write_table, 2, errno.ENOSPC))
    elif where == "journal":  # the journal's fsync only (part files are flushed too)
        journal_fsync = failing(os.fsync, 2, errno.EIO)
        real_fsync = os.fsync
        monkeypatch.setattr(job_module.os, "fsync", lambda fd: (journal_fsync if os.readlink(
            f"/proc/self/fd/{fd}").endswith("_carl_chunks.jsonl") else real_fsync)(fd))
    else:
        monkeypatch.setattr(sinks.json, "dumps", failing(json.dumps, 30, errno.ENOSPC))
    stopped = score(carl_in_process, tiny_va, source, out)
    monkeypatch.undo()
    assert stopped.returncode == 2, stopped.stderr[-2000:]
    message = {"part": "No space left on device", "journal": "Input/output error",
               "assemble": "No space left on device"}[where]
    assert f"cannot " in stopped.stderr and message in stopped.stderr and "fix:" in stopped.stderr
    committed = {"part": 2, "journal": 2, "assemble": 5}[where]
    assert len(journal(out)) == committed and f"the {committed} chunk(s) committed so far" in stopped.stderr
    assert not out.exists()
    resumed = score(carl_in_process, tiny_va, source, out, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert score(carl_in_process, tiny_va, source, tmp_path / "whole.jsonl").returncode == 0
    assert out.read_text() == (tmp_path / "whole.jsonl").read_text()
    assert not out.with_name(out.name + ".parts").exists()


# Runs a scoring job in a child process that SIGKILLs itself at a chosen commit point.
KILLER = """
import os, signal, sys
from carl.scoring import job, sinks

where, count = sys.argv[1], int(sys.argv[2])
calls = {"n": 0}

def die_at(original, before=False, torn=False):
    def wrapped(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == count and (before or torn):
            if torn:  # half of the chunk's journal line reaches the disk
                manifest, entry = args
                with open(manifest.folder / job.JOURNAL, "a") as fh:
                    fh.write(job.json.dumps(entry)[:25])
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(*args, **kwargs)
        if calls["n"] == count:
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    return wrapped

if where == "part-written":          # the part file is in place, its journal line not yet written
    job.write_part = die_at(job.write_part)
elif where == "journal-torn":        # killed while appending the journal line
    job.Manifest.commit = die_at(job.Manifest.commit, torn=True)
elif where == "committed":           # the journal line is on disk
    job.Manifest.commit = die_at(job.Manifest.commit)
elif where == "assembled":           # the output file is in place, the parts not yet removed
    sinks.assemble = die_at(sinks.assemble)
    job.assemble = sinks.assemble
from carl.cli import main
sys.argv = ["carl", *sys.argv[3:]]
main()
"""


@pytest.mark.parametrize("where, count", [("part-written", 3), ("journal-torn", 2), ("committed", 4),
                                          ("assembled", 1)])
def test_sigkill_at_every_commit_point_then_resume_equals_an_uninterrupted_run(where, count, tiny_va, rows, tmp_path,
                                                                               carl_in_process):
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": [i for i, _ in rows], "text": [t for _, t in rows]}), source, row_group_size=33)
    out = tmp_path / "va.parquet"
    args = ["predict-va", str(tiny_va), "--input", str(source), "--output", str(out), "--keep-columns", "id",
            "--chunk-rows", str(CHUNK), "--no-progress"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, "-c", KILLER, where, str(count), *args], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    resumed = carl_in_process(*args[:1], *args[1:], "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    expected = {"part-written": 2, "journal-torn": 1, "committed": 4, "assembled": 5}[where]
    assert f"resumed after {expected} committed chunk(s)" in resumed.stdout, resumed.stdout
    assert carl_in_process(*args[:4], "--output", tmp_path / "whole.parquet", *args[6:]).returncode == 0
    assert pq.read_table(out).equals(pq.read_table(tmp_path / "whole.parquet"))
    assert not out.with_name(out.name + ".parts").exists()


# ---------------------------------------------------------------------- --resume refuses a changed job


def interrupted(carl_in_process, monkeypatch, *score_args, after=2):
    """Run ``score(*score_args)`` until ``after`` chunks are committed, then stop it (a failing writer)."""
    from carl.scoring import sinks

    calls = {"n": 0}
    original = pq.write_table

    def write_table(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > after:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(sinks.pq, "write_table", write_table)
        stopped = score(carl_in_process, *score_args)
    assert stopped.returncode == 2 and "are kept" in stopped.stderr, stopped.stderr[-2000:]


def test_resume_refuses_a_parquet_folder_whose_files_were_renamed(tiny_va, rows, tmp_path, carl_in_process,
                                                                   monkeypatch):
    """Renaming a file (its size and time kept) reorders the folder's rows: before, the fingerprint (file count,
    total size, newest time) matched and the resumed output had rows twice and others missing."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    table = pa.table({"id": [i for i, _ in rows], "text": [t for _, t in rows]})
    pq.write_table(table.slice(0, 30), folder / "a.parquet")
    pq.write_table(table.slice(30), folder / "b.parquet")
    out = tmp_path / "va.parquet"
    interrupted(carl_in_process, monkeypatch, tiny_va, folder, out)
    stat = (folder / "a.parquet").stat()
    (folder / "a.parquet").rename(folder / "c.parquet")  # now b's rows come first
    os.utime(folder / "c.parquet", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    refused = score(carl_in_process, tiny_va, folder, out, "--resume")
    assert refused.returncode == 2
    assert "input rows 1-20 of" in refused.stderr and "are not the rows committed from them" in refused.stderr
    assert len(journal(out)) == 2  # refusing deletes nothing


def test_resume_refuses_a_model_changed_in_place(tiny_va, rows, tmp_path, carl_in_process, monkeypatch):
    model = tmp_path / "model"
    shutil.copytree(tiny_va, model)
    source = write_csv(tmp_path / "in.csv", rows)
    out = tmp_path / "va.parquet"
    interrupted(carl_in_process, monkeypatch, model, source, out)
    head = model / "va_head.json"
    stat = head.stat()
    data = json.loads(head.read_text())
    text = json.dumps(data)
    head.write_text(text.replace("0.", "0.1", 1) if "0." in text else text + " ")  # refitted in place, time kept
    os.utime(head, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    refused = score(carl_in_process, model, source, out, "--resume")
    assert refused.returncode == 2 and "the model folder's files" in refused.stderr, refused.stderr[-2000:]


def test_resume_accepts_an_input_changed_only_after_the_committed_rows(tiny_va, rows, tmp_path, carl_in_process,
                                                                       monkeypatch):
    source = write_csv(tmp_path / "in.csv", rows)
    out = tmp_path / "va.parquet"
    interrupted(carl_in_process, monkeypatch, tiny_va, source, out)  # rows 1-40 committed
    changed = list(rows)
    changed[70] = ("new", "a line edited after the run was interrupted")
    write_csv(source, changed)
    resumed = score(carl_in_process, tiny_va, source, out, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert score(carl_in_process, tiny_va, source, tmp_path / "whole.parquet").returncode == 0
    assert pq.read_table(out).equals(pq.read_table(tmp_path / "whole.parquet"))
    assert "new" in pq.read_table(out).column("id").to_pylist()

    edited_early = list(changed)
    edited_early[5] = ("x", "an edit inside the committed rows")
    out2 = tmp_path / "va2.parquet"
    interrupted(carl_in_process, monkeypatch, tiny_va, source, out2)
    write_csv(source, edited_early)
    refused = score(carl_in_process, tiny_va, source, out2, "--resume")
    assert refused.returncode == 2 and "input rows 1-20 of" in refused.stderr


# ---------------------------------------------------------------------- per-row faults are bad rows


def test_broken_bytes_and_malformed_quotes_are_bad_rows_with_their_lines(tiny_va, rows, tmp_path, carl_in_process):
    lines = ["id,text"] + [f'{i},"{t.replace(chr(34), "")}"' for i, t in rows[:30]]
    data = "\n".join(lines).encode() + b"\n"
    raw = data.split(b"\n")
    raw[7] = b'x7,"caf\xe9 au lait"'        # line 8: Latin-1, not UTF-8
    raw[12] = b'x12,"a "quoted" word"'       # line 13: an inner quote not doubled
    source = tmp_path / "bytes.csv"
    source.write_bytes(b"\n".join(raw))
    out = tmp_path / "va.parquet"
    strict = carl_in_process("predict-va", tiny_va, "--input", source, "--output", out, "--chunk-rows", 10)
    assert strict.returncode == 2 and "bytes.csv, line 8: not valid UTF-8" in strict.stderr
    assert not out.exists() and not (tmp_path / "va.parquet.parts").exists()  # nothing was committed
    lenient = carl_in_process("predict-va", tiny_va, "--input", source, "--output", out, "--chunk-rows", 10,
                              "--keep-columns", "id", "--on-bad-row", "skip")
    assert lenient.returncode == 0, lenient.stderr[-2000:]
    assert "28 rows scored, 2 skipped" in lenient.stdout
    assert "line 8: not valid UTF-8" in lenient.stderr and "line 13: malformed CSV" in lenient.stderr
    kept = pq.read_table(out).column("id").to_pylist()
    assert "x7" not in kept and "x12" not in kept and len(kept) == 28

    txt = tmp_path / "bytes.txt"
    txt.write_bytes(b"first text\n\xff\xfe broken\nthird text\n")
    skipped = carl_in_process("embed", tiny_va, "--input", txt, "--output", tmp_path / "e.parquet",
                              "--on-bad-row", "skip")
    assert skipped.returncode == 0 and "2 rows scored, 1 skipped" in skipped.stdout
    assert "line 2: not valid UTF-8" in skipped.stderr


def test_a_text_with_an_unpaired_surrogate_is_a_bad_row(tiny_va, tmp_path, carl_in_process):
    """Before: a TypeError from the tokenizer that --on-bad-row skip could not pass."""
    source = tmp_path / "tweets.jsonl"
    source.write_text('{"text": "fine"}\n{"text": "cut emoji \\ud83d"}\n{"text": "also fine \\ud83d\\ude00"}\n',
                      encoding="utf-8")
    strict = carl_in_process("predict-va", tiny_va, "--input", source, "--output", tmp_path / "a.parquet")
    assert strict.returncode == 2 and "tweets.jsonl, line 2: the text holds an unpaired UTF-16 surrogate" in \
        strict.stderr and "Traceback" not in strict.stderr
    lenient = carl_in_process("predict-va", tiny_va, "--input", source, "--output", tmp_path / "a.parquet",
                              "--on-bad-row", "skip")
    assert lenient.returncode == 0 and "2 rows scored, 1 skipped" in lenient.stdout
    assert pq.read_table(tmp_path / "a.parquet").column("text").to_pylist() == ["fine", "also fine \U0001F600"]


def test_json_kept_fields_keep_the_type_of_the_first_rows(tiny_va, tmp_path, carl_in_process):
    """Ids that are numbers for the first chunks, then "A-12": before, each chunk got its own types and the job
    failed after scoring everything, with a pyarrow traceback that --resume repeated, and a folder output
    marked complete could not be read."""
    lines = [json.dumps({"id": i, "text": f"text number {i}"}) for i in range(50)]
    lines[43] = json.dumps({"id": "A-12", "text": "an id of another type"})
    source = tmp_path / "ids.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    strict = carl_in_process("embed", tiny_va, "--input", source, "--output", tmp_path / "e", "--keep-columns",
                             "id", "--chunk-rows", 10)
    assert strict.returncode == 2 and "Traceback" not in strict.stderr
    assert "ids.jsonl, line 44: field 'id' holds a string \"A-12\", but the first rows made it int64" in strict.stderr
    assert "the 4 chunk(s) committed so far" in strict.stderr
    resumed = carl_in_process("embed", tiny_va, "--input", source, "--output", tmp_path / "e", "--keep-columns",
                              "id", "--chunk-rows", 10, "--on-bad-row", "skip", "--resume")
    assert resumed.returncode == 0 and "49 rows scored, 1 skipped" in resumed.stdout, resumed.stderr[-2000:]
    table = pq.read_table(tmp_path / "e")  # the folder output reads as one table
    assert table.schema.field("id").type == pa.int64() and table.num_rows == 49
    assert table.column("id").to_pylist() == [i for i in range(50) if i != 43]


def test_a_txt_file_with_cr_only_line_ends_is_one_text_per_line(tiny_va, tmp_path, carl_in_process):
    source = tmp_path / "mac.txt"
    source.write_bytes(b"I won\rI lost\r\rwhat a day\r")
    done = carl_in_process("predict-va", tiny_va, "--input", source, "--output", tmp_path / "va.csv",
                           "--on-bad-row", "skip")
    assert done.returncode == 0 and "3 rows scored, 1 skipped" in done.stdout and "line 3: empty text" in done.stderr
    with open(tmp_path / "va.csv", newline="", encoding="utf-8") as fh:
        assert [r["text"] for r in csv.DictReader(fh)] == ["I won", "I lost", "what a day"]


# ---------------------------------------------------------------------- the rest of the review


def test_predict_va_to_stdout_honours_the_column_options_and_escapes_its_fields(tiny_va, tmp_path, carl_in_process):
    """Before: without --output, --keep-columns, --no-text and --with-embedding were ignored, and a tab or a line
    end inside a text broke the table."""
    source = tmp_path / "in.csv"
    write_csv(source, [("a1", "I won\tthe match"), ("b2", "two\nlines"), ("c3", "back\\slash and \r return")])
    full = carl_in_process("predict-va", tiny_va, "--input", source, "--keep-columns", "id", "--with-embedding")
    assert full.returncode == 0, full.stderr[-2000:]
    lines = full.stdout.splitlines()
    assert lines[0] == "valence\tarousal\tid\tembedding\ttext" and len(lines) == 4
    table = [line.split("\t") for line in lines[1:]]
    assert all(len(fields) == 5 for fields in table)
    assert [f[2] for f in table] == ["a1", "b2", "c3"]
    assert [f[4] for f in table] == ["I won\\tthe match", "two\\nlines", "back\\\\slash and \\r return"]
    assert all(len(json.loads(f[3])) == 32 for f in table)
    no_text = carl_in_process("predict-va", tiny_va, "--input", source, "--keep-columns", "id", "--no-text")
    assert no_text.returncode == 0 and no_text.stdout.splitlines()[0] == "valence\tarousal\tid"
    assert [line.split("\t")[2] for line in no_text.stdout.splitlines()[1:]] == ["a1", "b2", "c3"]


def test_long_texts_are_cut_before_tokenising_in_the_scoring_job(tiny_va):
    """A fast tokenizer encodes a whole string before truncating: a 2-million-character text cost its encoding's
    memory although the model reads 64 tokens of it. Cut at the model's maximum x 32 characters (as carl serve
    cuts), the vector is the same."""
    from carl.scoring.model import ChunkScorer, ModelSpec

    scorer = ChunkScorer(ModelSpec(path=str(tiny_va), task="embed"))
    seen = []
    encode = scorer.embedder.encode

    def spy(texts, **kwargs):
        seen.extend(len(t) for t in texts)
        return encode(texts, **kwargs)

    scorer.embedder.encode = spy
    long_text = "I won the match and everyone cheered. " * 52_000  # about 2 million characters
    vectors = scorer.score([long_text, "short"])["embedding"]
    assert max(seen) == 64 * 32 and len(long_text) > 1_900_000
    scorer.embedder.encode = encode
    whole_start = scorer.score([long_text[:5000], "short"])["embedding"]  # also past 64 tokens
    assert (vectors == whole_start).all()


def test_no_progress_reads_the_input_once(tiny_va, tmp_path, carl_in_process, monkeypatch):
    from carl.scoring.sources import Source

    def counted(self):
        raise AssertionError("the input was read once more, only to count its rows")

    monkeypatch.setattr(Source, "count_rows", counted)
    source = write_csv(tmp_path / "in.csv", [("1", "I won"), ("2", "I lost")])
    done = carl_in_process("predict-va", tiny_va, "--input", source, "--output", tmp_path / "va.parquet",
                           "--no-progress")
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_manifest_is_written_at_the_start_and_the_end_not_after_every_chunk(tiny_va, rows, tmp_path,
                                                                                carl_in_process, monkeypatch):
    """Before, the whole manifest (every chunk so far) was rewritten after each chunk: I/O quadratic in the job's
    length. Now each chunk appends one line to the journal."""
    import carl.scoring.job

    writes = []
    original = carl.scoring.job.atomic_write

    def counting(path, write):
        writes.append(pathlib.Path(path).name)
        return original(path, write)

    # The job's own name for the writer (imported at the top of carl.scoring.job, as the layer rules ask).
    monkeypatch.setattr(carl.scoring.job, "atomic_write", counting)
    source = write_csv(tmp_path / "in.csv", rows)
    done = carl_in_process("predict-va", tiny_va, "--input", source, "--output", tmp_path / "scores",
                           "--chunk-rows", 10, "--no-progress")
    assert done.returncode == 0, done.stderr[-2000:]
    assert writes.count("_carl_manifest.json") == 2  # 10 chunks: the fingerprint at the start, the end
    manifest = json.loads((tmp_path / "scores" / "_carl_manifest.json").read_text())
    assert manifest["complete"] is True and len(manifest["chunks"]) == 10
    assert not (tmp_path / "scores" / "_carl_chunks.jsonl").exists()
