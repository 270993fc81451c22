"""Reading a corpus to score in chunks, never whole: .txt, .csv, .tsv, .jsonl, .parquet, a folder of Parquet files.

A :class:`Source` yields :class:`Chunk` s of exactly ``chunk_rows`` input rows (the last one fewer),
counted over the whole input, bad rows included: the chunks, and so the forward batches inside
them, depend on the input alone, which makes a resumed or multi-process run write what one
uninterrupted run writes.

Each row's text is checked as ``carl embed`` always has (:func:`carl.io.read_texts`, whose
messages these are): an empty, missing or non-string text, a blank line, a row with the wrong
number of fields, a line that is not a JSON object, a missing field; and, per row too, a line
that is not valid UTF-8, a CSV row whose quoting the csv module cannot parse, a text (or kept
JSON field) holding an unpaired UTF-16 surrogate (half of an emoji cut in two, from a JSON
``\\ud83d`` escape), a kept JSON field whose type differs from the type the first rows gave it.
With ``on_bad_row="error"`` the first such row raises a :class:`DataError` naming the file and
line (row, for Parquet); with ``"skip"`` it is left out and reported in :attr:`Chunk.bad`.
Problems of the file as a whole are always errors: not found, a directory, no header (or a header
that is not UTF-8), a wrong delimiter, a missing column.

Lines end at ``\\n`` (.jsonl) or, for .txt, .csv and .tsv, at ``\\r\\n``, ``\\n`` or a lone ``\\r``
(as Python's text mode and the csv module read them: a file saved with CR-only line ends is many
lines, not one text). U+2028 and friends always stay inside a line.

Text formats are parsed line by line with the standard library (the csv module knows the line of
every row; pyarrow's streaming CSV reader does not); rows are gathered into pyarrow tables, and
Parquet is read with pyarrow record batch by record batch.

Each chunk has a :meth:`Chunk.digest` of its rows (texts, kept values and types, which rows were
bad): ``--resume`` compares the digests of the committed chunks with the input as it reads it
again, which proves the committed rows are still the input's, whatever was renamed or edited.
"""

from __future__ import annotations

import csv
import hashlib
import json
import pathlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq

from carl.data.tables import ON_BAD_ROW
from carl.data.textio import (FIX_SURROGATE, _wrong_delimiter, field_count_problem, malformed_csv,
                             missing_columns_message, unpaired_surrogate)
from carl.io import json_line_object
from carl.errors import ConfigError, DataError
from carl.scoring.kept_types import column_fits, fits, infer, json_kind, shown
from carl.scoring.rows import check_text, decoded_lines

TEXT_SUFFIXES = (".txt", ".csv", ".tsv", ".jsonl")
INPUT_SUFFIXES = (*TEXT_SUFFIXES, ".parquet")
_DELIMITERS = {".csv": ",", ".tsv": "\t"}


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
    bad_rows: list[int] = field(default_factory=list)  # positions in the chunk (0-based) of the bad rows

    def digest(self) -> str:
        """SHA-256 of what the chunk's output is made of: its rows' count, which were bad, the good rows'
        texts, and their kept values with the kept columns' names and types."""
        return chunk_digest(self.n_rows, self.bad_rows, self.texts, self.kept)


