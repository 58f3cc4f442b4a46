"""Monitoring: metrics on prometheus_client (private registries) and alerting with escalation.

Seed participants: Monitoring / Monitoring_System / Metrics_Collector -> :mod:`.metrics`;
Alert_Manager (and the Human_Operator's acknowledge/resolve) -> :mod:`.alerts`.
"""

from supreme.monitoring.alerts import (
    AlertError,
    AlertManager,
    AlertRule,
    CallableNotifier,
    ErrorEvent,
    EscalationLevel,
    Incident,
    IncidentStatus,
    LogNotifier,
    Notification,
    WebhookNotifier,
)
from supreme.monitoring.metrics import Metrics, MetricsSnapshot

__all__ = [
    "AlertError",
    "AlertManager",
    "AlertRule",
    "CallableNotifier",
    "ErrorEvent",
    "EscalationLevel",
    "Incident",
    "IncidentStatus",
    "LogNotifier",
    "Metrics",
    "MetricsSnapshot",
    "Notification",
    "WebhookNotifier",
]
