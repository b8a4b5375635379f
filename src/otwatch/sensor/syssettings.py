"""System settings the console pushes to a sensor besides its engine configuration.

* ``mail_server`` — where the sensor would send its own email. Stored; this sensor version sends no
  email itself (alerts are forwarded by the console).
* ``snmp_mib_monitoring`` — SNMP health monitoring of the sensor by the listed managers. Stored and
  reported back; this sensor version has **no SNMP agent yet**, so nothing answers SNMP queries
  (``serving`` is reported as False).
* ``active_directory`` — AD sign-in to the sensor's own console. Stored; the sensor's console signs
  users in with its local accounts only in this version.
* ``dns_reverse_lookup`` — applied: see :mod:`otwatch.sensor.dnslookup`.

Secrets (mail password, SNMP community and keys, AD bind password) are never part of what is pushed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

GROUPS: Final = ("mail_server", "snmp_mib_monitoring", "active_directory", "dns_reverse_lookup")


@dataclass(slots=True)
class SystemSettings:
    mail_server: dict[str, Any] | None = None
    snmp_mib_monitoring: dict[str, Any] | None = None
    active_directory: dict[str, Any] | None = None
    dns_reverse_lookup: dict[str, Any] | None = None
    received: set[str] = field(default_factory=set)

    def update(self, config: dict[str, Any]) -> list[str]:
        """Take the groups present in a configuration; returns the names of those that changed."""
        changed: list[str] = []
        for name in GROUPS:
            if name not in config:
                continue
            value = config[name]
            value = dict(value) if isinstance(value, dict) else None
            self.received.add(name)
            if getattr(self, name) != value:
                setattr(self, name, value)
                changed.append(name)
        return changed

    def status(self) -> dict[str, Any]:
        """What the sensor does with each group, for the statistics report (honest about what it can't)."""
        snmp = self.snmp_mib_monitoring or {}
        ad = self.active_directory or {}
        mail = self.mail_server or {}
        return {
            "mail_server": {"configured": bool(mail), "address": mail.get("address"), "in_use": False},
            "snmp_mib_monitoring": {
                "enabled": bool(snmp.get("enabled")),
                "version": snmp.get("version"),
                "allowed_managers": list(snmp.get("allowed_managers", [])),
                "serving": False,  # no SNMP agent in this sensor version
            },
            "active_directory": {
                "enabled": bool(ad.get("enabled")),
                "domain": ad.get("domain"),
                "in_use": False,  # the sensor console signs in local accounts only
            },
        }
