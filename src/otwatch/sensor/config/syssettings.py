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

import hashlib
import json
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

log = logging.getLogger("otwatch.sensor.secrets")

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


#: The secrets the sensor sends to a server its settings name (finding 34): the group naming it, the
#: keys that say which server (and account) it is, and the CA secret it is trusted through. A pushed
#: group comes from the management console, which is not trusted with these secrets.
BOUND_SECRETS: Final[dict[str, tuple[str, tuple[str, ...], str]]] = {
    "mail_password": ("mail_server", ("address", "port", "ssl", "username"), "mail_ca_certificate"),
    "ad_bind_password": (
        "active_directory",
        ("servers", "port", "ldaps", "starttls", "bind_dn", "domain"),
        "ad_ca_certificate",
    ),
}
BINDING: Final = "@server"  # "<secret>@server": the identity of the server it is bound to
MOVED: Final = "@moved"  # "<secret>@moved" in a use's view: why the secret is held back


def server_identity(name: str, group: Any, secrets: Mapping[str, str]) -> str:
    """A digest of what names the server ``name`` would be sent to under ``group``."""
    _, keys, ca = BOUND_SECRETS[name]
    g = group if isinstance(group, Mapping) else {}
    data = [[str(g.get(k)) for k in keys], secrets.get(ca, "")]
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()


class LocalSecrets:
    """This sensor's own secrets: a JSON file readable by the sensor's user only (never reported).

    A password sent to a server (:data:`BOUND_SECRETS`) is bound to the server it was saved for, or
    first used with when it was set on the command line; :meth:`for_use` holds it back from another
    one, whoever named it (the console's push, the sensor's own pages)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "system-secrets.json"
        self._lock = threading.Lock()

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def get(self) -> dict[str, str]:
        """The secrets as stored, whatever server is in force (for the sensor's own forms)."""
        return {k: v for k, v in self._read().items() if not k.endswith(BINDING)}

    def set(self, name: str, value: str | None) -> None:
        """Set (or with None, remove) one secret; ValueError for a name that is not one. A new password
        is bound again at its next use (or by :meth:`bind`)."""
        if name not in SECRETS:
            raise ValueError(f"unknown secret {name!r} (known: {', '.join(SECRETS)})")
        with self._lock:
            data = self._read()
            if value is None:
                data.pop(name, None)
            else:
                data[name] = value
            data.pop(name + BINDING, None)
            self._write(data)

    def bind(self, name: str, group: Any) -> None:
        """Bind the stored ``name`` to the server ``group`` names (saved with it on this sensor)."""
        with self._lock:
            data = self._read()
            if data.get(name):
                data[name + BINDING] = server_identity(name, group, data)
                self._write(data)

    def for_use(self, groups: Mapping[str, Any]) -> dict[str, str]:
        """The secrets for the servers ``groups`` (group name -> settings in force) name: a password
        bound to another server is left out, with ``<name>@moved`` saying why. One never bound yet
        (set on the command line) is bound to the server in force at its first use."""
        with self._lock:
            data = self._read()
            out = {k: v for k, v in data.items() if not k.endswith(BINDING)}
            for name, (group_name, _, _) in BOUND_SECRETS.items():
                group = groups.get(group_name)
                if not out.get(name) or not group:
                    continue
                identity = server_identity(name, group, data)
                bound = data.get(name + BINDING)
                if bound is None:
                    data[name + BINDING] = identity
                    self._write(data)
                elif bound != identity:
                    del out[name]
                    out[name + MOVED] = (
                        f"{name} was set for another server (address, port, TLS, account or CA certificate) "
                        f"and is not sent to this one: set it again on this sensor (`otwatch sensor secret "
                        f"{name}` or the sensor console's settings page)"
                    )
                    log.warning("%s held back: the server in force is not the one it was set for", name)
            return out

    def _write(self, data: dict[str, str]) -> None:
        """Replace the file (0600); under ``_lock``."""
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

    def groups(self) -> dict[str, Any]:
        """The groups in force by name (for :meth:`LocalSecrets.for_use`)."""
        return {name: getattr(self, name) for name in GROUPS}

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
