"""What every call guard shares: a decorator made from its ``call`` / ``acall``, sync or async alike.

Used by :class:`~supreme.resilience.breaker.CircuitBreaker` and :class:`~supreme.resilience.retry.Retry`,
so ``@breaker`` and ``@retry`` behave exactly like ``breaker.call(fn, ...)`` and ``retry.call(fn, ...)``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["decorate"]


def decorate(fn: Callable[..., Any], call: Callable[..., Any],
             acall: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    """``fn`` wrapped to run as ``call(fn, ...)``, or as ``await acall(fn, ...)`` if ``fn`` is async."""
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def awrapper(*args: Any, **kwargs: Any) -> Any:
            return await acall(fn, *args, **kwargs)
        return awrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return call(fn, *args, **kwargs)
    return wrapper
