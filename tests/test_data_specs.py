"""Table specs and --data lists: commas inside PATH:key=col,key=col are not list separators."""

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from carl.config import CarlConfig
from carl.data.specs import TABLE_KEYS, is_table, parse_table_spec, read_spec, split_specs
from carl.errors import ConfigError, DataError


@pytest.mark.parametrize("text, items", [
    ("emobank,facebook-va", ["emobank", "facebook-va"]),
    ("mine.csv:text=body,valence=v,arousal=a", ["mine.csv:text=body,valence=v,arousal=a"]),
    ("emobank,mine.csv:text=body,valence=v,arousal=a", ["emobank", "mine.csv:text=body,valence=v,arousal=a"]),
    ("mine.csv:text=body,valence=v,arousal=a,facebook-va", ["mine.csv:text=body,valence=v,arousal=a", "facebook-va"]),
    ("a.tsv:text=t,b.jsonl:valence=v,arousal=a", ["a.tsv:text=t", "b.jsonl:valence=v,arousal=a"]),
    ("mine.csv,emobank", ["mine.csv", "emobank"]),
    (" emobank , mine.csv:text=body , valence=v ", ["emobank", "mine.csv:text=body,valence=v"]),
    ("mine.csv:text=notes.csv,valence=v", ["mine.csv:text=notes.csv,valence=v"]),
    ("runs/k=3/mine.csv:text=t,emobank", ["runs/k=3/mine.csv:text=t", "emobank"]),
    (r"C:\data\mine.csv:text=body,valence=v", [r"C:\data\mine.csv:text=body,valence=v"]),
    ("", []),
])
def test_split_specs_keeps_table_columns_together(text, items):
    assert split_specs(text) == items


def test_a_yaml_list_gives_the_same_items():
    # --set data.dev=[mine-dev.csv:text=body,valence=v,arousal=a]: YAML splits the flow list on every comma
    value = yaml.safe_load("[emobank, mine-dev.csv:text=body,valence=v,arousal=a]")
    assert value == ["emobank", "mine-dev.csv:text=body", "valence=v", "arousal=a"]
    assert split_specs(value) == ["emobank", "mine-dev.csv:text=body,valence=v,arousal=a"]


def test_parse_table_spec_columns_and_ranges():
    table = parse_table_spec("data/mine.csv:text=body,valence=v,arousal=a,label=emotion,range=1..9")
    assert table.path == "data/mine.csv" and table.name == "mine.csv"
    assert (table.text_column, table.valence_column, table.arousal_column, table.label_column) == (
        "body", "v", "a", "emotion")
    assert table.valence_range == table.arousal_range == (1.0, 9.0)
    assert table.has_va
    scales = parse_table_spec("m.jsonl:valence_range=0..100,arousal_range=-3..3")
    assert (scales.valence_range, scales.arousal_range) == ((0.0, 100.0), (-3.0, 3.0))
    defaults = parse_table_spec("mine.tsv")
    assert (defaults.text_column, defaults.valence_column, defaults.arousal_column) == ("text", "valence", "arousal")
    labels_only = parse_table_spec("posts.csv:text=body,label=mood")
    assert not labels_only.has_va and labels_only.read_kwargs()["valence_column"] is None


@pytest.mark.parametrize("spec, message", [
    ("mine.csv:txt=body", "unknown key 'txt' (did you mean 'text'?)"),
    ("mine.csv:text", "'text' is not KEY=COLUMN"),
    ("mine.csv:text=", "text= needs a value"),
    ("mine.csv:text=a,text=b", "text is given twice"),
    ("mine.csv:range=9..1", "LOW < HIGH"),
    ("mine.csv:range=1-9", "is not LOW..HIGH"),
    ("mine.csv:range=1..9,valence_range=1..5", "either range="),
    ("mine.txt:text=body", "must end in .csv, .tsv or .jsonl"),
])
def test_bad_specs_say_what_is_wrong_and_show_the_form(spec, message):
    with pytest.raises(ConfigError, match="bad table spec") as err:
        parse_table_spec(spec)
    assert message in str(err.value)


