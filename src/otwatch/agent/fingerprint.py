"""Phase 3, Initial Enrichment: a first guess of vendor, model and device type from what the host
already shows: service banners (HTTP ``Server``, SSH, telnet, FTP) and which OT ports are open.

These guesses rank below protocol answers (phase 4/5) when an asset is merged: a Modbus identity
beats a web server string. Only passive reads plus one ``HEAD`` request; no version probes.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from otwatch.agent.safety import ScanContext
from otwatch.inventory.identity import DeviceType, Identity

#: Banner services and their default ports; overridable through the scan's port map.
BANNER_SERVICES: dict[str, int] = {
    "ftp": 21,
    "ssh": 22,
    "telnet": 23,
    "http": 80,
    "https": 443,
    "http-alt": 8080,
}

_MAX_BANNER = 1024
_IAC = 255


@dataclass(slots=True)
class Rule:
    pattern: re.Pattern[str]
    vendor: str | None = None
    device_type: DeviceType | None = None
    model_group: int | None = None  # regex group carrying the model, when the banner names it
    os: str | None = None


def _r(
    rx: str,
    vendor: str | None = None,
    device_type: DeviceType | None = None,
    model_group: int | None = None,
    os: str | None = None,
) -> Rule:
    return Rule(re.compile(rx, re.IGNORECASE), vendor, device_type, model_group, os)


#: Banner rules, most specific first; every match fills only what earlier matches left unknown.
RULES: tuple[Rule, ...] = (
    _r(r"SIMATIC[ -]?(S7-\d+\S*|HMI\S*)", "Siemens", DeviceType.PLC, 1),
    _r(r"Siemens|SIMATIC", "Siemens"),
    _r(r"Modicon\s+(M\d+\S*)", "Schneider Electric", DeviceType.PLC, 1),
    _r(r"Schneider|Modicon", "Schneider Electric"),
    _r(r"Allen-Bradley|Rockwell", "Rockwell Automation"),
    _r(r"WAGO", "WAGO"),
    _r(r"Phoenix[ -]?Contact", "Phoenix Contact"),
    _r(r"Hirschmann", "Hirschmann", DeviceType.SWITCH),
    _r(r"Moxa", "Moxa"),
    _r(r"Beckhoff|TwinCAT", "Beckhoff"),
    _r(r"Omron", "Omron"),
    _r(r"Mitsubishi|MELSEC", "Mitsubishi Electric"),
    _r(r"Cisco", "Cisco", DeviceType.SWITCH),
    _r(r"ROSSSH|MikroTik", "MikroTik"),
    _r(r"Microsoft-IIS|Microsoft FTP", "Microsoft", DeviceType.IT_HOST, os="Windows"),
    _r(r"VxWorks", None, None, os="VxWorks"),
    _r(r"OpenSSH[_-][\w.]+ (Ubuntu|Debian|Raspbian)", None, None, os="Linux"),
)

#: Ports whose being open says what kind of device this is (an OT protocol server is a controller).
OT_PORT_HINTS: dict[int, tuple[str | None, DeviceType]] = {
    102: ("Siemens", DeviceType.PLC),
    44818: (None, DeviceType.PLC),
    502: (None, DeviceType.PLC),
    2404: (None, DeviceType.RTU),
    20000: (None, DeviceType.RTU),
    9600: ("Omron", DeviceType.PLC),
    5007: ("Mitsubishi Electric", DeviceType.PLC),
    1962: ("Phoenix Contact", DeviceType.PLC),
    20547: (None, DeviceType.PLC),
    18245: ("GE", DeviceType.PLC),
    2455: (None, DeviceType.PLC),
}
_WINDOWS_PORTS = frozenset({3389, 445})


@dataclass(slots=True)
class Fingerprint:
    vendor: str | None = None
    model: str | None = None
    device_type: DeviceType | None = None
    os: str | None = None
    banners: dict[str, str] = field(default_factory=dict)

    def as_identity(self) -> Identity:
        extra: dict[str, object] = {}
        if self.os:
            extra["os"] = self.os
        if self.banners:
            extra["banners"] = dict(self.banners)
        return Identity(
            protocol="fingerprint",
            vendor=self.vendor,
            model=self.model,
            device_type=self.device_type,
            extra=extra,
        )


def _clean(raw: bytes) -> str:
    """Strip telnet option negotiation and control bytes; keep the first meaningful line."""
    out = bytearray()
    i = 0
    while i < len(raw):
        b = raw[i]
        if b == _IAC and i + 1 < len(raw):
            i += 3 if raw[i + 1] in (251, 252, 253, 254) else 2
            continue
        out.append(b)
        i += 1
    text = out.decode("latin-1")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return "".join(c for c in (lines[0] if lines else "") if c.isprintable())[:200]


def http_server_header(response: bytes) -> str | None:
    """The ``Server`` header of an HTTP response, None when absent or not HTTP."""
    head = response.split(b"\r\n\r\n", 1)[0].decode("latin-1", "replace")
    if not head.startswith("HTTP/"):
        return None
    for line in head.split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() == "server":
            return value.strip()[:200] or None
    return None


async def _read_some(reader: asyncio.StreamReader, timeout: float) -> bytes:
    try:
        return await asyncio.wait_for(reader.read(_MAX_BANNER), timeout)
    except (TimeoutError, OSError):
        return b""


async def grab_banner(ctx: ScanContext, host: str, port: int, service: str) -> str | None:
    """One connection, at most one request, then FIN. Caller holds ``ctx.exclusive(host)``."""
    timeout = ctx.policy.response_timeout
    if service in ("http", "http-alt", "https"):
        tls: ssl.SSLContext | None = None
        if service == "https":
            tls = ssl.create_default_context()
            tls.check_hostname = False
            tls.verify_mode = ssl.CERT_NONE  # identification only; embedded devices use self-signed
        await ctx.before_send(host)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=tls), ctx.policy.connect_timeout + timeout
            )
        except (TimeoutError, OSError):
            return None
        ctx.token.track(writer.transport)
        try:
            writer.write(f"HEAD / HTTP/1.0\r\nHost: {host}\r\nUser-Agent: otwatch-agent\r\n\r\n".encode())
            await ctx.before_send(host)
            await writer.drain()
            data = b""
            while b"\r\n\r\n" not in data and len(data) < 8192:
                chunk = await _read_some(reader, timeout)
                if not chunk:
                    break
                data += chunk
            return http_server_header(data)
        finally:
            await ctx.close_tcp(writer)
    try:
        reader, writer = await ctx.open_tcp(host, port)
    except (TimeoutError, OSError):
        return None
    try:
        return _clean(await _read_some(reader, timeout)) or None
    finally:
        await ctx.close_tcp(writer)


def classify(banners: Mapping[str, str], open_ports: Iterable[int]) -> Fingerprint:
    """Apply the rules to the banners, then the port hints to fill what is still unknown."""
    fp = Fingerprint(banners=dict(banners))
    for text in banners.values():
        for rule in RULES:
            m = rule.pattern.search(text)
            if m is None:
                continue
            fp.vendor = fp.vendor or rule.vendor
            fp.device_type = fp.device_type or rule.device_type
            fp.os = fp.os or rule.os
            if rule.model_group is not None and fp.model is None:
                fp.model = m.group(rule.model_group)
    ports = set(open_ports)
    for port, (vendor, dtype) in OT_PORT_HINTS.items():
        if port in ports:
            fp.vendor = fp.vendor or vendor
            fp.device_type = fp.device_type or dtype
    if fp.device_type is None and (ports & _WINDOWS_PORTS):
        fp.device_type = DeviceType.IT_HOST
        fp.os = fp.os or "Windows"
    if fp.device_type is None and fp.os in ("Linux", "Windows"):
        fp.device_type = DeviceType.IT_HOST
    return fp
