"""Resilience: circuit breaker, retry with backoff and jitter, recovery/failover, pools, fault injection.

Seed participants: Circuit_Breaker -> :mod:`.breaker` (wrapper) over :mod:`.breaker_state` (state
machine); Error_Recovery / Recovery_System -> :mod:`.recovery`; Error_Handler -> :mod:`.handler`;
Chaos_Engine -> :mod:`.chaos` (+ :mod:`.proxy`), its fault windows (shared with the simulation) ->
:mod:`.fault_schedule`; Pool_Manager / Connection_Pool -> :mod:`.pools` (over psycopg_pool and
redis-py's pools).
"""

from supreme.resilience.breaker import CallNotPermitted, CircuitBreaker
from supreme.resilience.breaker_state import (
    BreakerConfig,
    BreakerConfigError,
    IllegalTransition,
    State,
    StateTransition,
    WindowType,
)
from supreme.resilience.handler import ErrorHandler, HandledError
from supreme.resilience.pools import PoolStats, PoolTimeout
from supreme.resilience.recovery import ErrorRecovery, Failover, RecoveryFailed, RecoveryResult
from supreme.resilience.retry import Retry, RetryDeadlineExceeded, RetryError, RetryExhausted

__all__ = [
    "BreakerConfig",
    "BreakerConfigError",
    "CallNotPermitted",
    "CircuitBreaker",
    "ErrorHandler",
    "ErrorRecovery",
    "Failover",
    "HandledError",
    "IllegalTransition",
    "PoolStats",
    "PoolTimeout",
    "RecoveryFailed",
    "RecoveryResult",
    "Retry",
    "RetryDeadlineExceeded",
    "RetryError",
    "RetryExhausted",
    "State",
    "StateTransition",
    "WindowType",
]
