"""Fuzzing every reader that parses a file: any bytes either give valid Records or a CarlError.

Each target lays out a small, valid data directory in a temporary folder (the relative
paths of the real corpora), then replaces one file with generated content: format-aware
lines built from the format's own tokens and random text, valid lines mixed with broken
ones, or raw bytes. A reader may accept the content or raise carl's own error; any other
exception (IndexError, ValueError, UnicodeError, ...) fails the test with a minimal input.
Bounded to 60 examples per target so the whole file runs in well under a minute.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carl.data import EMOTION_VA_WORDS, SPLITS, Record, load_corpus, load_nrc_vad, read_table
from carl.data.lexicon import GOEMOTIONS_LABELS
from carl.errors import CarlError
from carl.io import read_texts

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- content strategies ----------------------------------------------------------------------------

#: Tokens every format may meet: separators, quotes, numbers at and past the edges, odd characters.
COMMON = ["\n", "\r\n", "\t", ",", ";", " ", '"', "'", ":", "\\", "0", "1", "3", "5", "9", "-1", "2.5", "1e308",
          "-1e308", "nan", "NaN", "inf", "-inf", "Infinity", "1e999", "\ufeff", "\x00", "\u2028", "\x85", "é", "😀",
          "日本"]


def content(tokens: list[str], good: list[str], header: str | None = None, max_lines: int = 8
            ) -> st.SearchStrategy[bytes]:
    """Bytes of a file: mostly valid lines (``header`` first, if any), some of them mutated, some
    of random tokens; sometimes in another encoding; sometimes raw bytes."""
    token = st.one_of(st.sampled_from(COMMON + tokens), st.text(max_size=6))
    random_line = st.lists(token, max_size=8).map("".join)

    @st.composite
    def mutated(draw):
        line = draw(st.sampled_from(good))
        start = draw(st.integers(0, len(line)))
        end = draw(st.integers(start, min(len(line), start + 4)))
        return line[:start] + draw(st.one_of(st.just(""), token)) + line[end:]

    valid = st.sampled_from(good)
    line = st.one_of(valid, valid, valid, mutated(), mutated(), random_line)
    first = st.one_of(st.just(header), st.just(header), st.just(header), mutated(), random_line) if header else line
    text = st.builds(lambda head, body, end: "\n".join([head, *body]) + end, first, st.lists(line, max_size=max_lines),
                     st.sampled_from(["\n", "\n", "", "\r\n", "\n\n"]))
    encoded = st.builds(lambda t, enc: t.encode(enc, errors="replace"), text,
                        st.sampled_from(["utf-8"] * 10 + ["latin-1", "utf-16"]))
    return st.one_of(*[encoded] * 9, st.binary(max_size=120))


def check(records: object) -> None:
    """The invariants every reader promises of a Record."""
    assert isinstance(records, list)
    for record in records:
        assert isinstance(record, Record)
        assert isinstance(record.text, str) and record.text.strip(), record
        for value in (record.valence, record.arousal):
            assert value is None or (isinstance(value, float) and math.isfinite(value) and 0 <= value <= 1), record
        assert record.split in SPLITS, record
        assert isinstance(record.labels, tuple) and all(isinstance(label, str) for label in record.labels), record


def parses_or_carl_error(read) -> None:
    try:
        result = read()
    except CarlError:
        return
    check(result)


# --- read_table and read_texts ---------------------------------------------------------------------

TABLE_TOKENS = ["text", "v", "a", "l", "id", "joy", "anger", "{", "}", "[", "]", '"text": ', '"v": ', '"a": ',
                '"l": ', '"id": ', "null", "true", "{}", "[]", '"x"', "1" * 30]
TABLE_HEADER = {".csv": "text,v,a,l,id", ".tsv": "text\tv\ta\tl\tid", ".jsonl": None}
TABLE_GOOD = {
    ".csv": ["hello,1,2,joy,1", '"a, b",3,4,anger,2', "ok,5,5,,3", '"two\nlines",2,2,joy,4'],
    ".tsv": ["hello\t1\t2\tjoy\t1", "ok\t5\t5\t\t3", "fine\t3\t1\tanger\t5"],
    ".jsonl": ['{"text": "hello", "v": 1, "a": 2, "l": "joy", "id": 1}',
               '{"text": "ok", "v": 5, "a": 5, "l": ["joy", "anger"], "id": "x"}',
               '{"text": "fine", "v": 3, "a": 1, "l": "", "id": 7}'],
}

table_options = st.fixed_dictionaries({
    "text_column": st.sampled_from(["text", "l"]),
    "valence_column": st.sampled_from([None, "v"]),
    "arousal_column": st.sampled_from([None, "a"]),
    "label_column": st.sampled_from([None, "l"]),
    "id_column": st.sampled_from([None, "id"]),
    "valence_range": st.sampled_from([None, (1, 5), (0, 1e308)]),
    "label_vocabulary": st.sampled_from([None, ("joy", "anger")]),
})


def fuzz_file(suffix: str, data: bytes, read):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"input{suffix}"
        path.write_bytes(data)
        parses_or_carl_error(lambda: read(path))


def read_table_both_ways(path: Path, options: dict) -> list[Record]:
    """read_table with on_bad_row="error"; where that succeeds, "skip" must give the same records."""
    records = read_table(path, **options, on_bad_row="error")
    assert read_table(path, **options, on_bad_row="skip") == records
    return records


def read_table_skipping(path: Path, options: dict) -> list[Record]:
    """Kept rows are named by line (ids L<line>), strictly increasing: nothing reordered or invented."""
    records = read_table(path, **options, on_bad_row="skip")
    if options["id_column"] is None:
        lines = [int(record.id[1:]) for record in records]
        assert lines == sorted(set(lines)) and min(lines) >= 1
    return records


@FUZZ
@given(content(TABLE_TOKENS, TABLE_GOOD[".csv"], TABLE_HEADER[".csv"]), table_options, st.booleans())
def test_fuzz_read_table_csv(data, options, skip):
    fuzz_file(".csv", data, lambda path: (read_table_skipping if skip else read_table_both_ways)(path, options))


@FUZZ
@given(content(TABLE_TOKENS, TABLE_GOOD[".tsv"], TABLE_HEADER[".tsv"]), table_options, st.booleans())
def test_fuzz_read_table_tsv(data, options, skip):
    fuzz_file(".tsv", data, lambda path: (read_table_skipping if skip else read_table_both_ways)(path, options))


@FUZZ
@given(content(TABLE_TOKENS, TABLE_GOOD[".jsonl"], TABLE_HEADER[".jsonl"]), table_options, st.booleans())
def test_fuzz_read_table_jsonl(data, options, skip):
    fuzz_file(".jsonl", data, lambda path: (read_table_skipping if skip else read_table_both_ways)(path, options))


TEXTS = {".txt": (None, ["hello", "I won 🎉", "  spaced  "]), "": (None, ["hello", "bye"]),
         ".csv": ("id,text", ["1,hello", '2,"a, b"', '3,"two\nlines"']), ".tsv": ("id\ttext", ["1\thello", "2\tbye"]),
         ".jsonl": (None, ['{"text": "hi"}', '{"text": "bye", "id": 2}'])}


@FUZZ
@given(st.one_of(*(st.tuples(st.just(suffix), content(TABLE_TOKENS, good, header))
                   for suffix, (header, good) in TEXTS.items())))
def test_fuzz_read_texts(case):
    suffix, data = case
    def read(path):
        texts = read_texts(path)
        assert isinstance(texts, list) and texts
        assert all(isinstance(text, str) and text.strip() for text in texts)
        return []

    fuzz_file(suffix, data, read)


# --- corpus readers: a valid data directory with one file replaced ---------------------------------

def lexicon_lines() -> list[str]:
    words = sorted({word for words in EMOTION_VA_WORDS.values() for word in words.values()})
    return ["Word\tValence\tArousal\tDominance"] + [f"{w}\t{i / 100:.3f}\t{1 - i / 100:.3f}\t0.500"
                                                    for i, w in enumerate(words)]


def iemocap_files() -> dict[str, str]:
    files = {}
    for session in range(1, 6):
        dialog = f"iemocap/IEMOCAP_full_release/Session{session}/dialog"
        turn = f"Ses0{session}F_impro01_F000"
        files[f"{dialog}/transcriptions/Ses0{session}F_impro01.txt"] = f"{turn} [000.0000-001.0000]: Hello there.\n"
        files[f"{dialog}/EmoEvaluation/Ses0{session}F_impro01.txt"] = (
            "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
            f"[0.0000 - 1.0000]\t{turn}\tneu\t[{session}.0000, {6 - session}.0000, 2.0000]\nC-E1:\tNeutral;\t()\n")
    return files


def dailydialog_files() -> dict[str, str]:
    files = {}
    for folder in ("train", "validation", "test"):
        files[f"dailydialog/{folder}/dialogues_{folder}.txt"] = "Hi . __eou__ Hello ! __eou__\n"
        files[f"dailydialog/{folder}/dialogues_emotion_{folder}.txt"] = "0 4 \n"
    return files


def goemotions_files(variant: str, labels) -> dict[str, str]:
    files = {f"goemotions/{variant}/labels.txt": "\n".join(labels) + "\n"}
    for split in ("train", "dev", "test"):
        files[f"goemotions/{variant}/{split}.tsv"] = "so happy\t0\tid1\nmeh\t0,1\tid2\n"
    return files


#: corpus -> (valid files, tokens of its format, good lines of the fuzzed files)
CORPORA = {
    "emobank": ({"emobank/corpus_emobank.csv": "id,split,V,A,D,text\na,train,1.0,2.0,3,one\nb,test,3,4,3,two\n"},
                ["id", "split", "V", "A", "D", "train", "dev", "test", "4.99", "1.0"],
                ["id,split,V,A,D,text", "a,train,1.0,2.0,3,one", "c,dev,5,5,3,\"x, y\""]),
    "facebook-va": ({"facebook-va/dataset-fb-valence-arousal-anon.csv":
                     "Anonymized Message,Valence1,Valence2,Arousal1,Arousal2\nhello,1,2,3,4\nbye,9,8,7,6\n"},
                    ["Anonymized Message", "Valence1", "Valence2", "Arousal1", "Arousal2", "8"],
                    ["Anonymized Message,Valence1,Valence2,Arousal1,Arousal2", "hello,1,2,3,4", "hi,9,9,1,1"]),
    "goemotions": (goemotions_files("original", GOEMOTIONS_LABELS),
                   ["admiration", "neutral", "27", "28", "0,1", "id1", "-1"],
                   ["so happy\t0\tid1", "meh\t0,27\tid2", "admiration", "neutral"]),
    "goemotions-ekman": (goemotions_files("ekman", EMOTION_VA_WORDS["goemotions-ekman"]),
                         ["anger", "neutral", "6", "7"], ["ok\t3\tid", "anger"]),
    "goemotions-10": (goemotions_files("original", GOEMOTIONS_LABELS),
                      ["admiration", "27", "0,1"], ["so happy\t0\tid1", "love it\t18\tid3"]),
    "goemotions-single": (goemotions_files("original", GOEMOTIONS_LABELS),
                          ["neutral", "27", "0,27"], ["meh\t27\tid1", "both\t0,27\tid2"]),
    "dailydialog": (dailydialog_files(), ["__eou__", "__eou", "Hi .", "0", "4", "6", "7"],
                    ["Hi . __eou__ Hello ! __eou__", "0 4 ", "Yes . __eou__"]),
    "tec": ({"tec/Jan9-2012-tweets-clean.txt": "1:\tgood day\t:: joy\n2:\tbad day\t:: anger\n"},
            [":\t", "\t:: ", ":: ", "joy", "anger", "love", "123"], ["1:\tgood day\t:: joy", "1:\tsame id\t:: fear"]),
    "carer": ({f"carer-emotion/{name}.txt": "text;label_name\ni feel fine;joy\n" for name in ("train", "val", "test")},
              ["text;label_name", ";", "joy", "love", "boredom"], ["text;label_name", "i feel; fine;joy"]),
    "sst2": ({f"sst/sst2-sentences/stsa.binary.{split}": "1 good\n0 bad\n" for split in ("train", "dev", "test")},
             ["0 ", "1 ", "2 "], ["1 good", "0 bad film"]),
    "sst5": ({f"sst/sst5/stsa.fine.{split}": "4 great\n0 awful\n" for split in ("train", "dev", "test")},
             ["0 ", "4 ", "5 "], ["4 great", "2 fine"]),
    "mr": ({"mr/rt-polarity.pos": "a fine film\n", "mr/rt-polarity.neg": "a dull film\n"}, ["film"], ["a film"]),
    "cr": ({"senteval-classic/custrev.all": "1 good\n0 bad\n"}, ["0 ", "1 "], ["1 good", "0 bad"]),
    "mpqa": ({"senteval-classic/mpqa.all": "1 good\n0 bad\n"}, ["0 ", "1 "], ["1 good", "0 bad"]),
    "sentiment140": ({"sentiment140-100k/negative.txt": "so sad today\n",
                      "sentiment140-100k/positive.txt": "great day\n"},
                     ["day", "&quot;", "@user", " "], ["a day", "@you http://x.y &quot;hi&quot; "]),
    "semeval-headlines": ({
        "semeval2007-affective/affectivetext_trial.xml": ('<corpus task="affective text">\n<instance id="1">Mortar '
                                                          'kills 18</instance>\n<instance id="2">A tie</instance>\n'
                                                          '</corpus>\n'),
        "semeval2007-affective/affectivetext_trial.emotions.gold": "1 22 2 60 0 64 0\n2 0 0 5 5 0 0\n",
        "semeval2007-affective/affectivetext_test.xml": ('<corpus task="affective text">\n<instance id="500">Posh & '
                                                         'Becks\t </instance>\n</corpus>\n'),
        "semeval2007-affective/affectivetext_test.emotions.gold": "500 0 0 0 47 0 22\n",
        "emobank/corpus_emobank.csv": ("id,split,V,A,D,text\nSemEval_1,train,2.3,3.3,2.9,Mortar kills 18\n"
                                       "SemEval_500,test,3.8,3.3,3.2,Posh & Becks\nx,dev,1,5,3,other\n")},
        ['<instance id="', '">', "</instance>", '<corpus task="affective text">', "</corpus>", "100", "101", "&",
         "SemEval_1", "SemEval_2"],
        ['<instance id="2">A tie</instance>', '<instance id="3">New</instance>', "3 0 0 0 9 0 0", "1 0 0 0 0 0 0",
         "SemEval_2,dev,3,3,3,A tie"]),
    "iemocap": (iemocap_files(),
                ["[", "]", " - ", "\t", "Ses01F_impro01_F000", "neu", "xxx", "joy", "[2.5000, 2.5000, 2.5000]",
                 "0.0000", ": ", "C-E1:", "%"],
                ["[0.0000 - 1.0000]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]",
                 "Ses01F_impro01_F000 [000.0000-001.0000]: Hello there.", "", "M: [BREATHING]"]),
}


def fuzz_corpus(corpus: str, target: str, data: bytes) -> None:
    files = CORPORA[corpus][0]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for relative, text in {"nrc-vad/NRC-VAD-Lexicon.txt": "\n".join(lexicon_lines()) + "\n", **files}.items():
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).write_text(text, encoding="utf-8")
        (root / target).write_bytes(data)
        parses_or_carl_error(lambda: load_corpus(corpus, root, seed=0))


def corpus_case(corpus: str):
    """(file to replace, its new content), the content built around that file's valid lines."""
    files, tokens, extra = CORPORA[corpus]
    cases = []
    for target in sorted(files):
        first, *rest = files[target].rstrip("\n").split("\n")
        cases.append(st.tuples(st.just(target), content(tokens, [*rest, *extra] or [first], first)))
    return st.one_of(*cases)


