"""The public API of supreme.resilience and supreme.monitoring is locked here."""

from __future__ import annotations

import supreme.monitoring as monitoring
import supreme.resilience as resilience
from supreme.errors import SupremeError


def test_resilience_exports() -> None:
    assert sorted(resilience.__all__) == [
        "BreakerConfig", "BreakerConfigError", "CallNotPermitted", "CircuitBreaker", "ErrorHandler",
        "ErrorRecovery", "Failover", "HandledError", "IllegalTransition", "PoolStats", "PoolTimeout",
        "RecoveryFailed", "RecoveryResult", "Retry", "RetryDeadlineExceeded", "RetryError", "RetryExhausted",
        "State", "StateTransition", "WindowType",
    ]
    for name in resilience.__all__:
        assert getattr(resilience, name) is not None


def test_monitoring_exports() -> None:
    assert sorted(monitoring.__all__) == [
        "AlertError", "AlertManager", "AlertRule", "CallableNotifier", "ErrorEvent", "EscalationLevel",
        "Incident", "IncidentStatus", "LogNotifier", "Metrics", "MetricsSnapshot", "Notification",
        "WebhookNotifier",
    ]


def test_every_error_is_a_supreme_error() -> None:
    for cls in (resilience.CallNotPermitted, resilience.BreakerConfigError, resilience.IllegalTransition,
                resilience.PoolTimeout, resilience.RecoveryFailed, resilience.RetryError,
                monitoring.AlertError):
        assert issubclass(cls, SupremeError)
