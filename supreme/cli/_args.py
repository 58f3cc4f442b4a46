"""Argument types and flags shared by the sub-commands (a leading underscore: not a command of its own)."""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_progress", "comma_list", "positive", "progress_wanted", "symbols"]


def positive(text: str, not_a_number: str = "expected a number > 0",
             not_positive: str = "expected a number > 0") -> float:
    """``text`` as a float > 0; otherwise an argparse error that starts with the matching message."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{not_a_number}, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{not_positive}, got {text!r}")
    return value


def comma_list(text: str, *, upper: bool = False) -> tuple[str, ...]:
    """The non-empty, stripped items of a comma-separated list (upper-cased with ``upper``)."""
    items = (s.strip() for s in text.split(","))
    return tuple(s.upper() if upper else s for s in items if s)


def symbols(text: str) -> tuple[str, ...]:
    """Market symbols, comma-separated, upper-cased (``spx, ixic`` is ``("SPX", "IXIC")``)."""
    return comma_list(text, upper=True)


def add_progress(parser: argparse.ArgumentParser) -> None:
    """The one progress flag of every long command: ``--progress/--no-progress``, default: a terminal."""
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show progress bars on stderr (default: on when stdout is a terminal)")


def progress_wanted(args: argparse.Namespace) -> bool:
    """The ``--progress/--no-progress`` choice, or whether stdout is a terminal when neither was given."""
    chosen = getattr(args, "progress", None)
    if chosen is None:
        # piped or captured output (CI logs, notebooks, tests) gets no bar redrawn in place
        return sys.stdout.isatty()
    return bool(chosen)
