"""Reading a corpus to score in chunks, never whole: .txt, .csv, .tsv, .jsonl, .parquet, a folder of Parquet files.

A :class:`Source` yields :class:`Chunk` s of exactly ``chunk_rows`` input rows (the last one fewer),
counted over the whole input, bad rows included: the chunks, and so the forward batches inside
them, depend on the input alone, which makes a resumed or multi-process run write what one
uninterrupted run writes.

Each row's text is checked as ``carl embed`` always has (:func:`carl.io.read_texts`, whose
messages these are): an empty, missing or non-string text, a blank line, a row with the wrong
number of fields, a line that is not a JSON object, a missing field. With ``on_bad_row="error"``
the first such row raises a :class:`DataError` naming the file and line (row, for Parquet);
with ``"skip"`` it is left out and reported in :attr:`Chunk.bad`. Problems of the file as a
whole are always errors: not found, a directory, not UTF-8, no header, a wrong delimiter,
malformed CSV quoting, a missing column.

Text formats are parsed line by line with the standard library (the csv module knows the line of
every row; pyarrow's streaming CSV reader does not); rows are gathered into pyarrow tables, and
Parquet is read with pyarrow record batch by record batch.
"""

from __future__ import annotations

import csv
import pathlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq

from carl.data.tables import ON_BAD_ROW
from carl.data.textio import _wrong_delimiter, field_count_problem, malformed_csv, missing_columns_message
from carl.io import json_line_object
from carl.errors import ConfigError, DataError

TEXT_SUFFIXES = (".txt", ".csv", ".tsv", ".jsonl")
INPUT_SUFFIXES = (*TEXT_SUFFIXES, ".parquet")
_DELIMITERS = {".csv": ",", ".tsv": "\t"}
_FIX_TEXT = "remove the line or give it text"


@dataclass
class Chunk:
    """``n_rows`` consecutive input rows from row ``first_row`` (0-based): the good rows' texts and
    kept columns, and the bad rows' errors (``on_bad_row="skip"``)."""

    index: int
    first_row: int
    n_rows: int
    texts: list[str]
    kept: pa.Table
    bad: list[DataError] = field(default_factory=list)


def bad_row_where(err: DataError) -> str:
    """'line 7' / 'row 7' of a bad-row error (for summaries)."""
    return f"line {err.line}" if err.line is not None else getattr(err, "row_label", "?")


def bad_row_summary(err: DataError) -> str:
    """'line 7: the text is empty' / 'row 7: empty text': a row's message already starts with its label."""
    if err.line is None and getattr(err, "row_label", None):
        return err.message
    return f"{bad_row_where(err)}: {err.message}"


def parquet_files(path: pathlib.Path) -> list[pathlib.Path]:
    """The Parquet files of a folder, in path order (names starting with '.' or '_' are not data, as in pyarrow)."""
    files = sorted(p for p in path.rglob("*.parquet")
                   if p.is_file() and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts))
    if not files:
        raise DataError("is a folder without .parquet files", path=path,
                        fix="give a .txt, .csv, .tsv, .jsonl or .parquet file, or a folder of Parquet files")
    return files


def input_kind(path: pathlib.Path) -> str:
    """'.txt', '.csv', '.tsv', '.jsonl', '.parquet' or 'parquet-folder'; errors for what cannot be read."""
    path = pathlib.Path(path)
    if path.is_dir():
        parquet_files(path)
        return "parquet-folder"
    if not path.exists():
        raise DataError("file not found", path=path)
    suffix = path.suffix.lower()
    return suffix if suffix in INPUT_SUFFIXES else ".txt"  # as read_texts: any other name is one text per line


def _check_text(value: object, column: str, path: pathlib.Path, line: int | None, row_label: str | None = None) -> str:
    def error(message, fix):
        err = DataError(f"{row_label}: {message}" if row_label else message, path=path, line=line, fix=fix)
        err.row_label = row_label
        return err

    if value is None:
        raise error(f"field {column!r} is missing (null)", "every row needs a text")
    if not isinstance(value, str):
        raise error(f"field {column!r} is not a string", "the text must be a string")
    if not value.strip():
        raise error("empty text", _FIX_TEXT)
    return value


