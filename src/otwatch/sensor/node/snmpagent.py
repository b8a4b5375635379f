"""SNMP MIB monitoring: the sensor's health served over SNMP (pysnmp agent) to the configured managers.

Runs when the pushed ``snmp_mib_monitoring`` settings are enabled, on their port (default 161), in a
thread with its own asyncio loop. Read-only (GET, GETNEXT, GETBULK; no SET). Datagrams from
addresses outside ``allowed_managers`` are dropped before pysnmp sees them, so such hosts get no
answer at all (an empty list answers nobody). Credentials: SNMPv1/v2c with the community, or
SNMPv3 with the user and its auth/priv protocols from the settings; the community and the v3
keys are secrets kept on each sensor (:class:`otwatch.sensor.config.syssettings.LocalSecrets`).

What is served (everything read when asked):

MIB-II system group (SNMPv2-MIB)
  ``1.3.6.1.2.1.1.1.0``  sysDescr      "OTWatch sensor <version> (<OS>)"
  ``1.3.6.1.2.1.1.2.0``  sysObjectID   ``1.3.6.1.4.1.32473.1`` (the OTWatch sensor)
  ``1.3.6.1.2.1.1.3.0``  sysUpTime     hundredths of a second since the sensor started
  ``1.3.6.1.2.1.1.5.0``  sysName       the sensor's host name

OTWatch enterprise subtree ``1.3.6.1.4.1.32473.1.1`` (otwatchSensorHealth). 32473 is the enterprise
number IANA reserves for documentation (RFC 5612); a registered one replaces it before shipping.
  ``.1.0``  packetsProcessed   Counter64  frames the pipeline processed
  ``.2.0``  packetsDropped     Counter64  frames the kernel dropped on the live capture sockets
  ``.3.0``  processingErrors   Counter64  frames the pipeline could not process
  ``.4.0``  alertsOpen         Gauge32    alerts not closed
  ``.5.0``  cpuPercent         Gauge32    host CPU busy since the previous read (0-100)
  ``.6.0``  memoryPercent      Gauge32    host memory in use (MemTotal - MemAvailable, 0-100)
  ``.7.0``  diskPercent        Gauge32    disk in use where the sensor keeps its state (0-100)
  ``.8.0``  captureInterfaceUp INTEGER    1 up, 2 down (any live interface down), 3 no live interface
  ``.9.0``  assets             Gauge32    assets in the inventory
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import platform
import shutil
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config, engine
from pysnmp.entity.rfc3413 import cmdrsp, context
from pysnmp.proto.api import v2c

from otwatch import __version__

__all__ = [
    "HEALTH",
    "SensorHealth",
    "SnmpAgent",
    "SnmpConfig",
    "SnmpError",
    "SnmpService",
    "host_usage",
    "interface_state",
    "kernel_drops",
]

log = logging.getLogger("otwatch.sensor.snmp")

ENTERPRISE: Final = (1, 3, 6, 1, 4, 1, 32473)
SENSOR_OID: Final = (*ENTERPRISE, 1)
HEALTH: Final = (*SENSOR_OID, 1)
IF_UP, IF_DOWN, IF_NONE = 1, 2, 3
_SOL_PACKET, _PACKET_STATISTICS = 263, 6  # struct tpacket_stats {tp_packets, tp_drops}
_AUTH: Final = {
    "none": config.USM_AUTH_NONE,
    "SHA": config.USM_AUTH_HMAC96_SHA,
    "SHA-256": config.USM_AUTH_HMAC192_SHA256,
    "SHA-512": config.USM_AUTH_HMAC384_SHA512,
}
_PRIV: Final = {
    "none": config.USM_PRIV_NONE,
    "AES-128": config.USM_PRIV_CFB128_AES,
    "AES-256": config.USM_PRIV_CFB256_AES,
}


class SnmpError(ValueError):
    """Settings the agent cannot serve, or a port it cannot open, in words for the operator."""


@dataclass(frozen=True, slots=True)
class SensorHealth:
    packets: int = 0
    dropped: int = 0
    errors: int = 0
    alerts_open: int = 0
    cpu_percent: int = 0
    memory_percent: int = 0
    disk_percent: int = 0
    interface: int = IF_NONE
    assets: int = 0


@dataclass(frozen=True, slots=True)
class SnmpConfig:
    """What the agent serves with: the pushed settings plus this sensor's own secrets."""

    port: int = 161
    version: str = "v2c"
    allowed_managers: frozenset[str] = frozenset()
    community: str = ""
    v3_user: str = ""
    v3_auth_protocol: str = "SHA-256"
    v3_auth_key: str = ""
    v3_priv_protocol: str = "AES-128"
    v3_priv_key: str = ""

    @classmethod
    def from_settings(cls, settings: dict[str, Any], secrets: dict[str, str]) -> SnmpConfig:
        """Check that everything needed is there; SnmpError says what is missing."""
        version = str(settings.get("version", "v2c"))
        port = int(settings.get("port", 161))
        if not 0 <= port < 65536:  # 0: any free port (tests)
            raise SnmpError(f"SNMP port {port} is out of range")
        managers = frozenset(
            str(ipaddress.ip_address(str(m).strip())) for m in settings.get("allowed_managers", [])
        )
        cfg = cls(
            port=port,
            version=version,
            allowed_managers=managers,
            community=secrets.get("snmp_community", ""),
            v3_user=str(settings.get("v3_user", "")),
            v3_auth_protocol=str(settings.get("v3_auth_protocol", "SHA-256")),
            v3_auth_key=secrets.get("snmp_v3_auth_key", ""),
            v3_priv_protocol=str(settings.get("v3_priv_protocol", "AES-128")),
            v3_priv_key=secrets.get("snmp_v3_priv_key", ""),
        )
        if version in ("v1", "v2c"):
            if not cfg.community:
                raise SnmpError(
                    "no SNMP community is set on this sensor (otwatch sensor secret snmp_community)"
                )
        elif version == "v3":
            if not cfg.v3_user:
                raise SnmpError("SNMPv3 needs a user name")
            if cfg.v3_auth_protocol not in _AUTH or cfg.v3_priv_protocol not in _PRIV:
                raise SnmpError(f"unknown SNMPv3 protocol {cfg.v3_auth_protocol}/{cfg.v3_priv_protocol}")
            if cfg.v3_priv_protocol != "none" and cfg.v3_auth_protocol == "none":
                raise SnmpError("SNMPv3 privacy needs authentication as well")
            for proto, key, name in (
                (cfg.v3_auth_protocol, cfg.v3_auth_key, "snmp_v3_auth_key"),
                (cfg.v3_priv_protocol, cfg.v3_priv_key, "snmp_v3_priv_key"),
            ):
                if proto != "none" and len(key) < 8:
                    raise SnmpError(f"SNMPv3 {proto} needs a key of at least 8 characters ({name})")
        else:
            raise SnmpError(f"unknown SNMP version {version!r} (v1, v2c or v3)")
        return cfg


