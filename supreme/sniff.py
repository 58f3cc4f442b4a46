"""Hints for input files that fail to load: a CSV written with another delimiter than the comma."""

from __future__ import annotations

import csv
from pathlib import Path

__all__ = ["delimiter_hint"]

#: delimiters seen in exported spreadsheets and market-data dumps, by name
_OTHER = {";": "semicolon", "\t": "tab", "|": "pipe"}


def delimiter_hint(path: str | Path) -> str | None:
    """A one-line hint when ``path`` is text whose first line splits on ';', tab or '|' but not ','."""
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as fh:
            head = fh.readline(65536)
    except (OSError, UnicodeError):
        return None  # not a readable text file: the loader's own error says why
    if not head.strip() or "\x00" in head:
        return None
    try:
        found = csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
    except csv.Error:
        return None
    if found not in _OTHER or head.count(",") >= head.count(found):
        return None
    return (f"{path} looks {_OTHER[found]}-delimited ({head.count(found)} {found!r} and "
            f"{head.count(',')} ',' on its first line); the loaders read comma-separated CSV: "
            f"re-save it with commas, e.g. pandas.read_csv(path, sep={found!r}).to_csv(out, index=False)")
