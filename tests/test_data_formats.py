"""Readers against small generated files: user tables, malformed corpus files, IEMOCAP.

Everything here is written to tmp_path by the tests; nothing touches the real corpora.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carl.data import EMOTION_VA_WORDS, load_corpus, read_table, resolve_data_dir
from carl.data.scaling import Scale
from carl.data.splits import seeded_split
from carl.errors import DataError


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def write_lexicon(root: Path, words) -> None:
    """A tiny NRC-VAD-format lexicon: word i gets valence i/100, arousal 1 - i/100."""
    lines = ["Word\tValence\tArousal\tDominance"]
    lines += [f"{word}\t{i / 100:.3f}\t{1 - i / 100:.3f}\t0.500" for i, word in enumerate(sorted(set(words)))]
    write(root / "nrc-vad" / "NRC-VAD-Lexicon.txt", "\n".join(lines) + "\n")


@pytest.fixture
def lexicon_root(tmp_path) -> Path:
    write_lexicon(tmp_path, {word for words in EMOTION_VA_WORDS.values() for word in words.values()})
    return tmp_path


# --- read_table -------------------------------------------------------------------

def test_csv_observed_minmax(tmp_path):
    path = write(tmp_path / "mine.csv", "text,v,a,emotion\nhello,1,3,joy\nbye,5,7,\nok,3,5,anger\n")
    records = read_table(path, valence_column="v", arousal_column="a", label_column="emotion")
    assert [r.valence for r in records] == [0.0, 1.0, 0.5]
    assert [r.arousal for r in records] == [0.0, 1.0, 0.5]
    assert [r.labels for r in records] == [("joy",), (), ("anger",)]
    assert {r.corpus for r in records} == {"mine"} and {r.split for r in records} == {"train"}


def test_explicit_range_and_range_violation(tmp_path):
    path = write(tmp_path / "x.csv", "text,v\na,3\nb,5\n")
    assert [r.valence for r in read_table(path, valence_column="v", valence_range=(1, 9))] == [0.25, 0.5]
    with pytest.raises(DataError, match=r"x\.csv, line 3: valence 5\.0 is outside"):
        read_table(path, valence_column="v", valence_range=(1, 4))


def test_no_va_columns_gives_none(tmp_path):
    records = read_table(write(tmp_path / "x.tsv", "text\tlabel\nfine day\tjoy\n"), label_column="label",
                         corpus="mine", split="test")
    assert records[0].valence is None and records[0].arousal is None
    record = records[0]
    assert (record.text, record.labels, record.corpus, record.split) == ("fine day", ("joy",), "mine", "test")


def test_quoted_csv_with_newlines_keeps_line_numbers(tmp_path):
    path = write(tmp_path / "q.csv", 'text,v\n"two\nlines, and ""quotes""",1\nplain,2\n"bad",x\n')
    with pytest.raises(DataError, match=r"q\.csv, line 5: valence 'x' is not a number"):
        read_table(path, valence_column="v")
    write(path, 'text,v\n"two\nlines, and ""quotes""",1\nplain,2\n')
    assert [r.text for r in read_table(path, valence_column="v")] == ['two\nlines, and "quotes"', "plain"]


def test_missing_column_names_the_file_and_the_columns(tmp_path):
    path = write(tmp_path / "m.csv", "sentence,valence\nhi,1\n")
    with pytest.raises(DataError) as err:
        read_table(path, valence_column="valence")
    assert "m.csv" in str(err.value) and "['text']" in str(err.value) and "['sentence', 'valence']" in str(err.value)


@pytest.mark.parametrize("cell,problem", [("nan", "valence is 'nan'"), ("", "valence is missing"),
                                          ("inf", "valence is 'inf'")])
def test_bad_rating_names_file_and_line(tmp_path, cell, problem):
    path = write(tmp_path / "r.csv", f"text,v\nfine,1\nbad,{cell}\n")
    with pytest.raises(DataError, match=rf"r\.csv, line 3: {problem}"):
        read_table(path, valence_column="v")