# ------------------------------------------------------------------ host figures


@dataclass(slots=True)
class _CpuSampler:
    """CPU busy share between two reads of /proc/stat (the first read covers the time since boot)."""

    last: tuple[int, int] = (0, 0)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def percent(self) -> int:
        try:
            with open("/proc/stat", encoding="ascii") as f:
                values = [int(v) for v in f.readline().split()[1:]]
        except (OSError, ValueError):
            return 0
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        total = sum(values)
        with self.lock:
            d_total, d_idle = total - self.last[0], idle - self.last[1]
            self.last = (total, idle)
        return max(0, min(100, round(100 * (d_total - d_idle) / d_total))) if d_total > 0 else 0


_cpu = _CpuSampler()


def host_usage(path: Path) -> tuple[int, int, int]:
    """(CPU %, memory %, disk % at ``path``) of the host the sensor runs on."""
    memory = 0
    try:
        info = {}
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                key, _, rest = line.partition(":")
                info[key] = int(rest.split()[0])
        memory = round(100 * (info["MemTotal"] - info["MemAvailable"]) / info["MemTotal"])
    except (OSError, KeyError, ValueError, ZeroDivisionError):
        pass
    try:
        usage = shutil.disk_usage(path)
        disk = round(100 * usage.used / usage.total) if usage.total else 0
    except OSError:
        disk = 0
    return _cpu.percent(), memory, disk


def interface_state(names: list[str]) -> int:
    """1 when every live capture interface is up, 2 when one is down, 3 without live capture."""
    if not names:
        return IF_NONE
    for name in names:
        try:
            flags = int(Path(f"/sys/class/net/{name}/flags").read_text(), 16)
        except (OSError, ValueError):
            return IF_DOWN
        if not flags & 0x1:  # IFF_UP
            return IF_DOWN
    return IF_UP


# ------------------------------------------------------------------ the agent


class _Filtered(udp.UdpAsyncioTransport):  # type: ignore[misc]
    """UDP transport that drops datagrams from addresses outside the managers list."""

    allowed: frozenset[str] = frozenset()

    def datagram_received(self, datagram: bytes, transportAddress: Any) -> None:
        host = str(transportAddress[0]).removeprefix("::ffff:")
        if host in self.allowed:
            super().datagram_received(datagram, transportAddress)


