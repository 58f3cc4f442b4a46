"""Plain-text help: docstrings written in reStructuredText shown without its markup.

The command modules use their docstrings as ``--help`` descriptions; this formatter drops the
roles and literals (``:func:`x` ``, double back-quotes, ``::``), keeps indented blocks (examples)
line by line, and re-wraps paragraphs and bullet items to the terminal width.
"""

from __future__ import annotations

import argparse
import re
import textwrap
from typing import Any

__all__ = ["PlainFormatter", "PlainParser", "plain"]

_ROLE = re.compile(r":[a-z]+:`(~?)([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")
_EMPHASIS = re.compile(r"(?<![\w`])\*\*?([^*\s][^*]*?)\*\*?(?![\w`])")


def _role(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    # Sphinx shows ``~a.b.C`` as ``C``; a bare target keeps its full dotted path
    return target.rsplit(".", 1)[-1] if tilde else target


def plain(text: str) -> str:
    """``text`` without reStructuredText markup (roles, literals, emphasis, ``::`` block markers)."""
    text = _ROLE.sub(_role, text)
    text = _LITERAL.sub(r"\1", text)
    text = _EMPHASIS.sub(r"\1", text)
    lines = []
    for line in text.splitlines():
        if line.strip() == "::":
            continue  # a lone marker introduces the indented block that follows
        lines.append(re.sub(r"(\S)::$", r"\1:", line))
    return "\n".join(lines)


_BULLET = re.compile(r"([*-]|\d+\.)\s+")


def _bullets(lines: list[str], width: int, indent: str) -> str:
    items: list[list[str]] = []
    for line in lines:
        if _BULLET.match(line) or not items:
            items.append([line.strip()])
        else:
            items[-1].append(line.strip())
    out = []
    for item in items:
        marker = _BULLET.match(item[0])
        hang = " " * (marker.end() if marker else 0)
        out.append(textwrap.fill(" ".join(item), width, initial_indent=indent,
                                 subsequent_indent=indent + hang, break_on_hyphens=False))
    return "\n".join(out)


class PlainFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and epilogs in plain text: paragraphs re-wrapped, examples and lists kept."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        out: list[str] = []
        for block in re.split(r"\n\s*\n", textwrap.dedent(plain(text)).strip("\n")):
            lines = block.splitlines()
            if not lines:
                continue
            if lines[0][:1].isspace():  # an example block: as written
                out.append("\n".join(indent + line.rstrip() for line in lines))
            elif _BULLET.match(lines[0]):
                out.append(_bullets(lines, width, indent))
            else:
                joined = " ".join(line.strip() for line in lines)
                out.append(textwrap.fill(joined, width, initial_indent=indent, subsequent_indent=indent,
                                         break_on_hyphens=False))
        return "\n\n".join(out) + "\n"

    def _expand_help(self, action: argparse.Action) -> str:
        return plain(super()._expand_help(action))


class PlainParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose help is plain text (its sub-parsers inherit the class)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["formatter_class"] = PlainFormatter
        super().__init__(*args, **kwargs)
