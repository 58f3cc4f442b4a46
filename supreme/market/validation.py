"""Validation of recorded market data, with errors that name the file, the row and the problem.

Exception tree::

    SupremeError
    └── DataValidationError   (also a ValueError)

Every loader stages a file into raw columns, then calls :func:`validate_ohlcv` or
:func:`validate_trades`.  Bad rows either raise (``on_error="raise"``) or are dropped
(``on_error="skip"``) -- and then each dropped row is listed in the
:class:`ValidationReport` and logged, never silently.  Gaps in a candle series are
*reported* (:func:`find_gaps`) and never filled.

Rows are numbered from 1 over the data rows of the source; when the source is a
text file the physical line is given too (``row 3 (line 4)`` for a CSV with a header).
A file validated chunk by chunk passes a :class:`Continuation` with each chunk after the first:
rows keep their file-wide numbers, and order, duplicates and gaps are checked against the last
row kept before the chunk, so a problem on a chunk boundary is reported like any other.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from supreme.errors import SupremeError
from supreme.market.timeframes import infer_timeframe, timeframe_ms

__all__ = [
    "OHLCV_COLUMNS",
    "TRADE_COLUMNS",
    "Continuation",
    "DataValidationError",
    "OnError",
    "RowIssue",
    "ValidationReport",
    "check_columns",
    "find_gaps",
    "report_of",
    "validate_ohlcv",
    "validate_trades",
]

log = logging.getLogger(__name__)

OHLCV_COLUMNS: tuple[str, ...] = ("timestamp", "open", "high", "low", "close", "volume")
TRADE_COLUMNS: tuple[str, ...] = ("timestamp", "symbol", "side", "price", "amount", "id")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
OnError = Literal["raise", "skip"]
_LOGGED_ROWS = 20  # per file; the report keeps every row, the log keeps the first few


@dataclass(frozen=True)
class Continuation:
    """Where a chunk continues its file: data rows before it, and the last timestamp kept so far."""

    rows_before: int = 0
    last_ms: int | None = None
    ids: frozenset[str] = frozenset()  # trades: ids of the chunk before, for duplicates across it


class DataValidationError(SupremeError, ValueError):
    """Recorded data is malformed; the message names the file, the row and the problem."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        row: int | None = None,
        line: int | None = None,
        problem: str | None = None,
    ) -> None:
        super().__init__(message)
        self.source = source
        self.row = row
        self.line = line
        self.problem = problem


@dataclass(frozen=True)
class RowIssue:
    """One bad row: 1-based data row, source line (if text), and what is wrong."""

    row: int
    line: int | None
    problem: str

    def where(self) -> str:
        """``row 3 (line 4)`` or ``row 3``."""
        return f"row {self.row}" + (f" (line {self.line})" if self.line is not None else "")


