"""One-line error reports shared by the commands: ``supreme COMMAND: error: ...`` and any hint."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

__all__ = ["report_error"]

#: namespace attributes that name input files, across the commands
_INPUTS = ("path", "trace", "src", "events", "scenario")


def _input_files(args: argparse.Namespace) -> Iterator[str]:
    for name in _INPUTS:
        value = getattr(args, name, None)
        for item in value if isinstance(value, list) else [value]:
            if not item:
                continue
            text = str(item)
            # replay --pipeline takes SYMBOL=FILE; a real file whose name has '=' stays whole
            if "=" in text and not Path(text).exists():
                text = text.split("=", 1)[1]
            yield text


def report_error(args: argparse.Namespace, exc: BaseException) -> None:
    """Print ``exc`` as one line prefixed with the command, then a delimiter hint per suspicious input."""
    from supreme.sniff import delimiter_hint

    command = getattr(args, "command", None)
    prefix = f"supreme {command}" if command else "supreme"
    message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
    print(f"{prefix}: error: {message}", file=sys.stderr)
    for path in _input_files(args):
        hint = delimiter_hint(path)
        if hint:
            print(f"{prefix}: hint: {hint}", file=sys.stderr)
