"""Root of the project's exception tree.

::

    SupremeError
    ├── supreme.config.ConfigError            (also a ValueError)
    ├── supreme.market.validation.DataValidationError
    ├── supreme.cache.* tier / policy errors
    ├── supreme.resilience.* breaker, retry, recovery errors
    └── supreme.api.* auth and rate-limit errors

Modules derive their errors from :class:`SupremeError` so callers can catch
one type; each message names the thing at fault (file and row, variable, key).
"""

from __future__ import annotations

__all__ = ["SupremeError"]


class SupremeError(Exception):
    """Base class of every error this package raises on purpose."""