@dataclass(frozen=True)
class ValidationReport:
    """What a load found: rows read and kept, each dropped row, notes, and the gaps."""

    source: str
    kind: str
    rows_read: int
    rows_kept: int
    timeframe: str | None = None
    issues: tuple[RowIssue, ...] = ()
    notes: tuple[str, ...] = ()
    gap_rows: tuple[tuple[int, int, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form (what loaders keep in ``frame.attrs["report"]``, so the frame
        still writes to Parquet and crosses process boundaries)."""
        return {
            "source": self.source,
            "kind": self.kind,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "timeframe": self.timeframe,
            "issues": [[i.row, i.line, i.problem] for i in self.issues],
            "notes": list(self.notes),
            "gaps": [list(g) for g in self.gap_rows],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValidationReport:
        """Inverse of :meth:`to_dict`."""
        return cls(
            source=data["source"],
            kind=data["kind"],
            rows_read=int(data["rows_read"]),
            rows_kept=int(data["rows_kept"]),
            timeframe=data.get("timeframe"),
            issues=tuple(
                RowIssue(int(r), None if ln is None else int(ln), str(p)) for r, ln, p in data["issues"]
            ),
            notes=tuple(data.get("notes", ())),
            gap_rows=tuple((int(a), int(b), int(m)) for a, b, m in data.get("gaps", ())),
        )

    @property
    def gaps(self) -> pd.DataFrame:
        """The gaps as a DataFrame (see :func:`find_gaps`)."""
        return _gap_frame(self.gap_rows)

    @property
    def skipped(self) -> int:
        """Number of rows dropped."""
        return len(self.issues)

    def summary(self) -> str:
        """One paragraph for people."""
        text = f"{self.source}: {self.rows_kept} of {self.rows_read} {self.kind} rows kept"
        if self.issues:
            text += f"; {len(self.issues)} bad rows dropped (first: {self.issues[0].where()}: "
            text += f"{self.issues[0].problem})"
        if self.timeframe is not None:
            text += f"; timeframe {self.timeframe}, {len(self.gap_rows)} gaps"
            if self.gap_rows:
                longest = max(r[1] - r[0] for r in self.gap_rows)
                text += f" (longest {pd.Timedelta(longest, unit='ms')})"
        for note in self.notes:
            text += f"; {note}"
        return text


def report_of(frame: pd.DataFrame) -> ValidationReport | None:
    """The report a loader attached to ``frame`` (``None`` if it has none)."""
    report = frame.attrs.get("report")
    if isinstance(report, ValidationReport):
        return report
    return ValidationReport.from_dict(report) if isinstance(report, dict) else None


def check_columns(
    present: Sequence[str], expected: Sequence[str], source: str, *, optional: Sequence[str] = ()
) -> None:
    """Raise naming missing or unexpected columns (a file-level problem, never skippable)."""
    have = list(present)
    missing = [c for c in expected if c not in have]
    extra = [c for c in have if c not in expected and c not in optional]
    problems = []
    if missing:
        problems.append(f"missing column(s) {missing}")
    if extra:
        problems.append(f"unexpected column(s) {extra}")
    if problems:
        problem = " and ".join(problems) + f"; expected {list(expected)}, found {have}"
        raise DataValidationError(f"{source}: header: {problem}", source=source, problem=problem)


# --------------------------------------------------------------------------- validation core


def _add(problems: dict[int, str], mask: np.ndarray, message: Any) -> None:
    """Record ``message(i)`` for rows in ``mask`` that have no problem yet (first problem wins)."""
    for pos in np.flatnonzero(mask):
        i = int(pos)
        if i not in problems:
            problems[i] = message(i) if callable(message) else message


def _finish(
    frame: pd.DataFrame,
    problems: dict[int, str],
    *,
    source: str,
    lines: np.ndarray | None,
    on_error: OnError,
    rows_before: int = 0,
) -> tuple[pd.DataFrame, tuple[RowIssue, ...]]:
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if not problems:
        return frame, ()
    order = sorted(problems)
    issues = tuple(
        RowIssue(row=rows_before + i + 1, line=None if lines is None else int(lines[i]), problem=problems[i])
        for i in order
    )
    if on_error == "raise":
        first = issues[0]
        more = (
            f" (and {len(issues) - 1} more bad rows; on_error='skip' drops and reports them)"
            if len(issues) > 1
            else ""
        )
        raise DataValidationError(
            f"{source}: {first.where()}: {first.problem}{more}",
            source=source,
            row=first.row,
            line=first.line,
            problem=first.problem,
        )
    for issue in issues[:_LOGGED_ROWS]:
        log.warning("%s: %s: %s (row dropped)", source, issue.where(), issue.problem)
    if len(issues) > _LOGGED_ROWS:
        log.warning("%s: %d more bad rows dropped (see the report)", source, len(issues) - _LOGGED_ROWS)
    keep = np.ones(len(frame), dtype=bool)
    keep[order] = False
    return frame.loc[keep].reset_index(drop=True), issues


def _order_problems(
    ts: np.ndarray, ok: np.ndarray, *, strict: bool, last_ms: int | None = None
) -> dict[int, str]:
    """Rows (among ``ok``) whose timestamp is not after every earlier good row's (and ``last_ms``)."""
    problems: dict[int, str] = {}
    idx = np.flatnonzero(ok)
    if last_ms is not None:
        # The chunk before ends at last_ms: a row at or before it is out of order or duplicated.
        idx = np.r_[-1, idx]
        ts = np.r_[ts, float(last_ms)]  # index -1 reads it
    if idx.size < 2:
        return problems
    t = ts[idx]
    prev_max = np.maximum.accumulate(t)[:-1]
    cur = t[1:]
    dup = cur == prev_max
    back = cur < prev_max
    for j in np.flatnonzero(back):
        problems[int(idx[j + 1])] = (
            f"timestamp {_fmt_ms(cur[j])} is out of order (earlier than {_fmt_ms(prev_max[j])} above)"
        )
    if strict:
        for j in np.flatnonzero(dup):
            problems[int(idx[j + 1])] = f"timestamp {_fmt_ms(cur[j])} is duplicated"
    return problems


def _fmt_ms(ms: float) -> str:
    return f"{int(ms)} ({pd.Timestamp(int(ms), unit='ms', tz='UTC').isoformat()})"


def _ohlcv_value_problems(
    ts: np.ndarray, cols: dict[str, np.ndarray], vol: np.ndarray, problems: dict[int, str]
) -> list[str]:
    """Add each row's first value problem to ``problems``; return notes about the whole file."""
    notes: list[str] = []
    _add(problems, np.isnan(ts), "timestamp is missing (NaN)")
    for c in PRICE_COLUMNS:
        _add(problems, np.isnan(cols[c]), f"{c} is missing (NaN)")
    if ts.size and np.isnan(vol).all():
        # Mark-price and index candles carry no volume; keep NaN and say so rather than invent zeros.
        notes.append("volume not recorded in the source (all NaN, kept as NaN)")
    else:
        _add(problems, np.isnan(vol), "volume is missing (NaN)")
    for c in PRICE_COLUMNS:
        v = cols[c]
        _add(
            problems,
            ~np.isnan(v) & ~(v > 0),
            lambda i, c=c, v=v: f"{c} {v[i].item()!r} is not a positive price",
        )
    _add(problems, vol < 0, lambda i: f"volume {vol[i].item()!r} is negative")
    o, h, lo, c_ = cols["open"], cols["high"], cols["low"], cols["close"]
    _add(problems, h < lo, lambda i: f"high {h[i].item()!r} < low {lo[i].item()!r}")
    for name, v in (("open", o), ("close", c_)):
        _add(
            problems,
            (v < lo) | (v > h),
            lambda i, name=name, v=v: (
                f"{name} {v[i].item()!r} outside [low {lo[i].item()!r}, high {h[i].item()!r}]"
            ),
        )
    return notes


def validate_ohlcv(
    staged: pd.DataFrame,
    source: str,
    *,
    lines: np.ndarray | None = None,
    parse_problems: dict[int, str] | None = None,
    on_error: OnError = "raise",
    timeframe: str | None = None,
    after: Continuation | None = None,
) -> pd.DataFrame:
    """Check a staged OHLCV frame (float ``timestamp`` in ms, NaN where unparsable) and return the
    unified frame (``timestamp`` int64 ms, prices and volume float64) with a report in ``attrs``.

    ``after`` continues a file validated in chunks (see :class:`Continuation`)."""
    check_columns(list(staged.columns), OHLCV_COLUMNS, source)
    after = after or Continuation()
    n = len(staged)
    problems: dict[int, str] = dict(parse_problems or {})
    ts = staged["timestamp"].to_numpy(dtype="float64", na_value=np.nan)
    cols = {c: staged[c].to_numpy(dtype="float64", na_value=np.nan) for c in PRICE_COLUMNS}
    vol = staged["volume"].to_numpy(dtype="float64", na_value=np.nan)
    notes = _ohlcv_value_problems(ts, cols, vol, problems)
    ok = np.ones(n, dtype=bool)
    if problems:
        ok[list(problems)] = False
    for i, p in _order_problems(ts, ok, strict=True, last_ms=after.last_ms).items():
        problems.setdefault(i, p)
    unified = pd.DataFrame(
        {
            "timestamp": np.nan_to_num(ts, nan=0.0).astype("int64"),
            **{k: cols[k] for k in PRICE_COLUMNS},
            "volume": vol,
        }
    )
    unified, issues = _finish(
        unified, problems, source=source, lines=lines, on_error=on_error, rows_before=after.rows_before
    )
    # Infer from every readable time, before bad rows are dropped, so a drop reads as a gap.
    tf = timeframe or infer_timeframe(np.sort(ts[np.isfinite(ts)]).astype(np.int64))
    kept = unified["timestamp"].to_numpy()
    if after.last_ms is not None:
        kept = np.r_[np.int64(after.last_ms), kept]  # a gap across the chunk boundary is a gap
    gap_rows = _gap_rows(kept, tf) if tf else ()
    unified.attrs["report"] = ValidationReport(
        source=source,
        kind="ohlcv",
        rows_read=n,
        rows_kept=len(unified),
        timeframe=tf,
        issues=issues,
        notes=tuple(notes),
        gap_rows=gap_rows,
    ).to_dict()
    return unified


_SIDES = {"buy", "sell"}


def validate_trades(
    staged: pd.DataFrame,
    source: str,
    *,
    lines: np.ndarray | None = None,
    parse_problems: dict[int, str] | None = None,
    on_error: OnError = "raise",
    after: Continuation | None = None,
) -> pd.DataFrame:
    """Check staged trades (float ``timestamp`` ms) and return the unified trades frame with a report.

    Trades may share a timestamp (one taker order fills several makers), so equal times are
    allowed; a repeated trade ``id`` is the duplicate.  ``side`` is ``"buy"``/``"sell"``, or
    missing when the source does not record it (Kraken's CSV).
    """
    check_columns(list(staged.columns), TRADE_COLUMNS, source)
    after = after or Continuation()
    n = len(staged)
    problems: dict[int, str] = dict(parse_problems or {})
    ts = staged["timestamp"].to_numpy(dtype="float64", na_value=np.nan)
    price = staged["price"].to_numpy(dtype="float64", na_value=np.nan)
    amount = staged["amount"].to_numpy(dtype="float64", na_value=np.nan)
    side = staged["side"].astype("object").where(staged["side"].notna(), None)
    side_l = side.map(lambda s: s.strip().lower() if isinstance(s, str) else s)
    _add(problems, np.isnan(ts), "timestamp is missing (NaN)")
    _add(problems, np.isnan(price), "price is missing (NaN)")
    _add(problems, np.isnan(amount), "amount is missing (NaN)")
    _add(
        problems,
        ~np.isnan(price) & ~(price > 0),
        lambda i: f"price {price[i].item()!r} is not a positive price",
    )
    _add(
        problems, ~np.isnan(amount) & ~(amount > 0), lambda i: f"amount {amount[i].item()!r} is not positive"
    )
    bad_side = side_l.map(lambda s: s is not None and s not in _SIDES).to_numpy(dtype=bool)
    _add(problems, bad_side, lambda i: f"side {side.iloc[i]!r} is not 'buy' or 'sell'")
    ids = staged["id"].astype("object").where(staged["id"].notna(), None)
    ids = ids.map(lambda v: None if v is None else str(v))
    has_id = ids.notna().to_numpy(dtype=bool)
    dup_id = (ids.duplicated(keep="first") | ids.isin(after.ids)).to_numpy(dtype=bool) & has_id
    _add(problems, dup_id, lambda i: f"trade id {ids.iloc[i]!r} is duplicated")
    ok = np.ones(n, dtype=bool)
    if problems:
        ok[list(problems)] = False
    for i, p in _order_problems(ts, ok, strict=False, last_ms=after.last_ms).items():
        problems.setdefault(i, p)
    unified = pd.DataFrame(
        {
            "timestamp": np.nan_to_num(ts, nan=0.0).astype("int64"),
            "symbol": staged["symbol"].astype("object").to_numpy(),
            "side": side_l.to_numpy(dtype=object),
            "price": price,
            "amount": amount,
            "id": ids.to_numpy(dtype=object),
        }
    )
    unified, issues = _finish(
        unified, problems, source=source, lines=lines, on_error=on_error, rows_before=after.rows_before
    )
    unified.attrs["report"] = ValidationReport(
        source=source,
        kind="trades",
        rows_read=n,
        rows_kept=len(unified),
        issues=issues,
    ).to_dict()
    return unified


# --------------------------------------------------------------------------- gaps


def _gap_rows(ts: np.ndarray, timeframe: str) -> tuple[tuple[int, int, int], ...]:
    step = timeframe_ms(timeframe)
    ts = np.asarray(ts, dtype=np.int64)
    if ts.size < 2:
        return ()
    diffs = np.diff(ts)
    at = np.flatnonzero(diffs > step)
    return tuple((int(ts[i]), int(ts[i + 1]), int((ts[i + 1] - ts[i]) // step) - 1) for i in at)


def _gap_frame(rows: Sequence[tuple[int, int, int]]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=["after_ms", "resume_ms", "missing"], dtype="int64")
    frame["duration"] = pd.to_timedelta(frame["resume_ms"] - frame["after_ms"], unit="ms")
    frame["after"] = pd.to_datetime(frame["after_ms"], unit="ms", utc=True)
    frame["resume"] = pd.to_datetime(frame["resume_ms"], unit="ms", utc=True)
    return frame


def find_gaps(frame: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """Gaps in a unified OHLCV frame: one row per jump longer than ``timeframe``.

    Columns: ``after_ms``/``after`` (the candle before the gap), ``resume_ms``/``resume`` (the
    next candle), ``missing`` (candles absent) and ``duration`` (``resume - after``).
    Nothing is filled.
    """
    return _gap_frame(_gap_rows(frame["timestamp"].to_numpy(), timeframe))
