"""The one path helper for the shared recordings and traces beside the checkout.

``../shared/data`` and ``../shared/traces`` are read by tests, benchmarks and
notebooks here; they are never copied into the project.
"""

from __future__ import annotations

from pathlib import Path

from supreme.config import load_settings

__all__ = ["SharedDataMissing", "shared_data", "shared_trace"]


class SharedDataMissing(FileNotFoundError):
    """A shared recording is not where ``SUPREME_SHARED_DATA`` points."""


def shared_data(relative: str) -> Path:
    """Path of ``relative`` inside the shared data folder; raises if absent."""
    path = load_settings().shared_data / relative
    if not path.exists():
        raise SharedDataMissing(
            f"shared recording {relative!r} not found at {path} (set SUPREME_SHARED_DATA)"
        )
    return path


def shared_trace(relative: str) -> Path:
    """Path of ``relative`` inside the shared traces folder; raises if absent."""
    path = load_settings().shared_traces / relative
    if not path.exists():
        raise SharedDataMissing(
            f"shared trace {relative!r} not found at {path} (set SUPREME_SHARED_TRACES)"
        )
    return path
