"""Helpers for checking diagram steps in event logs."""

from __future__ import annotations

import pandas as pd


def steps(log: pd.DataFrame) -> list[tuple[str, str]]:
    """``(component, operation)`` of every row, in log order."""
    return list(zip(log["component"], log["operation"], strict=True))


def is_subsequence(expected: list[tuple[str, str]], actual: list[tuple[str, str]]) -> bool:
    """Whether ``expected`` appears in ``actual`` in order (gaps allowed)."""
    it = iter(actual)
    return all(step in it for step in expected)