@pytest.mark.parametrize("content,line,problem", [
    ('text,v\nok,1\n"never closed,2\n', 3, "malformed CSV"),
    ("text,v\nok,1\nextra,2,3\n", 3, "3 fields but the header has 2"),
    ("text,v\nok,1\n\nok,2\n", 3, "empty line"),
    ("text,v\nok,1\n ,2\n", 3, "the text is empty"),
])
def test_malformed_csv(tmp_path, content, line, problem):
    with pytest.raises(DataError, match=rf"bad\.csv, line {line}: {problem}"):
        read_table(write(tmp_path / "bad.csv", content), valence_column="v")


def test_jsonl(tmp_path):
    rows = [{"text": "a", "v": 2, "labels": ["joy", "love"]}, {"text": "b", "v": "4", "labels": "anger"}]
    path = write(tmp_path / "d.jsonl", "".join(json.dumps(row) + "\n" for row in rows))
    records = read_table(path, valence_column="v", label_column="labels")
    assert [(r.valence, r.labels) for r in records] == [(0.0, ("joy", "love")), (1.0, ("anger",))]


@pytest.mark.parametrize("line2,problem", [
    ('{"text": "b", "v": NaN}', "valence is nan"),
    ('{"text": "b", "v": null}', "valence is missing"),
    ('{"text": "b"', "malformed JSON"),
    ('["b", 1]', "each line must be a JSON object"),
    ('{"txt": "b", "v": 1}', r"missing column\(s\) \['text'\]; this line has columns \['txt', 'v'\]"),
])
def test_malformed_jsonl(tmp_path, line2, problem):
    path = write(tmp_path / "d.jsonl", '{"text": "a", "v": 1}\n' + line2 + "\n")
    with pytest.raises(DataError, match=rf"d\.jsonl, line 2: {problem}"):
        read_table(path, valence_column="v")


def test_unsupported_and_missing_files(tmp_path):
    with pytest.raises(DataError, match="unsupported file type"):
        read_table(write(tmp_path / "x.xlsx", "text\n"))
    with pytest.raises(DataError, match="file not found"):
        read_table(tmp_path / "absent.csv")


def test_non_utf8_names_the_line(tmp_path):
    path = write(tmp_path / "l.csv", "text\ncafé\nnaïve\n", encoding="latin-1")
    with pytest.raises(DataError, match=r"l\.csv, line 2: not valid UTF-8"):
        read_table(path)


def test_constant_ratings_need_a_range(tmp_path):
    path = write(tmp_path / "c.csv", "text,v\na,3\nb,3\n")
    with pytest.raises(DataError, match=r"every valence rating is 3\.0"):
        read_table(path, valence_column="v")


texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1).filter(str.strip)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(texts, st.floats(-100, 100)), min_size=2, max_size=8))
def test_csv_round_trip(tmp_path_factory, rows):
    """Any text csv.writer can quote (commas, quotes, newlines) reads back intact."""
    path = tmp_path_factory.mktemp("rt") / "rt.csv"
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["text", "v"])
        writer.writerows(rows)
    values = [v for _, v in rows]
    if min(values) == max(values):
        return
    records = read_table(path, valence_column="v")
    assert [r.text for r in records] == [t.strip() for t, _ in rows]
    low, high = min(values), max(values)
    assert [r.valence for r in records] == pytest.approx([(v - low) / (high - low) for v in values])


# --- seeded split and scaling --------------------------------------------------------

@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=4), min_size=1, max_size=200), st.integers(0, 2**32))
def test_seeded_split_properties(keys, seed):
    splits = seeded_split(keys, seed)
    assert splits == seeded_split(list(keys), seed)
    assert set(splits) <= {"train", "dev", "test"} and len(splits) == len(keys)
    split_of_key = {}
    for key, split in zip(keys, splits):
        assert split_of_key.setdefault(key, split) == split  # equal keys share a split
    groups = len(set(keys))
    assert list(split_of_key.values()).count("train") == round(groups * 0.8)


def test_seeded_split_is_platform_independent():
    # Pinned values: the split must not change with Python, NumPy or the platform.
    assert seeded_split([str(i) for i in range(10)], 0) == [
        "train", "test", "train", "train", "train", "dev", "train", "train", "train", "train"]


