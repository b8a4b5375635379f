"""What the sensor's own console keeps in the sensor's state directory (``<state>/local``).

::

    settings.json   time & region, network settings, console-certificate validation,
                    advanced configurations, which TLS certificate is in use, and the detection
                    settings of a locally managed sensor, the system setting groups of a locally
                    managed sensor (``system``) and the mail recipients (atomic JSON writes)
    users.json      the local users' argon2 hashes: ``admin`` and the privileged ``support`` user
    session.key     the secret that signs console sessions
    tls/            self-signed.{crt,key} (made at first start) and imported.{crt,key}
    pcaps/          uploaded capture files (Play PCAP)

Secrets (users.json, session.key, keys, settings.json with a proxy password) are written mode 0600.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from otwatch.inventory.vocabulary import Engine
from otwatch.sensor.config.netsettings import NetworkSettings
from otwatch.sensor.config.timefmt import TimeRegion
from otwatch.sensor.local.certs import ServerCertificate, describe, self_signed
from otwatch.sensor.local.trust import ConsoleTrust, ConsoleValidation
from otwatch.sensor.tracking.retention import STORES, Retention, positive_count, positive_number
from otwatch.ui.passwords import check_password, equalise_timing, hash_password, verify_password
from otwatch.wire import pki

if TYPE_CHECKING:
    from otwatch.sensor.local.backup import BackupSettings


def write_atomic(path: Path, data: str | bytes, mode: int = 0o600) -> None:
    """Replace ``path`` in one rename, fsync'd; readers see the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Role(StrEnum):
    """The sensor console's two local users; ``support`` is the privileged one (Clear data)."""

    ADMIN = "admin"
    SUPPORT = "support"

    @property
    def env(self) -> str:
        return f"OTWATCH_SENSOR_{self.name}_PASSWORD"


class CertificateMode(StrEnum):
    SELF_SIGNED = "Use Locally generated self-signed certificate (Not recommended)"
    IMPORTED = "Import trusted CA certificate (recommended)"


# ---------------------------------------------------------------- advanced configurations


@dataclass(frozen=True, slots=True)
class Option:
    default: str
    help: str
    check: Callable[[str], bool]


def _flag(v: str) -> bool:
    return v in ("0", "1")


def _speed(v: str) -> bool:
    try:
        return 0 <= float(v) <= 100
    except ValueError:
        return False


def _percent(v: str) -> bool:
    try:
        return 0 < float(v) <= 100
    except ValueError:
        return False


def _retention_options() -> dict[str, Option]:
    """``<store>_days`` (retention period) and ``<store>_max`` (maximum records; megabytes for alert
    PCAPs) for each data-mining store, defaults from :class:`~otwatch.sensor.tracking.retention.Retention`."""
    out: dict[str, Option] = {}
    for key, default in Retention().as_config().items():
        store = STORES[key.rsplit("_", 2 if key.endswith("_max_mb") else 1)[0]]
        if key.endswith("_days"):
            out[key] = Option(
                default, f"days of {store} kept (oldest removed first); above 0", positive_number
            )
        elif key.endswith("_max_mb"):
            out[key] = Option(default, f"megabytes of {store} kept at most; above 0", positive_number)
        else:
            out[key] = Option(
                default, f"{store}: records kept at most; a whole number above 0", positive_count
            )
    return out


#: Category -> key -> option. ``pcaps enabled=1`` shows Play PCAP (off until enabled); ``retention``
#: limits the data-mining stores (devices, alerts, alert PCAPs, event timeline, logs); ``monitoring``
#: sets when a SPAN monitoring port counts as failed (no traffic for so long, so many frames dropped).
ADVANCED: Final[dict[str, dict[str, Option]]] = {
    "pcaps": {
        "enabled": Option("0", "1 shows System Settings > Play PCAP", _flag),
        "speed": Option("0", "replay pace: 0 = as fast as possible, 1 = the capture's own timing", _speed),
    },
    "retention": _retention_options(),
    "monitoring": {
        "no_traffic_seconds": Option(
            "300",
            "seconds a monitoring (SPAN) interface may stay without traffic before it is a failure; above 0",
            positive_number,
        ),
        "drop_percent": Option(
            "1",
            "percent of frames dropped between two checks that counts as dropping packets; 0-100",
            _percent,
        ),
    },
}


