"""The five analytics engines, each switchable: Protocol Violation, Policy Violation, Malware,
Anomaly and Operational. Alerts, severities and titles live in :mod:`.alerts` (one table)."""

from otwatch.sensor.engines.alerts import ALERT_TYPES, Alert, AlertStatus, AlertStore, Engine, Severity

__all__ = ["ALERT_TYPES", "Alert", "AlertStatus", "AlertStore", "Engine", "Severity"]