@given(st.floats(-1e6, 1e6), st.floats(1e-3, 1e6), st.floats(0, 1))
def test_scale_maps_ends_to_zero_and_one(low, width, t):
    scale = Scale(low, low + width)
    assert scale(low) == 0.0 and scale(low + width) == pytest.approx(1.0)
    assert -1e-9 <= scale(low + t * width) <= 1 + 1e-9


# --- data directory ------------------------------------------------------------------

def test_resolve_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("CARL_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert resolve_data_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("CARL_DATA_DIR")
    assert resolve_data_dir() == tmp_path / "xdg" / "carl" / "data"
    monkeypatch.setenv("XDG_DATA_HOME", "")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_data_dir() == tmp_path / "home" / ".local" / "share" / "carl" / "data"


def test_missing_corpus_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError) as err:
        load_corpus("emobank", tmp_path)
    message = str(err.value)
    assert "'emobank'" in message and str(tmp_path / "emobank" / "corpus_emobank.csv") in message
    assert "carl data fetch emobank" in message
    with pytest.raises(DataError, match=r"saifmohammad\.com"):
        load_corpus("tec", tmp_path)


def test_missing_lexicon_says_how_to_get_it(tmp_path):
    write(tmp_path / "senteval-classic" / "mpqa.all", "1 good\n")
    with pytest.raises(DataError, match=r"NRC-VAD-Lexicon\.txt.*\n.*nrc-vad\.html"):
        load_corpus("mpqa", tmp_path)


def test_unknown_corpus_lists_the_known_ones(tmp_path):
    with pytest.raises(DataError, match="unknown corpus 'emobnak'; known corpora: emobank, facebook-va"):
        load_corpus("emobnak", tmp_path)


# --- malformed corpus files ------------------------------------------------------------

def test_unknown_label_in_carer(lexicon_root):
    for name in ("train", "val", "test"):
        write(lexicon_root / "carer-emotion" / f"{name}.txt", "text;label_name\ni feel fine;joy\ni am bored;boredom\n")
    with pytest.raises(DataError, match=r"train\.txt, line 3: unknown label 'boredom'"):
        load_corpus("carer", lexicon_root)


def test_carer_reads_synthetic_files(lexicon_root):
    for name in ("train", "val", "test"):
        write(lexicon_root / "carer-emotion" / f"{name}.txt", "text;label_name\ni feel; fine;joy\n")
    records = load_corpus("carer", lexicon_root)
    assert [(r.split, r.text, r.labels) for r in records] == [
        ("train", "i feel; fine", ("joy",)), ("dev", "i feel; fine", ("joy",)), ("test", "i feel; fine", ("joy",))]


def test_malformed_tec_line(lexicon_root):
    write(lexicon_root / "tec" / "Jan9-2012-tweets-clean.txt", "1:\tgood day \t:: joy\n2: missing tab :: joy\n")
    with pytest.raises(DataError, match=r"Jan9-2012-tweets-clean\.txt, line 2: expected"):
        load_corpus("tec", lexicon_root)


def test_goemotions_unknown_label_id(lexicon_root):
    folder = lexicon_root / "goemotions" / "ekman"
    write(folder / "labels.txt", "\n".join(EMOTION_VA_WORDS["goemotions-ekman"]))
    for name in ("train", "dev", "test"):
        write(folder / f"{name}.tsv", "fine\t3\ta1\nodd\t3,9\ta2\n")
    with pytest.raises(DataError, match=r"train\.tsv, line 2: unknown label id 9"):
        load_corpus("goemotions-ekman", lexicon_root)


def test_goemotions_labels_txt_must_be_known(lexicon_root):
    folder = lexicon_root / "goemotions" / "group"
    write(folder / "labels.txt", "positive\nhopeful\n")
    for name in ("train", "dev", "test"):
        write(folder / f"{name}.tsv", "fine\t0\ta1\n")
    with pytest.raises(DataError, match=r"labels\.txt, line 2: unknown label 'hopeful'"):
        load_corpus("goemotions-group", lexicon_root)