def test_every_corpus_reader_is_fuzzed():
    from carl.data.loading import _READERS

    assert set(_READERS) - set(CORPORA) == {"goemotions-group"}  # same reader as goemotions-ekman


def test_the_valid_layouts_read():
    """The base layouts are valid, so a fuzz failure is caused by the fuzzed file."""
    for corpus, (files, _, _) in CORPORA.items():
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            for relative, text in {"nrc-vad/NRC-VAD-Lexicon.txt": "\n".join(lexicon_lines()) + "\n", **files}.items():
                (root / relative).parent.mkdir(parents=True, exist_ok=True)
                (root / relative).write_text(text, encoding="utf-8")
            records = load_corpus(corpus, root, seed=0)
            assert records, corpus
            check(records)


def _corpus_test(corpus: str):
    @FUZZ
    @given(corpus_case(corpus))
    def test(case):
        fuzz_corpus(corpus, *case)

    test.__name__ = f"test_fuzz_{corpus.replace('-', '_')}"
    return test


for _corpus in CORPORA:
    globals()[f"test_fuzz_{_corpus.replace('-', '_')}"] = _corpus_test(_corpus)


@FUZZ
@given(content(["Word\tValence\tArousal\tDominance", "anger", "0.5", "1.01", "-0"],
               ["Word\tValence\tArousal\tDominance", "anger\t0.1\t0.9\t0.5"]))
def test_fuzz_nrc_vad_lexicon(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "nrc-vad" / "NRC-VAD-Lexicon.txt"
        path.parent.mkdir()
        path.write_bytes(data)
        try:
            lexicon = load_nrc_vad(tmp)
        except CarlError:
            return
        assert all(0 <= v <= 1 and 0 <= a <= 1 for v, a in lexicon.values())