@pytest.mark.parametrize("text, message", [
    ("text=body", "'text=body' is neither a corpus name nor a table file"),
    ("emobank,valence=v", "'valence=v' after 'emobank' is neither a corpus name nor a table file"),
    ("mine.csv,text=body", "the column names go after a colon: mine.csv:text=body"),
    ("mine.csv:text=body,vlaence=v", "unknown key 'vlaence' (did you mean 'valence'?)"),
])
def test_bad_lists_are_config_errors(text, message):
    with pytest.raises(ConfigError) as err:
        split_specs(text)
    assert message in str(err.value)


def test_config_list_coercion_uses_the_same_rule():
    config = CarlConfig().override({"data.train": "emobank,mine.csv:text=body,valence=v,arousal=a",
                                    "data.dev": "[mine-dev.csv:text=body,valence=v,arousal=a]"})
    assert config.data.train == ["emobank", "mine.csv:text=body,valence=v,arousal=a"]
    assert config.data.dev == ["mine-dev.csv:text=body,valence=v,arousal=a"]
    assert CarlConfig().override({"data.dev": "[]"}).data.dev == []
    with pytest.raises(ConfigError, match="data.train"):
        CarlConfig().override({"data.train": "emobank,text=body"})


def test_config_file_with_a_quoted_spec(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text('data:\n  train: [emobank, "mine.csv:text=body,valence=v,arousal=a"]\n'
                    '  dev: [mine-dev.csv:text=body,valence=v,arousal=a]\n')
    config = CarlConfig.load(path)
    assert config.data.train == ["emobank", "mine.csv:text=body,valence=v,arousal=a"]
    assert config.data.dev == ["mine-dev.csv:text=body,valence=v,arousal=a"]


def test_read_spec_names_the_corrected_spec_for_missing_columns(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("body,v,a\nI won,8,6\nI lost,2,5\n")
    with pytest.raises(DataError) as err:
        read_spec(f"{path}:text=body")
    text = str(err.value)
    assert "line 1: missing column(s) ['valence', 'arousal']" in text
    assert f"{path}:text=body,valence=COL,arousal=COL" in text and "['body', 'v', 'a']" in text
    records = read_spec(f"{path}:text=body,valence=v,arousal=a,range=1..9")
    assert [(r.text, r.valence, r.arousal) for r in records] == [("I won", 0.875, 0.625), ("I lost", 0.125, 0.5)]


# ---------------------------------------------------------------- properties

_corpus = st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True)
_column = st.text(st.characters(blacklist_characters=",\n\r\x00", blacklist_categories=("Cs", "Zs", "Cc")),
                  min_size=1, max_size=12).filter(lambda c: c.strip() == c)
_path = st.builds(lambda folder, stem, suffix: folder + stem + suffix,
                  st.sampled_from(["", "data/", "./runs/k=3/", "/tmp/x y/", "C:\\data\\"]),
                  st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_ .-]{0,10}", fullmatch=True).filter(
                      lambda s: s.strip() == s and not s.lower().endswith((".csv", ".tsv", ".jsonl"))),
                  st.sampled_from([".csv", ".tsv", ".jsonl", ".CSV"]))
_columns = st.dictionaries(st.sampled_from(["text", "valence", "arousal", "label"]), _column, max_size=4)


@st.composite
def _table(draw):
    path, columns = draw(_path), draw(_columns)
    if draw(st.booleans()):
        low = draw(st.integers(-10, 10))
        columns["range"] = f"{low}..{low + draw(st.integers(1, 100))}"
    return path + (":" + ",".join(f"{k}={v}" for k, v in columns.items()) if columns else ""), path, columns


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_corpus.map(lambda c: (c, None, None)), _table()), max_size=5))
def test_property_joined_items_split_back_and_parse(items):
    specs = [spec for spec, _, _ in items]
    text = ",".join(specs)
    assert split_specs(text) == specs
    assert split_specs(text.split(",")) == specs  # the YAML-list form
    for spec, path, columns in items:
        if path is None:
            assert not is_table(spec)
            continue
        table = parse_table_spec(spec)
        assert table.path == path
        for key in ("text", "valence", "arousal", "label"):
            assert getattr(table, f"{key}_column") == columns.get(key, {"label": None}.get(key, key))
        assert set(table.given) == set(columns) and set(columns) <= set(TABLE_KEYS)
