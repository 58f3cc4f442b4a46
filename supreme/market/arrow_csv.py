"""Chunked CSV staging with pyarrow's streaming reader, row for row what :func:`stage_csv` stages.

:func:`stage_csv_chunks` reads a CSV in blocks (``pyarrow.csv.open_csv``) and yields
:class:`StagedChunk` s: raw columns, the physical source line of every data row, and the
field-count problems -- the same three things the stdlib :func:`~supreme.market.formats.stage_csv`
returns, so the loaders' coercion and :mod:`~supreme.market.validation` run unchanged on either.

How the two readers are kept equal:

* blank lines (empty, whitespace-only or only commas) are not rows, as for ``csv.reader``:
  pyarrow parses with ``ignore_empty_lines=False`` so every physical line is a record whose
  number is its line, and blank records are dropped here;
* a row with the wrong number of fields goes to pyarrow's ``invalid_row_handler`` (which knows
  its line only when parsing serially, hence ``use_threads=False``); it is put back at its place
  as an empty row with the stdlib's message ``has N fields, expected M``;
* the line of every good row is recovered from the lines of the rows pyarrow set aside;
* a file with a double quote anywhere could hold a quoted line break, which would make lines and
  records differ: :func:`arrow_can_stage` says no and the loaders stage it with the stdlib.

Columns are converted with pyarrow casts where every cell parses (numbers to float64, ISO 8601
times to datetime64); a column with any cell that does not parse is handed on as text, so the
loaders' coercion names the bad cell exactly as before.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from supreme.market.formats import stage_csv

__all__ = ["ColumnKind", "StagedChunk", "arrow_can_stage", "stage_csv_auto", "stage_csv_chunks"]

ColumnKind = Literal["number", "time", "text"]
_SCAN_BLOCK = 1 << 24
_BLOCK_SIZE = 1 << 22


@dataclass
class StagedChunk:
    """Raw columns of consecutive data rows, their source lines and field-count problems by position."""

    raw: pd.DataFrame
    lines: np.ndarray
    problems: dict[int, str]
    first_row: int  # 0-based data row of raw's first row within the file


def arrow_can_stage(path: Path) -> bool:
    """Whether lines and records coincide (no double quote anywhere), so pyarrow can stage ``path``."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        while block := fh.read(_SCAN_BLOCK):
            if b'"' in block:
                return False
    return True


@dataclass
class _SetAside:
    """Records pyarrow's parser set aside (wrong field count), by physical line."""

    lines: list[int] = field(default_factory=list)  # every set-aside record, blank or not
    bad: list[tuple[int, str]] = field(default_factory=list)  # non-blank: (line, message)

    def handle(self, row: pacsv.InvalidRow) -> str:
        if row.number is None:  # only known when parsing serially; we always do
            raise RuntimeError("pyarrow did not report the line of an invalid CSV row")
        self.lines.append(int(row.number))
        if any(f.strip() for f in row.text.split(",")):
            self.bad.append(
                (int(row.number), f"has {row.actual_columns} fields, expected {row.expected_columns}")
            )
        return "skip"


def _convert(column: pa.ChunkedArray, kind: ColumnKind) -> np.ndarray:
    """float64 (or datetime64 for ISO times) when every cell casts; else the text, as objects."""
    if kind != "text":
        try:
            return np.asarray(pc.cast(column, pa.float64()).to_numpy())
        except pa.ArrowInvalid:
            pass
    if kind == "time":
        for target in (pa.timestamp("ns"), pa.timestamp("ns", tz="UTC")):
            try:
                return np.asarray(pc.cast(column, target).to_numpy(), dtype="datetime64[ns]")
            except pa.ArrowInvalid:
                continue
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)


def _placeholder(values: np.ndarray) -> Any:
    if values.dtype.kind == "M":
        return np.datetime64("NaT")
    return np.nan if values.dtype.kind == "f" else ""


def _blank_rows(table: pa.Table) -> np.ndarray:
    """Rows whose every field is empty or whitespace (``csv.reader`` readers skip them)."""
    blank = np.zeros(table.num_rows, dtype=bool)
    if not table.num_columns or not table.num_rows:
        return blank
    first = pc.equal(pc.utf8_trim_whitespace(table.column(0)), "")
    candidates = np.flatnonzero(np.asarray(first.to_numpy(zero_copy_only=False), dtype=bool))
    # Only rows with a blank first field can be blank; test the other fields on those alone.
    for column in table.columns[1:]:
        if not candidates.size:
            break
        cells = pc.utf8_trim_whitespace(column.take(pa.array(candidates)))
        candidates = candidates[np.asarray(pc.equal(cells, "").to_numpy(zero_copy_only=False), dtype=bool)]
    blank[candidates] = True
    return blank


