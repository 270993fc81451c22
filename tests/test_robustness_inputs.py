"""Bad input never gives a traceback, a silent skip or a partial output file.

Each case is one row of a table: the input, and the documented behaviour (the error, or
with ``on_bad_row="skip"`` the counted and reported skip). docs/troubleshooting.md
lists the same cases for users.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from carl.data import read_table
from carl.errors import ConfigError, DataError, ModelError, OutputError
from carl.io import atomic_write, check_output, read_texts, write_embeddings


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


# --- read_table: one row per case ---------------------------------------------------------
# (case id, file name, content, read_table keyword arguments, line named or None, problem regex)

VA = {"valence_column": "v", "arousal_column": "a"}
TABLE_CASES = [
    # empty / whitespace-only text
    ("empty-text", "t.csv", "text,v,a\nok,1,2\n,2,3\n", VA, 3, "the text is empty"),
    ("whitespace-text", "t.csv", 'text,v,a\nok,1,2\n"  \t ",2,3\n', VA, 3, "the text is empty"),
    ("whitespace-text-jsonl", "t.jsonl", '{"text": "ok", "v": 1, "a": 2}\n{"text": " \\n ", "v": 2, "a": 3}\n',
     VA, 2, "the text is empty"),
    ("number-as-text-jsonl", "t.jsonl", '{"text": "ok", "v": 1, "a": 2}\n{"text": 7, "v": 2, "a": 3}\n',
     VA, 2, "the text must be a string, got 7"),
    # NaN, inf, missing, non-numeric and out-of-range V-A
    ("nan", "t.csv", "text,v,a\nok,1,2\nbad,NaN,3\n", VA, 3, "valence is 'NaN'"),
    ("inf", "t.csv", "text,v,a\nok,1,2\nbad,2,inf\n", VA, 3, "arousal is 'inf'"),
    ("minus-infinity", "t.tsv", "text\tv\ta\nok\t1\t2\nbad\t-Infinity\t3\n", VA, 3, "valence is '-Infinity'"),
    ("nan-jsonl", "t.jsonl", '{"text": "ok", "v": 1, "a": 2}\n{"text": "b", "v": NaN, "a": 3}\n', VA, 2,
     "valence is nan"),
    ("huge-int-jsonl", "t.jsonl", '{"text": "ok", "v": 1, "a": 2}\n{"text": "b", "v": 1' + "0" * 400 + ', "a": 3}\n',
     VA, 2, "valence 1000.* is not a number"),
    ("missing-cell", "t.csv", "text,v,a\nok,1,2\nbad,,3\n", VA, 3, "valence is missing"),
    ("null-jsonl", "t.jsonl", '{"text": "ok", "v": 1, "a": 2}\n{"text": "b", "v": 2, "a": null}\n', VA, 2,
     "arousal is missing"),
    ("missing-key-jsonl", "t.jsonl", '{"text": "ok", "v": 1, "a": 2}\n{"text": "b", "v": 2}\n', VA, 2,
     r"missing column\(s\) \['a'\]; this line has columns \['text', 'v'\]"),
    ("not-a-number", "t.csv", "text,v,a\nok,1,2\nbad,high,3\n", VA, 3, "valence 'high' is not a number"),
    ("above-range", "t.csv", "text,v,a\nok,1,2\nbad,10,3\n", {**VA, "valence_range": (1, 9)}, 3,
     r"valence 10\.0 is outside the given range \(1, 9\)"),
    ("below-range", "t.csv", "text,v,a\nok,1,0.2\nbad,2,-0.5\n", {**VA, "arousal_range": (0, 1)}, 3,
     r"arousal -0\.5 is outside the given range \(0, 1\)"),
    # unknown label where a vocabulary is given
    ("unknown-label", "t.csv", "text,emotion\nok,anger\nbad,angr\n",
     {"label_column": "emotion", "label_vocabulary": ["anger", "joy"]}, 3,
     r"unknown label 'angr' \(did you mean 'anger'\?\); the labels are \['anger', 'joy'\]"),
    ("unknown-label-jsonl-list", "t.jsonl", '{"text": "ok", "l": ["joy"]}\n{"text": "b", "l": ["joy", "fear"]}\n',
     {"label_column": "l", "label_vocabulary": ["anger", "joy"]}, 2, "unknown label 'fear'"),
    ("label-not-a-string", "t.jsonl", '{"text": "ok", "l": "joy"}\n{"text": "b", "l": 3}\n',
     {"label_column": "l"}, 2, "labels must be strings, got 3"),
    # malformed lines
    ("too-many-fields", "t.csv", "text,v,a\nok,1,2\nyes, it is,2,3\n", VA, 3, "4 fields but the header has 3"),
    ("too-few-fields", "t.tsv", "text\tv\ta\nok\t1\t2\nbad\t2\n", VA, 3, "2 fields but the header has 3"),
    ("blank-line", "t.csv", "text,v,a\nok,1,2\n\nok,2,3\n", VA, 3, "empty line"),
    ("unclosed-quote", "t.csv", 'text,v,a\nok,1,2\n"never closed,2,3\nok,3,4\n', VA, 3, "malformed CSV"),
    ("stray-quote", "t.csv", 'text,v,a\nok,1,2\n"quoted"tail,2,3\n', VA, 3, "malformed CSV"),
    ("malformed-json", "t.jsonl", '{"text": "ok", "v": 1, "a": 2}\n{"text": "b", "v": 2,\n', VA, 2,
     "malformed JSON"),
    ("json-not-object", "t.jsonl", '{"text": "ok", "v": 1, "a": 2}\n["b", 2, 3]\n', VA, 2,
     "each line must be a JSON object, got list"),
    ("blank-line-jsonl", "t.jsonl", '{"text": "ok", "v": 1, "a": 2}\n\n{"text": "b", "v": 2, "a": 3}\n', VA, 2,
     "empty line"),
    # wrong delimiter
    ("tsv-named-csv", "t.csv", "text\tv\ta\nok\t1\t2\n", VA, 1, "looks tab-separated"),
    ("csv-named-tsv", "t.tsv", "text,v,a\nok,1,2\n", VA, 1, "looks comma-separated"),
    ("semicolon-csv", "t.csv", "text;v;a\nok;1;2\n", VA, 1, "looks semicolon-separated"),
    # encoding
    ("latin-1", "t.csv", "text,v,a\nok,1,2\ncafé,2,3\n".encode("latin-1"), VA, 3, "not valid UTF-8"),
    ("latin-1-jsonl", "t.jsonl", '{"text": "ok"}\n{"text": "naïve"}\n'.encode("latin-1"), {}, 2, "not valid UTF-8"),
    # missing or misnamed columns: list what is there and suggest the closest name
    ("misnamed-column", "t.csv", "Text,valence,arousal\nok,1,2\n", {"valence_column": "valence"}, 1,
     r"missing column\(s\) \['text'\]; the file has columns \['Text', 'valence', 'arousal'\] "
     r"\(did you mean 'Text' for 'text'\?\)"),
    ("typo-column", "t.tsv", "text\tvalnce\nok\t1\n", {"valence_column": "valence"}, 1,
     r"did you mean 'valnce' for 'valence'\?"),
    ("no-close-column", "t.csv", "body,score\nok,1\n", {}, 1,
     r"missing column\(s\) \['text'\]; the file has columns \['body', 'score'\]$"),
    ("column-twice", "t.csv", "text,v,v\nok,1,2\n", {"valence_column": "v"}, 1, r"column\(s\) \['v'\] appear more"),
    # duplicate ids (only when an id column is named)
    ("duplicate-id", "t.csv", "id,text\n7,a\n8,b\n7,c\n", {"id_column": "id"}, 4,
     r"duplicate id '7' \(first used on line 2\)"),
    ("empty-id", "t.jsonl", '{"id": "a", "text": "x"}\n{"id": "", "text": "y"}\n', {"id_column": "id"}, 2,
     "the id must be a non-empty string"),
    # empty files
    ("empty-file", "t.csv", "", {}, None, "the file is empty"),
    ("empty-jsonl", "t.jsonl", "\n\n", {}, None, "the file is empty"),
    ("header-only", "t.csv", "text,v\n", {"valence_column": "v"}, None, "no usable rows: no data rows"),
    ("blank-first-line", "t.csv", "\ntext\nok\n", {}, 1, "the first line is empty"),
    # scales that cannot be normalised
    ("constant-ratings", "t.csv", "text,v\na,3\nb,3\n", {"valence_column": "v"}, None,
     r"every valence rating is 3\.0"),
    ("overflowing-span", "t.csv", "text,v\na,-1e308\nb,1e308\n", {"valence_column": "v"}, None,
     "too wide to normalise"),
]


@pytest.mark.parametrize("name, content, kwargs, line, problem",
                         [case[1:] for case in TABLE_CASES], ids=[case[0] for case in TABLE_CASES])
def test_read_table_bad_input_is_a_located_error(tmp_path, name, content, kwargs, line, problem):
    path = write(tmp_path / name, content)
    with pytest.raises(DataError) as caught:
        read_table(path, **kwargs)
    err = caught.value
    assert err.path == path and err.line == line
    assert re.search(problem, err.message), err.message
    assert str(path) in str(err) and (line is None or f"line {line}:" in str(err))
    assert err.fix, "every error must say how to fix it"


@pytest.mark.parametrize("kwargs, problem", [
    ({"valence_range": (5, 1)}, "low < high"),
    ({"valence_range": (0, float("inf"))}, "finite"),
    ({"valence_range": ("a", "b")}, "two numbers"),
    ({"on_bad_row": "ignore"}, r"on_bad_row must be one of \['error', 'skip'\]"),
])
def test_read_table_bad_arguments(tmp_path, kwargs, problem):
    path = write(tmp_path / "t.csv", "text,v\na,1\nb,2\n")
    with pytest.raises(ConfigError, match=problem):
        read_table(path, valence_column="v", **kwargs)


def test_read_table_directory_missing_file_and_type(tmp_path):
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(DataError, match=r"folder\.csv: is a directory"):
        read_table(tmp_path / "folder.csv")
    with pytest.raises(DataError, match="file not found"):
        read_table(tmp_path / "absent.jsonl")
    with pytest.raises(DataError, match="unsupported file type '.xlsx'"):
        read_table(write(tmp_path / "t.xlsx", "text\nok\n"))


def test_labels_are_free_names_without_a_vocabulary(tmp_path):
    """Without label_vocabulary any label name is accepted (documented in docs/troubleshooting.md)."""
    records = read_table(write(tmp_path / "t.csv", "text,l\na,angr\nb,Joy\nc,\n"), label_column="l")
    assert [r.labels for r in records] == [("angr",), ("Joy",), ()]


def test_ids_default_to_line_numbers_and_may_repeat_text(tmp_path):
    records = read_table(write(tmp_path / "t.csv", "id,text\n7,same\n8,same\n"))
    assert [r.id for r in records] == ["L2", "L3"]
    records = read_table(tmp_path / "t.csv", id_column="id")
    assert [(r.id, r.text) for r in records] == [("7", "same"), ("8", "same")]


# --- on_bad_row="skip": counted, reported, and exactly those rows left out -------------------

MIXED = ("text,v,a,l\n"
         "good one,1,1,joy\n"        # 2
         ",2,2,joy\n"                # 3 empty text
         "good two,9,9,joy\n"        # 4
         "nan row,nan,3,joy\n"       # 5 NaN
         "far,12,3,joy\n"            # 6 out of range
         "short,3\n"                 # 7 wrong field count
         "good three,5,5,joy\n"      # 8
         "typo,4,4,jyo\n")           # 9 unknown label


def test_skip_leaves_out_exactly_the_bad_rows_and_warns(tmp_path, caplog):
    path = write(tmp_path / "mixed.csv", MIXED)
    kwargs = dict(valence_column="v", arousal_column="a", label_column="l", valence_range=(1, 9),
                  arousal_range=(1, 9), label_vocabulary={"joy", "anger"})
    with pytest.raises(DataError, match=r"mixed\.csv, line 3: the text is empty"):
        read_table(path, **kwargs)
    with caplog.at_level(logging.WARNING, logger="carl.data.tables"):
        records = read_table(path, **kwargs, on_bad_row="skip")
    assert [r.id for r in records] == ["L2", "L4", "L8"]
    assert [r.text for r in records] == ["good one", "good two", "good three"]
    assert [r.valence for r in records] == [0.0, 1.0, 0.5]
    warnings = [rec.getMessage() for rec in caplog.records if rec.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "skipped 5 bad row(s) of 8" in warnings[0] and "line(s) 3, 5, 6, 7, 9" in warnings[0]
    assert "first problem: line 3: the text is empty" in warnings[0] and "mixed.csv" in warnings[0]


def test_skip_scales_over_the_kept_rows_and_lists_only_the_first_lines(tmp_path, caplog):
    rows = ["text,v"] + [f"ok {i},{i}" for i in range(3)] + [f"bad {i},x" for i in range(12)]
    path = write(tmp_path / "many.csv", "\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING, logger="carl.data.tables"):
        records = read_table(path, valence_column="v", on_bad_row="skip")
    assert [r.valence for r in records] == [0.0, 0.5, 1.0]  # observed over the kept rows only
    assert "skipped 12 bad row(s) of 15" in caplog.text
    assert "line(s) 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, ...;" in caplog.text


def test_skip_jsonl_and_duplicate_ids(tmp_path, caplog):
    lines = ['{"id": 1, "text": "a"}', "{broken", '{"id": 2, "text": "b"}', "", '{"id": 1, "text": "again"}', "[1]"]
    path = write(tmp_path / "d.jsonl", "\n".join(lines) + "\n")
    with caplog.at_level(logging.WARNING, logger="carl.data.tables"):
        records = read_table(path, id_column="id", on_bad_row="skip")
    assert [(r.id, r.text) for r in records] == [("1", "a"), ("2", "b")]
    assert "skipped 4 bad row(s) of 6" in caplog.text and "line(s) 2, 4, 5, 6" in caplog.text


def test_no_warning_when_nothing_is_skipped(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        assert len(read_table(write(tmp_path / "t.csv", "text\na\nb\n"), on_bad_row="skip")) == 2
    assert caplog.records == []


@pytest.mark.parametrize("name, content, problem", [
    ("t.csv", "text\tv\nok\t1\n", "looks tab-separated"),
    ("t.csv", "text,v\nok,1\n".encode("utf-16"), "not valid UTF-8"),
    ("t.csv", 'text,v\nok,1\n"open,2\n', "malformed CSV"),
    ("t.csv", "body,v\nok,1\n", "missing column"),
    ("t.csv", "text,v\n,1\n ,2\n", r"no usable rows: all 2 rows are bad \(first: line 2: the text is empty\)"),
])
def test_skip_never_hides_a_problem_with_the_whole_file(tmp_path, name, content, problem):
    with pytest.raises(DataError, match=problem):
        read_table(write(tmp_path / name, content), valence_column="v", on_bad_row="skip")


# --- read_texts (carl embed / predict-va input): never skips, so output i is input i ------------

TEXT_CASES = [
    ("whitespace-line", "t.txt", "fine\n   \t\nalso fine\n", "text", 2, "empty text"),
    ("blank-line", "t.txt", "fine\n\nalso fine\n", "text", 2, "empty text"),
    ("trailing-blank-line", "t.txt", "fine\nalso fine\n\n", "text", 3, "empty text"),
    ("empty-csv-cell", "t.csv", 'text\nfine\n""\n', "text", 3, "empty text"),
    ("blank-line-csv", "t.csv", "text\nfine\n\nfine\n", "text", 3, "empty line"),
    ("wrong-field-count", "t.csv", "id,text\n1,fine\n2,yes, and no\n", "text", 3, "3 fields but the header has 2"),
    ("unclosed-quote", "t.csv", 'id,text\n1,"fine\n2,no\n', "text", 2, "malformed CSV"),
    ("tab-separated-csv", "t.csv", "id\ttext\n1\tfine\n", "text", 1, "looks tab-separated"),
    ("comma-separated-tsv", "t.tsv", "id,text\n1,fine\n", "text", 1, "looks comma-separated"),
    ("misnamed-column", "t.csv", "id,Text\n1,fine\n", "text", 1, r"did you mean 'Text' for 'text'\?"),
    ("typo-column", "t.tsv", "id\tsentence\n1\tfine\n", "sentense", 1,
     r"missing column\(s\) \['sentense'\]; the file has columns \['id', 'sentence'\] \(did you mean 'sentence'"),
    ("latin-1", "t.txt", "fine\nok\ncafé\n".encode("latin-1"), "text", 3, "not valid UTF-8"),
    ("latin-1-csv", "t.csv", "text\nfine\nnaïve\n".encode("cp1252"), "text", 3, "not valid UTF-8"),
    ("bad-json", "t.jsonl", '{"text": "fine"}\n{"text": \n', "text", 2, "not valid JSON"),
    ("json-not-object", "t.jsonl", '{"text": "fine"}\n"just a string"\n', "text", 2, "must be a JSON object"),
    ("json-missing-field", "t.jsonl", '{"text": "fine"}\n{"txt": "x"}\n', "text", 2,
     r"missing column\(s\) \['text'\]; this line has columns \['txt'\] \(did you mean 'txt'"),
    ("json-not-string", "t.jsonl", '{"text": "fine"}\n{"text": ["x"]}\n', "text", 2, "'text' is not a string"),
    ("json-empty-string", "t.jsonl", '{"text": "fine"}\n{"text": " "}\n', "text", 2, "empty text"),
    ("json-blank-line", "t.jsonl", '{"text": "fine"}\n\n{"text": "x"}\n', "text", 2, "empty line"),
    ("empty-txt", "t.txt", "", "text", None, "holds no texts"),
    ("empty-csv", "t.csv", "", "text", None, "the file is empty"),
    ("header-only-csv", "t.csv", "text\n", "text", None, "holds no texts"),
]


@pytest.mark.parametrize("name, content, column, line, problem",
                         [case[1:] for case in TEXT_CASES], ids=[case[0] for case in TEXT_CASES])
def test_read_texts_bad_input_is_a_located_error(tmp_path, name, content, column, line, problem):
    path = write(tmp_path / name, content)
    with pytest.raises(DataError) as caught:
        read_texts(path, column)
    err = caught.value
    assert err.path == path and err.line == line
    assert re.search(problem, err.message), err.message
    assert str(path) in str(err)


def test_read_texts_directory_and_missing_file(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        read_texts(tmp_path)
    with pytest.raises(DataError, match="file not found"):
        read_texts(tmp_path / "absent.txt")


# --- text that works: emoji, other scripts, odd line separators, a byte-order mark ------------------

MULTILINGUAL = ["I won 🎉🏆", "Ça me rend très heureux", "今日はとても悲しい", "أنا غاضب جدا", "Я в ужасе",
                "e\u0301 combining accent", "tab\tinside", "zero\u200bwidth", "line\u2028separator and \x85 NEL"]


def test_read_texts_keeps_every_script_and_line_separators_inside_a_line(tmp_path):
    path = write(tmp_path / "t.txt", "\ufeff" + "\r\n".join(MULTILINGUAL) + "\r\n")
    assert read_texts(path) == MULTILINGUAL
    jsonl = write(tmp_path / "t.jsonl", "".join(json.dumps({"text": text}, ensure_ascii=False) + "\n"
                                                for text in MULTILINGUAL))
    assert read_texts(jsonl) == MULTILINGUAL


def test_read_table_keeps_every_script_and_a_bom(tmp_path):
    rows = "".join(f'"{text}",{i}\n' for i, text in enumerate(MULTILINGUAL))
    path = write(tmp_path / "t.csv", "\ufefftext,v\n" + rows)
    records = read_table(path, valence_column="v")
    assert [r.text for r in records] == [text.strip() for text in MULTILINGUAL]
    assert [r.id for r in records] == [f"L{i}" for i in range(2, 2 + len(MULTILINGUAL))]


# --- outputs: all or nothing --------------------------------------------------------------------------

def test_write_embeddings_refuses_bad_vectors_and_writes_nothing(tmp_path):
    texts = ["a", "b"]
    for target in (tmp_path / "e.npy", tmp_path / "e.jsonl"):
        with pytest.raises(ModelError, match="shape"):
            write_embeddings(target, texts, np.zeros((3, 4), dtype=np.float32))
        with pytest.raises(ModelError, match=r"non-finite .* input number\(s\) \[2\]"):
            write_embeddings(target, texts, np.array([[0.0, 1.0], [np.nan, 1.0]], dtype=np.float32))
        assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_write_embeddings_bad_output_paths(tmp_path):
    vectors = np.ones((1, 2), dtype=np.float32)
    with pytest.raises(OutputError, match="unsupported output type '.csv'"):
        write_embeddings(tmp_path / "e.csv", ["a"], vectors)
    (tmp_path / "taken.npy").mkdir()
    with pytest.raises(OutputError, match="is a directory"):
        write_embeddings(tmp_path / "taken.npy", ["a"], vectors)
    with pytest.raises(OutputError, match="is a directory"):
        check_output(tmp_path / "taken.npy")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="cannot write"):  # a file where a folder should be
        write_embeddings(tmp_path / "file" / "e.npy", ["a"], vectors)


def test_atomic_write_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = write(tmp_path / "out.jsonl", "old\n")

    def half_then_fail(tmp):
        tmp.write_text("partial")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        atomic_write(target, half_then_fail)
    assert target.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]

    def no_space(tmp):
        raise OSError(28, "No space left on device")

    with pytest.raises(OutputError, match="No space left on device"):
        atomic_write(target, no_space)
    assert target.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


# --- models: long texts are truncated, every script embeds ------------------------------------------

def test_long_and_multilingual_texts_embed_to_one_vector_each(tiny_encoder, tmp_path):
    """A text far past the model maximum is truncated by the tokenizer (max_seq_length), not an error."""
    from carl.inference.embedder import load

    model = load(tiny_encoder)
    long_text = ("emotion " * 12_500)[:100_000]
    vectors = model.encode([long_text, *MULTILINGUAL])
    assert vectors.shape == (1 + len(MULTILINGUAL), 32) and np.isfinite(vectors).all()
    assert len(model.model.tokenizer(long_text, truncation=True, max_length=model.model.max_seq_length)["input_ids"]) \
        == model.model.max_seq_length
    path = write(tmp_path / "long.txt", long_text + "\n" + "\n".join(MULTILINGUAL) + "\n")
    texts = read_texts(path)
    write_embeddings(tmp_path / "e.npy", texts, model.encode(texts))
    assert np.load(tmp_path / "e.npy").shape == (1 + len(MULTILINGUAL), 32)


@pytest.mark.parametrize("kind", ["missing", "empty-folder", "a-file"])
def test_model_paths_that_are_not_models(tmp_path, kind):
    from carl.inference.embedder import load
    from carl.inference.encoders import load_encoder

    path = {"missing": tmp_path / "nothing", "empty-folder": tmp_path, "a-file": write(tmp_path / "m.bin", "x")}[kind]
    for loader in (load, load_encoder):
        with pytest.raises(ModelError):
            loader(str(path))


# --- the command line: exit 2, a message, no traceback, no output file ---------------------------

def carl(*args, timeout=300):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "carl.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


def assert_user_error(done, *expected):
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and done.stderr.startswith("carl: error:"), done.stderr[-2000:]
    for text in expected:
        assert text in done.stderr, done.stderr[-2000:]


def test_cli_embed_with_a_model_path_that_does_not_exist(tmp_path):
    texts = write(tmp_path / "t.txt", "hello\n")
    target = tmp_path / "out.npy"
    assert_user_error(carl("embed", tmp_path / "nothing", "--input", texts, "--output", target),
                      str(tmp_path / "nothing"), "does not exist")
    assert not target.exists()


def test_cli_embed_with_a_tab_separated_csv(tiny_encoder, tmp_path):
    texts = write(tmp_path / "t.csv", "id\ttext\n1\thello\n")
    target = tmp_path / "out.jsonl"
    assert_user_error(carl("embed", tiny_encoder, "--input", texts, "--output", target),
                      f"{texts}, line 1:", "looks tab-separated", "fix: rename it to .tsv")
    assert not target.exists()


def test_cli_train_with_an_empty_model_folder(tmp_path, data_dir):
    empty = tmp_path / "emptydir"
    empty.mkdir()
    table = write(tmp_path / "mine.csv", "text,valence,arousal\n" + "".join(f"t{i},{i},{9 - i}\n" for i in range(8)))
    done = carl("train", "--model", empty, "--data", table, "--batch-size", 4, "--max-steps", 1,
                "--output-dir", tmp_path / "run", "--data-dir", data_dir)
    assert_user_error(done, str(empty), "config.json")
    assert not (tmp_path / "run" / "model").exists()