class SnmpAgent:
    """One running SNMP agent; :meth:`start` binds (raising SnmpError), :meth:`stop` closes."""

    def __init__(
        self,
        cfg: SnmpConfig,
        health: Callable[[], SensorHealth],
        *,
        host: str = "0.0.0.0",
        name: str | None = None,
        started: float | None = None,
    ) -> None:
        self.cfg = cfg
        self.health = health
        self.host = host
        self.name = name or socket.gethostname()
        self.started = time.monotonic() if started is None else started  # sysUpTime counts from here
        self.port = cfg.port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._cache: tuple[float, SensorHealth] = (0.0, SensorHealth())
        self._cache_lock = threading.Lock()

    # -- values -----------------------------------------------------------------------------------
    def _health(self) -> SensorHealth:
        """One health reading per request burst (a walk reads nine values within milliseconds)."""
        with self._cache_lock:
            at, value = self._cache
            if time.monotonic() - at > 0.5:
                value = self.health()
                self._cache = (time.monotonic(), value)
            return value

    def _values(self) -> list[tuple[tuple[int, ...], Any, Callable[[], Any]]]:
        """(OID, syntax with a value (pysnmp serves only valued instances), reader)."""
        h = self._health
        return [
            ((1, 3, 6, 1, 2, 1, 1, 1), v2c.OctetString(""), lambda: self.description),
            ((1, 3, 6, 1, 2, 1, 1, 2), v2c.ObjectIdentifier(SENSOR_OID), lambda: SENSOR_OID),
            (
                (1, 3, 6, 1, 2, 1, 1, 3),
                v2c.TimeTicks(0),
                lambda: int((time.monotonic() - self.started) * 100) & 0xFFFFFFFF,
            ),
            ((1, 3, 6, 1, 2, 1, 1, 5), v2c.OctetString(""), lambda: self.name),
            ((*HEALTH, 1), v2c.Counter64(0), lambda: h().packets),
            ((*HEALTH, 2), v2c.Counter64(0), lambda: h().dropped),
            ((*HEALTH, 3), v2c.Counter64(0), lambda: h().errors),
            ((*HEALTH, 4), v2c.Gauge32(0), lambda: h().alerts_open),
            ((*HEALTH, 5), v2c.Gauge32(0), lambda: h().cpu_percent),
            ((*HEALTH, 6), v2c.Gauge32(0), lambda: h().memory_percent),
            ((*HEALTH, 7), v2c.Gauge32(0), lambda: h().disk_percent),
            ((*HEALTH, 8), v2c.Integer(0), lambda: h().interface),
            ((*HEALTH, 9), v2c.Gauge32(0), lambda: h().assets),
        ]

    @property
    def description(self) -> str:
        return f"OTWatch sensor {__version__} ({platform.system()} {platform.release()})"

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> SnmpAgent:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((self.host, self.cfg.port))
        except OSError as exc:
            sock.close()
            raise SnmpError(f"cannot serve SNMP on {self.host} port {self.cfg.port}: {exc.strerror}") from exc
        self.port = sock.getsockname()[1]
        sock.setblocking(False)
        loop = asyncio.new_event_loop()
        try:
            self._build(loop, sock)
        except Exception:
            loop.close()
            sock.close()
            raise
        self._loop = loop
        self._thread = threading.Thread(target=self._serve, name="snmp-agent", daemon=True)
        self._thread.start()
        log.info("SNMP agent (%s) serving on %s:%d", self.cfg.version, self.host, self.port)
        return self

    def _build(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        asyncio.set_event_loop(loop)  # pysnmp's dispatcher and transport take the current loop
        try:
            snmp = engine.SnmpEngine()
            transport = _Filtered(loop=loop)
            transport.allowed = self.cfg.allowed_managers
            config.add_transport(snmp, udp.DOMAIN_NAME, transport.open_server_mode(sock=sock))
            read = (1, 3, 6, 1)
            if self.cfg.version == "v3":
                auth, priv = self.cfg.v3_auth_protocol, self.cfg.v3_priv_protocol
                config.add_v3_user(
                    snmp,
                    self.cfg.v3_user,
                    _AUTH[auth],
                    self.cfg.v3_auth_key or None,
                    _PRIV[priv],
                    self.cfg.v3_priv_key or None,
                )
                level = "noAuthNoPriv" if auth == "none" else "authNoPriv" if priv == "none" else "authPriv"
                config.add_vacm_user(snmp, 3, self.cfg.v3_user, level, read)
            else:
                config.add_v1_system(snmp, "otwatch-area", self.cfg.community)
                for model in (1, 2):
                    config.add_vacm_user(snmp, model, "otwatch-area", "noAuthNoPriv", read)
            ctx = context.SnmpContext(snmp)
            builder = ctx.get_mib_instrum().get_mib_builder()
            (instance_cls,) = builder.import_symbols("SNMPv2-SMI", "MibScalarInstance")
            builder.load_modules("__SNMPv2-MIB")  # then replace its system group instances with ours
            builder.unexport_symbols("__SNMPv2-MIB", "sysDescr", "sysObjectID", "sysUpTime", "sysName")
            (scalar_cls,) = builder.import_symbols("SNMPv2-SMI", "MibScalar")

            class Live(instance_cls):  # type: ignore[misc, valid-type]
                reader: Callable[[], Any]

                def getValue(self, name: Any, **context: Any) -> Any:
                    return self.getSyntax().clone(self.reader())

            symbols: dict[str, Any] = {}
            for i, (oid, syntax, reader) in enumerate(self._values()):
                inst = Live(oid, (0,), syntax)
                inst.reader = reader
                symbols[f"otwatchInst{i}"] = inst
                if oid[:7] == HEALTH[:7]:  # our own objects need their MIB scalar too
                    symbols[f"otwatchObj{i}"] = scalar_cls(oid, syntax).setMaxAccess("read-only")
            builder.export_symbols("__OTWATCH-SENSOR-MIB", **symbols)
            cmdrsp.GetCommandResponder(snmp, ctx)
            cmdrsp.NextCommandResponder(snmp, ctx)
            cmdrsp.BulkCommandResponder(snmp, ctx)
            self._engine = snmp
        finally:
            asyncio.set_event_loop(None)

    def _serve(self) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            self._engine.transport_dispatcher.job_started(1)
            loop.run_forever()
        finally:
            try:
                self._engine.transport_dispatcher.close_dispatcher()
            except Exception:  # closing must not raise on the way out
                log.debug("closing the SNMP dispatcher failed", exc_info=True)
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    def stop(self, timeout: float = 5.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._loop = self._thread = None
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        log.info("SNMP agent on port %d stopped", self.port)


class SnmpService:
    """Keeps one agent in line with the settings: started when enabled, restarted when the settings
    or this sensor's secrets change, stopped when disabled; the reason it is not serving is kept.
    :meth:`apply` is cheap when nothing changed, so the sensor calls it again with every report (a
    secret set on the sensor, or a port that became free, takes effect within one report period)."""

    def __init__(
        self,
        health: Callable[[], SensorHealth],
        secrets: Callable[[], dict[str, str]],
        *,
        host: str = "0.0.0.0",
    ) -> None:
        self.health, self.secrets, self.host = health, secrets, host
        self.agent: SnmpAgent | None = None
        self.error: str | None = None
        self.started = time.monotonic()  # the sensor's start: sysUpTime survives agent restarts
        self._lock = threading.Lock()

    def apply(self, settings: dict[str, Any] | None) -> None:
        with self._lock:
            if not settings or not settings.get("enabled"):
                self._stop()
                self.error = None
                return
            try:
                cfg = SnmpConfig.from_settings(settings, self.secrets())
            except (SnmpError, ValueError) as exc:
                self._stop()
                self._failed(str(exc))
                return
            if self.agent is not None and self.agent.cfg == cfg:
                return
            self._stop()
            try:
                self.agent = SnmpAgent(cfg, self.health, host=self.host, started=self.started).start()
                self.error = None
            except SnmpError as exc:
                self._failed(str(exc))

    def _failed(self, error: str) -> None:
        if error != self.error:  # apply() runs again every report: say it once
            log.warning("SNMP MIB monitoring not served: %s", error)
        self.error = error

    def _stop(self) -> None:
        if self.agent is not None:
            self.agent.stop()
            self.agent = None

    def stop(self) -> None:
        with self._lock:
            self._stop()

    def status(self) -> dict[str, Any]:
        agent = self.agent
        return {"serving": agent is not None, "port": agent.port if agent else None, "error": self.error}


def disk_path(state_dir: Path) -> Path:
    """Where disk usage is measured: the sensor's state directory (or / when it is gone)."""
    return state_dir if state_dir.exists() else Path(os.sep)


def kernel_drops(sock: socket.socket) -> int:
    """Frames the kernel dropped on an AF_PACKET socket since the previous call (the kernel resets
    its counters on every read); 0 for other sockets."""
    try:
        raw = sock.getsockopt(_SOL_PACKET, _PACKET_STATISTICS, 8)
    except OSError:
        return 0
    return int(struct.unpack("=II", raw)[1])