def chunk_digest(n_rows: int, bad_rows: list[int], texts: list[str], kept: pa.Table) -> str:
    h = hashlib.sha256(f"{n_rows} rows; bad {sorted(bad_rows)}\n".encode())
    for text in texts:
        data = text.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "little") + data)
    h.update(json.dumps([[name, str(kind)] for name, kind in zip(kept.column_names, kept.schema.types)]).encode())
    if kept.num_columns:
        h.update(json.dumps(kept.to_pylist(), default=str, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    return h.hexdigest()


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
        self._json_schema: pa.Schema | None = None  # .jsonl: the kept fields' types, fixed by the first rows

    # ---------------------------------------------------------------- set-up

    def _check_header(self) -> pa.Schema | None:
        """Fail on a whole-file problem before any model is loaded; the kept columns' Arrow schema
        where the file fixes it (CSV/TSV: strings; Parquet: the first file's types)."""
        if self.kind in (".csv", ".tsv"):
            header, _, _ = self._csv_header()
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
            for file in files[1:]:  # kept columns of another type in a later file: refused now, not when it is read
                other = pq.read_schema(file)
                for name in self.keep_columns:
                    first, here = schema.field(name).type, other.field(name).type
                    try:
                        pa.array([], type=here).cast(first)
                    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                        raise DataError(f"kept column {name!r} holds {here} here but {first} in {files[0].name}",
                                        path=file, fix="give the kept columns one type in every file of the "
                                                       "folder") from None
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
        """The header, the csv reader positioned after it, and the lines that were not UTF-8 (filled as the
        reader goes: line number -> its DataError)."""
        bad_lines: dict[int, DataError] = {}

        def texts():
            for number, text, problem in decoded_lines(self.path, universal=True):
                if problem is not None:
                    if number == 1:
                        raise problem  # the header names the columns: no row can be read without it
                    bad_lines[number] = problem
                yield text

        reader = csv.reader(texts(), delimiter=_DELIMITERS[self.kind], strict=True)
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
        return header, reader, bad_lines

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
                if self.kind != ".jsonl":  # lone "\r" ends a line too ("\r\n" split by a block: one line off)
                    count += block.count(b"\r") - block.count(b"\r\n")
                last = block[-1:]
        count += last not in (b"\n", b"\r")
        return max(count - (self.kind in (".csv", ".tsv")), 0)

    # ---------------------------------------------------------------- rows

    def _rows(self) -> Iterator[tuple[int | None, str | None, object, dict]]:
        """(line, row label, text or DataError, kept values) per input row, in order."""
        if self.kind in (".csv", ".tsv"):
            yield from self._csv_rows()
        elif self.kind == ".jsonl":
            yield from self._jsonl_rows()
        else:
            for number, line, problem in decoded_lines(self.path, universal=True):
                if problem is not None:
                    yield number, None, problem, {}
                    continue
                line = line.rstrip("\r\n")
                try:
                    yield number, None, check_text(line, "text", self.path, number), {}
                except DataError as err:
                    yield number, None, err, {}

    def _csv_rows(self):
        header, reader, bad_lines = self._csv_header()
        position = self._positions(header)
        start = reader.line_num + 1
        while True:
            malformed = None
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as err:  # the reader drops the rest of the row and goes on with the next line
                row, malformed = None, malformed_csv(err, self.path, start)
            line, start = start, reader.line_num + 1
            undecodable = [bad_lines.pop(n) for n in range(line, start) if n in bad_lines]
            if undecodable or malformed:
                yield line, None, (undecodable[0] if undecodable else malformed), {}
                if start == line:  # nothing consumed: the reader cannot go on (never seen; a guard)
                    return
                continue
            problem = field_count_problem(row, header)
            if problem:
                yield line, None, DataError(problem, path=self.path, line=line,
                                            fix=f"every row needs exactly the columns {header}"), {}
                continue
            kept = {name: row[position[name]] for name in self.keep_columns}
            try:
                yield line, None, check_text(row[position[self.text_column]], self.text_column, self.path, line), kept
            except DataError as err:
                yield line, None, err, kept

    def _jsonl_rows(self):
        column = self.text_column
        for number, content, problem in decoded_lines(self.path):
            if problem is not None:
                yield number, None, problem, {}
                continue
            content = content.rstrip("\n").rstrip("\r")
            try:
                obj = self._json_object(content, number)
                text = check_text(obj[column], column, self.path, number)
                kept = {name: obj.get(name) for name in self.keep_columns}
                for name, value in kept.items():
                    if isinstance(value, (str, list, dict)) and unpaired_surrogate(
                            json.dumps(value, ensure_ascii=False)) is not None:
                        raise DataError(f"field {name!r} holds an unpaired UTF-16 surrogate (half of a character, "
                                        "such as an emoji cut in two)", path=self.path, line=number,
                                        fix=FIX_SURROGATE)
                yield number, None, text, kept
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
        index = first = n = 0
        rows: list[tuple[int, int | None, str, dict]] = []  # good rows: (position in the chunk, line, text, kept)
        bad: list[tuple[int, DataError]] = []
        for line, _, text, values in self._rows():
            if isinstance(text, DataError):
                self._raise_or_keep(text, [])
                bad.append((n, text))
            else:
                rows.append((n, line, text, values))
            n += 1
            if n == self.chunk_rows:
                yield self._text_chunk(index, first, n, rows, bad)
                index, first, n = index + 1, first + n, 0
                rows, bad = [], []
        if n or index == 0:
            yield self._text_chunk(index, first, n, rows, bad)

    def _text_chunk(self, index: int, first: int, n: int, rows: list, bad: list) -> Chunk:
        if self.keep_columns and self.schema is None:  # .jsonl
            rows, bad = self._json_types(index, rows, bad)
        kept = {name: [values.get(name) for _, _, _, values in rows] for name in self.keep_columns}
        bad.sort(key=lambda item: item[0])
        return Chunk(index, first, n, [text for _, _, text, _ in rows], self._kept_table(kept, index),
                     [err for _, err in bad], [position for position, _ in bad])

    def _json_types(self, index: int, rows: list, bad: list) -> tuple[list, list]:
        """JSON-lines kept fields keep the types the first rows gave them (pyarrow's inference over the
        first chunk with rows, or, where it mixes types, the first value's type) in every chunk, so every
        part file has one schema: a later value of another type (ids that are numbers, then "A-12") is a
        bad row naming its line and field, not a pyarrow error after the whole corpus was scored."""
        if self._json_schema is None:
            if not rows:
                return rows, bad
            if index == 0:
                absent = [name for name in self.keep_columns if all(r[3].get(name) is None for r in rows)]
                if absent:
                    raise DataError(f"--keep-columns {absent}: no row among the first {self.chunk_rows} has "
                                    f"{'this field' if len(absent) == 1 else 'these fields'}", path=self.path,
                                    fix="correct --keep-columns (a field missing from some lines is kept as null)")
            self._json_schema = pa.schema([pa.field(name, infer([r[3].get(name) for r in rows]))
                                           for name in self.keep_columns])
        types = {name: self._json_schema.field(name).type for name in self.keep_columns}
        checked = [name for name in self.keep_columns  # the whole column first; row by row only where it fails
                   if not column_fits([r[3].get(name) for r in rows], types[name])]
        if not checked:
            return rows, bad
        good = []
        for row in rows:
            position, line, _, values = row
            wrong = next((name for name in checked if not fits(values.get(name), types[name])), None)
            if wrong is None:
                good.append(row)
                continue
            value, kind = values.get(wrong), types[wrong]
            err = DataError(f"field {wrong!r} holds {json_kind(value)} {shown(value)}, but the first rows made it "
                            f"{kind}", path=self.path, line=line,
                            fix=f"give {wrong!r} one type on every line (e.g. write every value as a JSON string), "
                                "or pass --on-bad-row skip to skip such lines")
            self._raise_or_keep(err, [])
            bad.append((position, err))
        return good, bad

    def _kept_table(self, kept: dict[str, list], index: int) -> pa.Table:
        schema = self.schema if self.schema is not None else self._json_schema
        if schema is not None:
            return pa.table({name: pa.array(kept[name], type=schema.field(name).type)
                             for name in self.keep_columns}, schema=schema)
        return pa.table({name: pa.array(kept[name], type=pa.null()) for name in self.keep_columns})

    def _parquet_chunks(self) -> Iterator[Chunk]:
        columns = list(dict.fromkeys([self.text_column, *self.keep_columns]))
        pending: list[tuple[pathlib.Path, int, pa.RecordBatch]] = []  # (file, first row in file, batch)
        buffered = index = first = 0

        def take(n: int) -> Chunk:
            nonlocal buffered, index, first
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
        texts, keep_rows, bad, bad_rows = [], [], [], []
        tables = []
        offset = 0
        for file, start, batch in pieces:
            values = batch.column(self.text_column).to_pylist()
            for i, value in enumerate(values):
                label = f"row {start + i + 1}"
                try:
                    texts.append(check_text(value, self.text_column, file, None, label))
                    keep_rows.append(offset + i)
                except DataError as err:
                    self._raise_or_keep(err, bad)
                    bad_rows.append(offset + i)
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
        return Chunk(index, first, n, texts, kept, bad, bad_rows)