def test_sst_unknown_class_and_empty_line(lexicon_root):
    folder = lexicon_root / "sst" / "sst5"
    for name in ("train", "dev", "test"):
        write(folder / f"stsa.fine.{name}", "4 great\n0 awful\n")
    records = load_corpus("sst5", lexicon_root, ["train"])
    assert [r.labels for r in records] == [("very positive",), ("very negative",)]
    write(folder / "stsa.fine.dev", "4 great\n5 too good\n")
    with pytest.raises(DataError, match=r"stsa\.fine\.dev, line 2: unknown label '5'"):
        load_corpus("sst5", lexicon_root)
    write(folder / "stsa.fine.dev", "4 great\n\n0 bad\n")
    with pytest.raises(DataError, match=r"stsa\.fine\.dev, line 2: empty line"):
        load_corpus("sst5", lexicon_root)


def test_empty_text_outside_the_known_quirks_is_an_error(lexicon_root):
    write(lexicon_root / "senteval-classic" / "custrev.all", "1 good\n0 \n")
    with pytest.raises(DataError, match=r"custrev\.all, line 2: the text is empty"):
        load_corpus("cr", lexicon_root)


def test_dailydialog_misalignment_is_an_error(lexicon_root):
    for folder in ("train", "validation", "test"):
        write(lexicon_root / "dailydialog" / folder / f"dialogues_{folder}.txt", "Hi . __eou__ Hello ! __eou__\n")
        write(lexicon_root / "dailydialog" / folder / f"dialogues_emotion_{folder}.txt", "0 4 \n")
    records = load_corpus("dailydialog", lexicon_root, ["dev"])
    assert [(r.id, r.text, r.labels) for r in records] == [
        ("dev-1-0", "Hi .", ("no emotion",)), ("dev-1-1", "Hello !", ("happiness",))]
    write(lexicon_root / "dailydialog" / "test" / "dialogues_emotion_test.txt", "0 \n")
    with pytest.raises(DataError, match=r"dialogues_test\.txt, line 1: 2 utterances but 1 emotion labels"):
        load_corpus("dailydialog", lexicon_root)


def test_emobank_bad_rows(tmp_path):
    path = write(tmp_path / "emobank" / "corpus_emobank.csv",
                 'id,split,V,A,D,text\na,train,1.0,2.0,3,"one"\nb,test,nan,3.0,3,two\n')
    with pytest.raises(DataError, match=r"corpus_emobank\.csv, line 3: valence \(V\) is 'nan'"):
        load_corpus("emobank", tmp_path)
    write(path, "id,split,V,A,D,text\na,validation,1.0,2.0,3,one\n")
    with pytest.raises(DataError, match=r"line 2: unknown split 'validation'"):
        load_corpus("emobank", tmp_path)
    write(path, "id,split,V,A,D,text\na,train,1.0,2.0,3,one\nb,dev,6.0,2.0,3,two\n")
    with pytest.raises(DataError, match=r"line 3: valence \(V\) 6\.0 is outside the scale 1-5"):
        load_corpus("emobank", tmp_path)


# --- IEMOCAP (synthetic files in the release's format) -----------------------------------

def write_iemocap_session(root: Path, session: int, turns: list[tuple[str, str, str, str]]) -> None:
    """turns: (turn id, text, emotion code, "[V, A, D]")."""
    dialog = root / "iemocap" / "IEMOCAP_full_release" / f"Session{session}" / "dialog"
    name = f"Ses0{session}F_impro01"
    transcript = [f"{turn} [{i:07.4f}-{i + 1:07.4f}]: {text}" for i, (turn, text, _, _) in enumerate(turns)]
    write(dialog / "transcriptions" / f"{name}.txt", "\n".join(transcript) + "\nM: [BREATHING]\n")
    evaluation = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
    for i, (turn, _, code, vad) in enumerate(turns):
        evaluation += [f"[{i}.0000 - {i + 1}.0000]\t{turn}\t{code}\t{vad}", "C-E1:\tNeutral;\t()",
                       "A-E1:\tval 3; act 2; dom  2;\t()", ""]
    write(dialog / "EmoEvaluation" / f"{name}.txt", "\n".join(evaluation) + "\n")
    write(dialog / "EmoEvaluation" / f"._{name}.txt", "\x00\x01 macOS resource fork")