def _decoded_lines(path: pathlib.Path) -> Iterator[tuple[int, str]]:
    """(line number, line with its newline) split on "\\n" only (U+2028 and friends stay inside a
    line), decoded one line at a time; a leading byte-order mark is dropped."""
    offset = 0
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as err:
                raise DataError(f"not valid UTF-8 ({err.reason} at byte {offset + err.start})", path=path,
                                line=number, fix="re-save the file as UTF-8") from None
            offset += len(raw)
            yield number, text


class Source:
    """A corpus read in chunks; see the module docstring."""

    def __init__(self, path: pathlib.Path, *, text_column: str = "text", keep_columns: tuple[str, ...] = (),
                 on_bad_row: str = "error", chunk_rows: int = 5000):
        if on_bad_row not in ON_BAD_ROW:
            raise ConfigError(f"--on-bad-row must be one of {list(ON_BAD_ROW)}, got {on_bad_row!r}")
        if chunk_rows < 1:
            raise ConfigError(f"--chunk-rows must be at least 1, got {chunk_rows}")
        self.path = pathlib.Path(path)
        self.kind = input_kind(self.path)
        self.text_column = text_column
        self.keep_columns = tuple(keep_columns)
        self.on_bad_row = on_bad_row
        self.chunk_rows = chunk_rows
        if self.kind == ".txt" and self.keep_columns:
            raise ConfigError(f"--keep-columns {','.join(self.keep_columns)}: {self.path} is read as one text per "
                              "line and has no columns; give a .csv, .tsv, .jsonl or .parquet file")
        self.schema = self._check_header()

    # ---------------------------------------------------------------- set-up

    def _check_header(self) -> pa.Schema | None:
        """Fail on a whole-file problem before any model is loaded; the kept columns' Arrow schema
        where the file fixes it (CSV/TSV: strings; Parquet: the first file's types)."""
        if self.kind in (".csv", ".tsv"):
            header, _ = self._csv_header()
            self._positions(header)
            return pa.schema([(name, pa.string()) for name in self.keep_columns])
        if self.kind in (".parquet", "parquet-folder"):
            files = self.files
            schema = pq.read_schema(files[0])
            for file in files:
                present = pq.read_schema(file).names
                missing = [c for c in (self.text_column, *self.keep_columns) if c not in present]
                if missing:
                    fix = ("name the text column with --text-column" if self.text_column in missing
                           else "correct --keep-columns")
                    raise DataError(missing_columns_message(missing, present), path=file, fix=fix)
            kind = schema.field(self.text_column).type
            if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
                raise DataError(f"column {self.text_column!r} holds {kind}, not text", path=files[0],
                                fix="name the text column with --text-column")
            return pa.schema([schema.field(name) for name in self.keep_columns])
        return None

    @property
    def files(self) -> list[pathlib.Path]:
        return parquet_files(self.path) if self.kind == "parquet-folder" else [self.path]

    def _csv_header(self):
        lines = _decoded_lines(self.path)
        reader = csv.reader((text for _, text in lines), delimiter=_DELIMITERS[self.kind], strict=True)
        try:
            header = next(reader)
        except StopIteration:
            raise DataError("the file is empty; a header line was expected", path=self.path,
                            fix="the first line must name the columns, e.g. id,text") from None
        except csv.Error as err:
            raise DataError(f"malformed CSV ({err})", path=self.path, line=1,
                            fix="check the quoting of the header line") from None
        if not header:
            raise DataError("the first line is empty; a header line was expected", path=self.path, line=1,
                            fix="the first line must name the columns, e.g. id,text")
        _wrong_delimiter(header, _DELIMITERS[self.kind], self.path)
        return header, reader

    def _positions(self, header: list[str]) -> dict[str, int]:
        wanted = [self.text_column, *self.keep_columns]
        missing = [name for name in wanted if name not in header]
        if missing:
            fix = "name the text column with --text-column" if self.text_column in missing else "correct --keep-columns"
            raise DataError(missing_columns_message(missing, header), path=self.path, line=1, fix=fix)
        return {name: header.index(name) for name in dict.fromkeys(wanted)}

    def count_rows(self) -> int | None:
        """Input rows (for the progress bar's ETA): exact for .txt / .jsonl / Parquet, an upper bound
        for CSV/TSV (a quoted field may span lines)."""
        if self.kind in (".parquet", "parquet-folder"):
            return sum(pq.ParquetFile(f).metadata.num_rows for f in self.files)
        count, last = 0, b"\n"
        with open(self.path, "rb") as fh:
            while block := fh.read(1 << 20):
                count += block.count(b"\n")
                last = block[-1:]
        count += last != b"\n"
        return max(count - (self.kind in (".csv", ".tsv")), 0)

    # ---------------------------------------------------------------- rows

    def _rows(self) -> Iterator[tuple[int | None, str | None, object, dict]]:
        """(line, row label, text or DataError, kept values) per input row, in order."""
        if self.kind in (".csv", ".tsv"):
            yield from self._csv_rows()
        elif self.kind == ".jsonl":
            yield from self._jsonl_rows()
        else:
            for number, line in _decoded_lines(self.path):
                line = line[:-1] if line.endswith("\n") else line
                line = line.rstrip("\r")
                try:
                    yield number, None, _check_text(line, "text", self.path, number), {}
                except DataError as err:
                    yield number, None, err, {}

    def _csv_rows(self):
        header, reader = self._csv_header()
        position = self._positions(header)
        start = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                raise malformed_csv(err, self.path, start) from None
            line, start = start, reader.line_num + 1
            problem = field_count_problem(row, header)
            if problem:
                yield line, None, DataError(problem, path=self.path, line=line,
                                            fix=f"every row needs exactly the columns {header}"), {}
                continue
            kept = {name: row[position[name]] for name in self.keep_columns}
            try:
                yield line, None, _check_text(row[position[self.text_column]], self.text_column, self.path, line), kept
            except DataError as err:
                yield line, None, err, kept

    def _jsonl_rows(self):
        column = self.text_column
        for number, content in _decoded_lines(self.path):
            content = content.rstrip("\n").rstrip("\r")
            try:
                obj = self._json_object(content, number)
                yield number, None, _check_text(obj[column], column, self.path, number), \
                    {name: obj.get(name) for name in self.keep_columns}
            except DataError as err:
                yield number, None, err, {}

    def _json_object(self, content: str, line: int) -> dict:
        return json_line_object(self.path, line, content, self.text_column)

    # ---------------------------------------------------------------- chunks

    def _raise_or_keep(self, err: DataError, bad: list[DataError]) -> None:
        if self.on_bad_row == "error":
            raise err
        bad.append(err)

    def chunks(self) -> Iterator[Chunk]:
        """Chunks of ``chunk_rows`` input rows, in order (see the module docstring)."""
        if self.kind in (".parquet", "parquet-folder"):
            yield from self._parquet_chunks()
            return
        index = first = 0
        texts: list[str] = []
        kept: dict[str, list] = {name: [] for name in self.keep_columns}
        bad: list[DataError] = []
        n = 0
        for line, _, text, values in self._rows():
            if isinstance(text, DataError):
                self._raise_or_keep(text, bad)
            else:
                texts.append(text)
                for name in self.keep_columns:
                    kept[name].append(values.get(name))
            n += 1
            if n == self.chunk_rows:
                yield Chunk(index, first, n, texts, self._kept_table(kept, index), bad)
                index, first, n = index + 1, first + n, 0
                texts, kept, bad = [], {name: [] for name in self.keep_columns}, []
        if n or index == 0:
            yield Chunk(index, first, n, texts, self._kept_table(kept, index), bad)

    def _kept_table(self, kept: dict[str, list], index: int) -> pa.Table:
        if self.schema is not None:
            return pa.table({name: pa.array(kept[name], type=self.schema.field(name).type)
                             for name in self.keep_columns}, schema=self.schema)
        columns = {}
        for name in self.keep_columns:  # .jsonl: each chunk's types as pyarrow infers them from the values
            try:
                columns[name] = pa.array(kept[name])
            except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
                raise DataError(f"field {name!r} mixes value types within rows {index * self.chunk_rows + 1}-"
                                f"{(index + 1) * self.chunk_rows} ({err})", path=self.path,
                                fix="a kept field needs one type (all numbers, or all strings)") from None
        if index == 0 and self.keep_columns and len(kept[self.keep_columns[0]]):
            absent = [name for name in self.keep_columns if all(v is None for v in kept[name])]
            if absent:
                raise DataError(f"--keep-columns {absent}: no row among the first {self.chunk_rows} has "
                                f"{'this field' if len(absent) == 1 else 'these fields'}", path=self.path,
                                fix="correct --keep-columns (a field missing from some lines is kept as null)")
        return pa.table(columns) if columns else pa.table({})

    def _parquet_chunks(self) -> Iterator[Chunk]:
        columns = list(dict.fromkeys([self.text_column, *self.keep_columns]))
        pending: list[tuple[pathlib.Path, int, pa.RecordBatch]] = []  # (file, first row in file, batch)
        buffered = index = first = 0

        def take(n: int) -> Chunk:
            nonlocal pending, buffered, index, first
            pieces, need = [], n
            while need:
                file, start, batch = pending[0]
                piece = batch.slice(0, min(need, batch.num_rows))
                pieces.append((file, start, piece))
                need -= piece.num_rows
                if piece.num_rows == batch.num_rows:
                    pending.pop(0)
                else:
                    pending[0] = (file, start + piece.num_rows, batch.slice(piece.num_rows))
            buffered -= n
            chunk = self._parquet_chunk(index, first, n, pieces)
            index, first = index + 1, first + n
            return chunk

        for file in self.files:
            in_file = 0
            handle = pq.ParquetFile(file)
            for batch in handle.iter_batches(batch_size=self.chunk_rows, columns=columns):
                pending.append((file, in_file, batch))
                in_file += batch.num_rows
                buffered += batch.num_rows
                while buffered >= self.chunk_rows:
                    yield take(self.chunk_rows)
        if buffered or index == 0:
            yield take(buffered)

    def _parquet_chunk(self, index: int, first: int, n: int, pieces) -> Chunk:
        texts, keep_rows, bad = [], [], []
        tables = []
        offset = 0
        for file, start, batch in pieces:
            values = batch.column(self.text_column).to_pylist()
            for i, value in enumerate(values):
                label = f"row {start + i + 1}"
                try:
                    texts.append(_check_text(value, self.text_column, file, None, label))
                    keep_rows.append(offset + i)
                except DataError as err:
                    self._raise_or_keep(err, bad)
            offset += batch.num_rows
            tables.append(pa.Table.from_batches([batch]).select(list(self.keep_columns)))
        kept = None
        if tables and self.keep_columns:
            cast = []
            for (file, _, _), table in zip(pieces, tables):
                try:
                    cast.append(table.cast(self.schema))
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as err:
                    raise DataError(f"the kept columns have types {table.schema.types} here but "
                                    f"{self.schema.types} in {self.files[0].name} ({err})", path=file,
                                    fix="give the kept columns one type in every file of the folder") from None
            kept = pa.concat_tables(cast)
        if kept is None:
            kept = pa.table({})
        elif len(keep_rows) != kept.num_rows:
            kept = kept.take(pa.array(keep_rows, type=pa.int64()))
        return Chunk(index, first, n, texts, kept, bad)
