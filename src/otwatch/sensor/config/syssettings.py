"""System settings the console pushes to a sensor besides its engine configuration.

* ``mail_server`` — applied: the sensor sends its own e-mail through it (SPAN monitoring-port
  failures, backup results; see :mod:`otwatch.sensor.node.mailer`) to the recipients kept on the sensor.
* ``snmp_mib_monitoring`` — applied: the sensor's health is served over SNMP to the listed managers
  (see :mod:`otwatch.sensor.node.snmpagent`); ``serving`` is reported back, or the reason it is not.
* ``active_directory`` — applied: AD accounts sign in to the sensor's own console
  (see :mod:`otwatch.sensor.local.adauth`).
* ``dns_reverse_lookup`` — applied: see :mod:`otwatch.sensor.node.dnslookup`.

Secrets (mail password, SNMP community and keys, AD bind password) are never part of what is pushed:
each sensor keeps its own in :class:`LocalSecrets` (``otwatch sensor secret NAME``).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

GROUPS: Final = ("mail_server", "snmp_mib_monitoring", "active_directory", "dns_reverse_lookup")
#: The secrets a sensor keeps for itself, with what each is for.
SECRETS: Final = {
    "snmp_community": "SNMP v1/v2c community the managers use",
    "snmp_v3_auth_key": "SNMPv3 authentication pass phrase (8 characters or more)",
    "snmp_v3_priv_key": "SNMPv3 privacy pass phrase (8 characters or more)",
    "ad_bind_password": "password of the Active Directory bind account (bind DN)",
    "mail_password": "password of the mail server account",
    "mail_ca_certificate": "PEM CA certificate the mail server's certificate is checked against "
    "(default: the system's trust store)",
    "ad_ca_certificate": "PEM CA certificate the AD servers' certificates are checked against "
    "(default: the system's trust store)",
}


class LocalSecrets:
    """This sensor's own secrets: a JSON file readable by the sensor's user only (never reported)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "system-secrets.json"
        self._lock = threading.Lock()

    def get(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def set(self, name: str, value: str | None) -> None:
        """Set (or with None, remove) one secret; ValueError for a name that is not one."""
        if name not in SECRETS:
            raise ValueError(f"unknown secret {name!r} (known: {', '.join(SECRETS)})")
        with self._lock:
            data = self.get()
            if value is None:
                data.pop(name, None)
            else:
                data[name] = value
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f)
            tmp.replace(self.path)


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

    def status(
        self, snmp_status: dict[str, Any] | None = None, ad_in_use: bool = False, mail_in_use: bool = False
    ) -> dict[str, Any]:
        """What the sensor does with each group, for the statistics report (honest about what it can't)."""
        snmp = self.snmp_mib_monitoring or {}
        ad = self.active_directory or {}
        mail = self.mail_server or {}
        return {
            "mail_server": {"configured": bool(mail), "address": mail.get("address"), "in_use": mail_in_use},
            "snmp_mib_monitoring": {
                "enabled": bool(snmp.get("enabled")),
                "version": snmp.get("version"),
                "allowed_managers": list(snmp.get("allowed_managers", [])),
                "serving": False,
                **(snmp_status or {}),
            },
            "active_directory": {
                "enabled": bool(ad.get("enabled")),
                "domain": ad.get("domain"),
                "in_use": ad_in_use,  # the sensor console signs AD accounts in
            },
        }