def parse_advanced(category: str, text: str) -> dict[str, str]:
    """``key=value`` lines (blank lines and ``#`` comments ignored) -> values; ValueError per problem."""
    spec = ADVANCED.get(category)
    if spec is None:
        raise ValueError(f"unknown category {category!r}")
    out: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = (p.strip() for p in line.partition("="))
        if not sep:
            raise ValueError(f"line {n}: expected key=value, got {line!r}")
        option = spec.get(key)
        if option is None:
            raise ValueError(f"line {n}: {category} has no setting {key!r} (known: {', '.join(spec)})")
        if not option.check(value):
            raise ValueError(f"line {n}: {key}={value!r} is not allowed ({option.help})")
        out[key] = value
    return out


# ---------------------------------------------------------------- detection engines and network modeling


@dataclass(frozen=True, slots=True)
class Detection:
    """System settings > Network monitoring > Detection engines and network modeling of a locally
    managed sensor: Learning, Smart IT Learning and the five analytics engines (a console-connected
    sensor takes them from its console instead)."""

    learning: bool = True
    smart_it_learning: bool = True
    engines: frozenset[Engine] = frozenset(Engine)

    def as_dict(self) -> dict[str, Any]:
        return {
            "learning": self.learning,
            "smart_it_learning": self.smart_it_learning,
            "engines": [e.value for e in Engine if e in self.engines],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Detection:
        known = {e.value for e in Engine}
        engines = data.get("engines")
        return cls(
            learning=bool(data.get("learning", True)),
            smart_it_learning=bool(data.get("smart_it_learning", True)),
            engines=frozenset(Engine(e) for e in engines if e in known)
            if isinstance(engines, list)
            else frozenset(Engine),
        )


# ---------------------------------------------------------------- the store


class SensorStore:
    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / "local"
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        self.pcap_dir = self.dir / "pcaps"
        self.tls_dir = self.dir / "tls"
        self._lock = threading.RLock()
        self._settings: dict[str, Any] = self._read_json(self.dir / "settings.json")
        self.on_trust_changed: Callable[[], object] | None = None
        self.on_certificate_changed: Callable[[], object] | None = None
        # Called with the name of each saved setting ("time_region", "advanced"...), and after Clear data.
        self.on_changed: Callable[[str], object] | None = None
        self.on_cleared: Callable[[], object] | None = None

    def reload(self) -> None:
        """Read the settings file again (after a backup was restored over it)."""
        with self._lock:
            self._settings = self._read_json(self.dir / "settings.json")

    # -- files ------------------------------------------------------------------------------------
    @staticmethod
    def _read_json(path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return data if isinstance(data, dict) else {}

    def _save(self) -> None:
        write_atomic(self.dir / "settings.json", json.dumps(self._settings, indent=2, sort_keys=True))

    def _update(self, key: str, value: Any) -> None:
        with self._lock:
            if value is None:
                self._settings.pop(key, None)
            else:
                self._settings[key] = value
            self._save()
        if self.on_changed is not None:
            self.on_changed(key)

    # -- users ------------------------------------------------------------------------------------
    def ensure_users(self, env: Mapping[str, str] | None = None) -> dict[Role, str]:
        """Give every local user a password at first start: from ``OTWATCH_SENSOR_<USER>_PASSWORD``
        or generated. Returns the generated ones, to be shown once (they are stored only hashed)."""
        env = os.environ if env is None else env
        generated: dict[Role, str] = {}
        with self._lock:
            users = self._read_json(self.dir / "users.json")
            for role in Role:
                if role.value in users:
                    continue
                password = env.get(role.env) or ""
                if not password:
                    password = secrets.token_urlsafe(12)
                    generated[role] = password
                users[role.value] = hash_password(password)
            write_atomic(self.dir / "users.json", json.dumps(users, indent=2))
        return generated

    def authenticate(self, username: str, password: str) -> Role | None:
        try:
            role = Role(username)
        except ValueError:
            equalise_timing(password)  # the same work for unknown names as for a wrong password
            return None
        stored = self._read_json(self.dir / "users.json").get(role.value)
        if not isinstance(stored, str):
            return None
        return role if verify_password(password, stored) else None

    def set_password(self, role: Role, password: str) -> None:
        check_password(password)  # the one policy of both consoles (otwatch.ui.passwords)
        with self._lock:
            users = self._read_json(self.dir / "users.json")
            users[role.value] = hash_password(password)
            write_atomic(self.dir / "users.json", json.dumps(users, indent=2))

    # -- ended sessions ---------------------------------------------------------------------------
    def end_session(self, sid: str, max_age: float) -> None:
        """Remember a signed-out session id until its cookie would have expired (a copy of the cookie
        is refused meanwhile, restarts included)."""
        now = time.time()
        with self._lock:
            ended = {k: v for k, v in self._ended().items() if v > now}
            ended[sid[:64]] = now + max_age
            write_atomic(self.dir / "ended_sessions.json", json.dumps(ended))
            self._ended_cache = ended

    def session_ended(self, sid: str) -> bool:
        with self._lock:
            return self._ended().get(sid, 0.0) > time.time()

    def _ended(self) -> dict[str, float]:
        cached: dict[str, float] | None = getattr(self, "_ended_cache", None)
        if cached is None:
            raw = self._read_json(self.dir / "ended_sessions.json")
            cached = {str(k): float(v) for k, v in raw.items() if isinstance(v, int | float)}
            self._ended_cache = cached
        return cached

    def session_secret(self) -> str:
        path = self.dir / "session.key"
        with self._lock:
            if not path.exists():
                write_atomic(path, secrets.token_hex(32))
            return path.read_text().strip()

    # -- time & region ----------------------------------------------------------------------------
    @property
    def time_region(self) -> TimeRegion:
        return TimeRegion.from_dict(self._settings.get("time_region") or {})

    def set_time_region(self, region: TimeRegion) -> None:
        self._update("time_region", region.as_dict())

    # -- network ----------------------------------------------------------------------------------
    @property
    def network(self) -> NetworkSettings | None:
        data = self._settings.get("network")
        return NetworkSettings.from_dict(data) if isinstance(data, dict) else None

    @property
    def backup_settings(self) -> BackupSettings:
        from otwatch.sensor.local.backup import BackupSettings  # backup.py uses write_atomic from here

        return BackupSettings.from_dict(self._settings.get("backup"))

    def set_backup_settings(self, settings: BackupSettings) -> None:
        self._update("backup", settings.as_dict())

    @property
    def proxy_url(self) -> str | None:
        """The proxy every outbound connection of the sensor uses (console link, CRL), if one is set."""
        net = self.network
        return net.proxy.url() if net is not None and net.proxy is not None else None

    def set_network(self, settings: NetworkSettings) -> None:
        self._update("network", settings.as_dict())

    # -- console certificate validation -----------------------------------------------------------
    @property
    def console_trust(self) -> ConsoleTrust:
        data = self._settings.get("console_trust") or {}
        try:
            return ConsoleTrust.parse(str(data.get("validation", "Required")), str(data.get("pin") or ""))
        except ValueError:
            return ConsoleTrust()

    def set_console_trust(self, trust: ConsoleTrust) -> None:
        changed = trust != self.console_trust
        self._update("console_trust", trust.as_dict())
        if changed and self.on_trust_changed is not None:
            self.on_trust_changed()

    # -- detection engines and network modeling -------------------------------------------------
    @property
    def detection(self) -> Detection | None:
        """The saved detection settings, or None when none were ever saved here."""
        data = self._settings.get("detection")
        return Detection.from_dict(data) if isinstance(data, dict) else None

    def set_detection(self, detection: Detection) -> None:
        self._update("detection", detection.as_dict())

    # -- system settings of a locally managed sensor ----------------------------------------------
    def system_group(self, name: str) -> Any:
        """One of the six setting groups a console would push (mail server, SNMP MIB monitoring,
        Active Directory, DNS reverse lookup, subnets, port aliases) as saved on this console; None
        when never saved. Validated before saving (:mod:`otwatch.sensor.config.sysgroups`)."""
        return (self._settings.get("system") or {}).get(name)

    def system_groups(self) -> dict[str, Any]:
        return dict(self._settings.get("system") or {})

    def set_system_group(self, name: str, value: Any) -> None:
        with self._lock:
            groups = dict(self._settings.get("system") or {})
            if value is None:
                groups.pop(name, None)
            else:
                groups[name] = json.loads(json.dumps(value))  # as read back after a restart (str keys)
            self._settings["system"] = groups
            self._save()
        if self.on_changed is not None:
            self.on_changed(name)

    @property
    def mail_recipients(self) -> list[str]:
        """Who receives the sensor's own e-mail (kept on the sensor, managed or not)."""
        value = self._settings.get("mail_recipients")
        return [str(v) for v in value] if isinstance(value, list) else []

    def set_mail_recipients(self, recipients: list[str]) -> None:
        self._update("mail_recipients", list(recipients) or None)

    # -- advanced configurations ------------------------------------------------------------------
    def advanced(self, category: str) -> dict[str, str]:
        saved = (self._settings.get("advanced") or {}).get(category) or {}
        return {k: str(saved.get(k, o.default)) for k, o in ADVANCED[category].items()}

    def set_advanced(self, category: str, values: dict[str, str]) -> None:
        with self._lock:
            advanced = dict(self._settings.get("advanced") or {})
            advanced[category] = {**self.advanced(category), **values}
            self._update("advanced", advanced)

    @property
    def pcaps_enabled(self) -> bool:
        return self.advanced("pcaps")["enabled"] == "1"

    @property
    def pcap_speed(self) -> float:
        return float(self.advanced("pcaps")["speed"])

    @property
    def monitoring(self) -> tuple[float, float]:
        """(seconds without traffic, percent of frames dropped) that make a monitoring-port failure."""
        m = self.advanced("monitoring")
        return float(m["no_traffic_seconds"]), float(m["drop_percent"])

    @property
    def retention(self) -> Retention:
        return Retention.from_config(self.advanced("retention"))

    # -- the console's own TLS certificate --------------------------------------------------------
    @property
    def certificate_mode(self) -> CertificateMode:
        mode = (self._settings.get("certificate") or {}).get("mode")
        imported = (self.tls_dir / "imported.crt").exists() and (self.tls_dir / "imported.key").exists()
        return CertificateMode.IMPORTED if mode == "imported" and imported else CertificateMode.SELF_SIGNED

    @property
    def certificate_name(self) -> str:
        return str((self._settings.get("certificate") or {}).get("name") or "")

    def ensure_self_signed(self, hosts: list[str] | None = None) -> None:
        with self._lock:
            if (
                not (self.tls_dir / "self-signed.crt").exists()
                or not (self.tls_dir / "self-signed.key").exists()
            ):
                sc = self_signed(hosts)
                write_atomic(self.tls_dir / "self-signed.key", sc.key_pem)
                write_atomic(self.tls_dir / "self-signed.crt", sc.chain_pem, 0o644)

    def tls_files(self) -> tuple[Path, Path]:
        """(certificate chain file, key file) the HTTPS server should use now."""
        if self.certificate_mode is CertificateMode.IMPORTED:
            return self.tls_dir / "imported.crt", self.tls_dir / "imported.key"
        self.ensure_self_signed()
        return self.tls_dir / "self-signed.crt", self.tls_dir / "self-signed.key"

    def certificate_info(self) -> dict[str, str]:
        cert_file, _ = self.tls_files()
        return describe(pki.load_cert(cert_file.read_bytes()))

    def import_certificate(self, name: str, sc: ServerCertificate) -> None:
        with self._lock:
            write_atomic(self.tls_dir / "imported.key", sc.key_pem)
            write_atomic(self.tls_dir / "imported.crt", sc.chain_pem, 0o644)
            self._update("certificate", {"mode": "imported", "name": name})
        if self.on_certificate_changed is not None:
            self.on_certificate_changed()

    def use_self_signed(self) -> None:
        was = self.certificate_mode
        self._update("certificate", {"mode": "self-signed", "name": ""})
        if was is not CertificateMode.SELF_SIGNED and self.on_certificate_changed is not None:
            self.on_certificate_changed()

    # -- clear data -------------------------------------------------------------------------------
    KEPT_ON_CLEAR: Final = frozenset({"network", "certificate"})

    def clear(self) -> None:
        """Forget the configuration (time & region, advanced configurations, console validation) and
        the uploaded captures; keep the network settings, the TLS certificate and the users."""
        trust_before = self.console_trust
        with self._lock:
            self._settings = {k: v for k, v in self._settings.items() if k in self.KEPT_ON_CLEAR}
            self._save()
            if self.pcap_dir.exists():
                for f in self.pcap_dir.iterdir():
                    if f.is_file():
                        f.unlink()
        if trust_before.validation is not ConsoleValidation.REQUIRED and self.on_trust_changed is not None:
            self.on_trust_changed()
        if self.on_cleared is not None:
            self.on_cleared()