class _Stager:
    """Turns pyarrow's record batches into :class:`StagedChunk` s with lines and problems."""

    def __init__(self, columns: list[str], kinds: dict[str, ColumnKind], header: bool) -> None:
        self.columns = columns
        self.kinds = kinds
        self.header_pending = header
        self.aside = _SetAside()
        self.rank = 0  # good records consumed so far (blank and header included)
        self.bad_used = 0  # set-aside bad rows already placed
        self.rows = 0  # data rows emitted so far

    def _good_lines(self, count: int) -> np.ndarray:
        aside = np.sort(np.asarray(self.aside.lines, dtype=np.int64))
        # A set-aside record at line L comes after (L - k - 1) good records, k = its rank among them.
        shifted = aside - np.arange(aside.size, dtype=np.int64)
        number = np.arange(self.rank, self.rank + count, dtype=np.int64) + 1
        return number + np.searchsorted(shifted, number, side="right")

    def _take_bad(self, last_line: float) -> list[tuple[int, str]]:
        pending = sorted(self.aside.bad[self.bad_used :])
        taken = [b for b in pending if b[0] <= last_line]
        self.bad_used += len(taken)
        return taken

    def chunk(self, table: pa.Table, *, final: bool) -> StagedChunk:
        lines = self._good_lines(table.num_rows)
        self.rank += table.num_rows
        bad = self._take_bad(np.inf if final or not lines.size else float(lines[-1]))
        keep = ~_blank_rows(table)
        if self.header_pending:
            first_good = int(lines[keep][0]) if keep.any() else None
            first_bad = bad[0][0] if bad else None
            if first_good is not None and (first_bad is None or first_good < first_bad):
                keep[np.flatnonzero(keep)[0]] = False
                self.header_pending = False
            elif first_bad is not None:
                bad = bad[1:]
                self.header_pending = False
        table = table.filter(pa.array(keep))
        lines = lines[keep]
        bad_lines = np.asarray([b[0] for b in bad], dtype=np.int64)
        at = np.searchsorted(lines, bad_lines)
        data: dict[str, np.ndarray] = {}
        for name in self.columns:
            values = _convert(table.column(name), self.kinds.get(name, "text"))
            data[name] = np.insert(values, at, _placeholder(values)) if bad else values
        positions = at + np.arange(at.size)
        problems = {int(p): msg for p, (_, msg) in zip(positions, bad, strict=True)}
        out = StagedChunk(
            raw=pd.DataFrame(data, copy=False),
            lines=np.insert(lines, at, bad_lines) if bad else lines,
            problems=problems,
            first_row=self.rows,
        )
        self.rows += len(out.raw)
        return out


def stage_csv_chunks(
    path: Path,
    columns: list[str],
    *,
    header: bool,
    kinds: dict[str, ColumnKind],
    chunk_rows: int | None = None,
    block_size: int = _BLOCK_SIZE,
) -> Iterator[StagedChunk]:
    """Stage ``path`` in chunks of about ``chunk_rows`` records (``None``: the whole file in one).

    ``columns`` names the fields of a record (a header line, if ``header``, is skipped, not read);
    ``kinds`` says which to parse as numbers or times.  Call only when :func:`arrow_can_stage`.
    """
    stager = _Stager(columns, kinds, header)
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(column_names=columns, block_size=block_size, use_threads=False),
        parse_options=pacsv.ParseOptions(invalid_row_handler=stager.aside.handle, ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in columns},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in reader:
        pending.append(batch)
        count += batch.num_rows
        # The header line is a record to pyarrow but not a row: the first chunk takes one more.
        while chunk_rows is not None and count >= (take := chunk_rows + int(stager.header_pending)):
            table = pa.Table.from_batches(pending)
            staged = stager.chunk(table.slice(0, take), final=False)
            if len(staged.raw):
                yield staged
            rest = table.slice(take)
            pending, count = rest.to_batches(), rest.num_rows
    table = pa.Table.from_batches(pending, schema=reader.schema)
    last = stager.chunk(table, final=True)
    if len(last.raw) or stager.rows == 0:
        yield last


def stage_csv_auto(
    path: Path, columns: list[str], *, header: bool, source: str, kinds: dict[str, ColumnKind]
) -> tuple[pd.DataFrame, np.ndarray, dict[int, str]]:
    """The whole file staged as :func:`stage_csv` stages it: by pyarrow when it can, else the stdlib."""
    if not arrow_can_stage(path):
        return stage_csv(path, columns, header=header, source=source)
    staged = next(stage_csv_chunks(path, columns, header=header, kinds=kinds))
    return staged.raw, staged.lines, staged.problems