@pytest.fixture
def iemocap_root(tmp_path) -> Path:
    for session in range(1, 6):
        turns = [(f"Ses0{session}F_impro01_F000", f"Session {session} says hi.", "neu", "[2.5000, 2.5000, 2.5000]"),
                 (f"Ses0{session}F_impro01_M000", "Great news!", "exc" if session < 5 else "xxx",
                  f"[{session:.4f}, 4.0000, 3.0000]")]
        write_iemocap_session(tmp_path, session, turns)
    return tmp_path


def test_iemocap_reader(iemocap_root):
    records = {r.id: r for r in load_corpus("iemocap", iemocap_root)}
    assert len(records) == 10
    assert {r.split for r in records.values() if r.id.startswith(("Ses01", "Ses02", "Ses03"))} == {"train"}
    assert records["Ses04F_impro01_F000"].split == "dev" and records["Ses05F_impro01_M000"].split == "test"
    first = records["Ses01F_impro01_F000"]
    assert first.text == "Session 1 says hi." and first.labels == ("neutral",)
    # observed over all sessions: valence 1..5, arousal 2.5..4.0
    assert (first.valence, first.arousal) == (pytest.approx(0.375), 0.0)
    assert records["Ses05F_impro01_M000"].valence == 1.0 and records["Ses05F_impro01_M000"].arousal == 1.0
    assert records["Ses05F_impro01_M000"].labels == ("no agreement",)
    assert records["Ses02F_impro01_M000"].labels == ("excitement",)


def test_iemocap_normalises_over_all_sessions(iemocap_root):
    write_iemocap_session(iemocap_root, 1, [("Ses01F_impro01_F000", "low", "sad", "[1.0000, 1.0000, 1.0000]"),
                                            ("Ses01F_impro01_M000", "high", "hap", "[5.0000, 5.0000, 1.0000]")])
    records = {r.id: r for r in load_corpus("iemocap", iemocap_root)}
    assert (records["Ses01F_impro01_F000"].valence, records["Ses01F_impro01_F000"].arousal) == (0.0, 0.0)
    assert (records["Ses01F_impro01_M000"].valence, records["Ses01F_impro01_M000"].arousal) == (1.0, 1.0)
    assert records["Ses03F_impro01_F000"].valence == pytest.approx(0.375)  # 2.5 on 1..5


@pytest.mark.parametrize("code,vad,problem", [
    ("joy", "[2.5000, 2.5000, 2.5000]", "unknown emotion code 'joy'"),
    ("neu", "[2.5000, 2.5000]", "expected"),
    ("neu", "[6.0000, 2.5000, 2.5000]", "valence 6.0 is outside the scale 1-5"),
])
def test_iemocap_bad_evaluation_line(iemocap_root, code, vad, problem):
    write_iemocap_session(iemocap_root, 3, [("Ses03F_impro01_F000", "hi", code, vad)])
    with pytest.raises(DataError, match=rf"Ses03F_impro01\.txt, line 3: {problem}"):
        load_corpus("iemocap", iemocap_root)


def test_iemocap_turn_without_transcript(iemocap_root):
    transcript = iemocap_root / "iemocap/IEMOCAP_full_release/Session2/dialog/transcriptions/Ses02F_impro01.txt"
    write(transcript, "Ses02F_impro01_F000 [000.0000-001.0000]: only one\n")
    with pytest.raises(DataError, match=r"line 7: turn Ses02F_impro01_M000 has no transcript"):
        load_corpus("iemocap", iemocap_root)


def test_iemocap_missing_release_says_where_to_get_it(tmp_path):
    with pytest.raises(DataError, match=r"sail\.usc\.edu/iemocap"):
        load_corpus("iemocap", tmp_path)


def test_quirk_warnings_are_logged(lexicon_root, caplog):
    write(lexicon_root / "senteval-classic" / "custrev.all", "1 good\n" * 768 + "0 \n")
    with caplog.at_level(logging.WARNING):
        records = load_corpus("cr", lexicon_root)
    assert len(records) == 768 and "line 769: label without text" in caplog.text
