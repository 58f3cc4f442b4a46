"""The ``supreme`` command.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (a callable
taking the parsed namespace and returning an exit code).  Modules are found by
name, so adding a command never edits this file.

Global options: ``--version``, ``--debug`` (tracebacks and DEBUG logging).  Errors a user can fix
print one line, ``supreme COMMAND: error: ...`` (the prefix argparse uses for usage errors), and a
hint when an input file looks like a CSV with another delimiter; the exit status is then 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

from supreme import __version__
from supreme.cli._errors import report_error
from supreme.cli._help import PlainParser

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every sub-command registered."""
    parser = PlainParser(
        prog="supreme",
        description=(
            "Supreme: replay recorded market data through the real signal service, "
            "study its caches, faults and latencies, and simulate it with SimPy."
        ),
        epilog="Run 'supreme COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"supreme {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks instead of one-line errors, and log at DEBUG level")
    sub = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND",
                                parser_class=PlainParser)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse ``argv`` and run the chosen command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    if args.debug:
        logging.basicConfig(level=logging.DEBUG)
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one clear line for users instead of a traceback
        if args.debug:
            raise
        from supreme.errors import SupremeError

        if isinstance(exc, (SupremeError, OSError, ValueError, KeyError)):
            report_error(args, exc)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
