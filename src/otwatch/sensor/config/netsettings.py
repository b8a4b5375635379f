"""Sensor network settings (the management interface): validated values, no host specifics.

What the "Sensor network settings" form edits: IP address, subnet mask, default gateway, DNS servers,
hostname and an optional web proxy. :func:`validate` turns the form's text into
:class:`NetworkSettings` or a message per field; :mod:`otwatch.sensor.local.hostnet` writes them to a host.
IPv4 only, like the management port of the appliances this console mirrors.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

MAX_DNS: Final = 3  # resolv.conf uses at most three name servers (MAXNS)
_LABEL: Final = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_IFACE: Final = re.compile(r"^[A-Za-z0-9_.:-]{1,15}$")


@dataclass(frozen=True, slots=True)
class Proxy:
    host: str
    port: int
    username: str = ""
    password: str = ""

    def url(self, *, with_password: bool = True) -> str:
        from urllib.parse import quote

        auth = ""
        if self.username:
            auth = quote(self.username, safe="")
            if self.password:
                auth += ":" + (quote(self.password, safe="") if with_password else "***")
            auth += "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{auth}{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class NetworkSettings:
    ip: str
    mask: str  # dotted quad, contiguous
    gateway: str
    dns: tuple[str, ...] = ()
    hostname: str = ""
    interface: str = "eth0"
    proxy: Proxy | None = None

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(f"{self.ip}/{self.mask}", strict=False)

    @property
    def prefix(self) -> int:
        return self.network.prefixlen

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["dns"] = list(self.dns)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NetworkSettings:
        proxy = data.get("proxy")
        return cls(
            ip=str(data["ip"]),
            mask=str(data["mask"]),
            gateway=str(data["gateway"]),
            dns=tuple(str(d) for d in data.get("dns", ())),
            hostname=str(data.get("hostname", "")),
            interface=str(data.get("interface", "eth0")),
            proxy=Proxy(**proxy) if isinstance(proxy, Mapping) else None,
        )


class NetworkErrors(ValueError):
    """Field name -> message, for every field that is wrong (not just the first)."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(fields.values()))
        self.fields = fields


def is_hostname(name: str) -> bool:
    """RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens, each 1-63
    characters, 253 in all; a label may start with a digit, but an all-numeric name is an address."""
    if not name or len(name) > 253 or name.endswith("."):
        return False
    labels = name.split(".")
    if not all(_LABEL.match(label) for label in labels):
        return False
    return not labels[-1].isdigit()


def parse_mask(text: str) -> ipaddress.IPv4Address:
    """``255.255.255.0`` or ``/24`` / ``24`` -> the dotted mask; ValueError says what is wrong."""
    t = text.strip()
    if t.lstrip("/").isdigit():
        bits = int(t.lstrip("/"))
        if not 0 <= bits <= 32:
            raise ValueError(f"Subnet mask: /{bits} is not a prefix length (0-32)")
        return ipaddress.IPv4Network(f"0.0.0.0/{bits}").netmask
    try:
        mask = ipaddress.IPv4Address(t)
    except ValueError:
        raise ValueError(f"Subnet mask: {text!r} is not a mask like 255.255.255.0 or /24") from None
    value = int(mask)
    inverted = ~value & 0xFFFFFFFF
    if inverted & (inverted + 1):
        raise ValueError(
            f"Subnet mask: {t} is not contiguous (its one-bits must all come first, e.g. 255.255.255.0)"
        )
    return mask


def _ipv4(text: str, label: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(text.strip())
    except ValueError:
        raise ValueError(f"{label}: {text.strip()!r} is not an IPv4 address") from None


def validate(form: Mapping[str, str]) -> NetworkSettings:
    """Form fields (ip, mask, gateway, dns, hostname, interface, proxy_enabled, proxy_host,
    proxy_port, proxy_username, proxy_password) -> settings, or :class:`NetworkErrors`."""
    errors: dict[str, str] = {}

    def get(name: str) -> str:
        return str(form.get(name, "") or "").strip()

    ip = mask = None
    try:
        ip = _ipv4(get("ip"), "IP address")
        if (
            ip.is_multicast
            or ip.is_unspecified
            or ip.is_loopback
            or ip == ipaddress.IPv4Address("255.255.255.255")
        ):
            raise ValueError(f"IP address: {ip} cannot be a host's address")
    except ValueError as exc:
        errors["ip"] = str(exc)
        ip = None
    try:
        mask = parse_mask(get("mask"))
        if int(mask) == 0:
            raise ValueError("Subnet mask: 0.0.0.0 leaves no subnet")
    except ValueError as exc:
        errors["mask"] = str(exc)
        mask = None
    net = ipaddress.IPv4Network(f"{ip}/{mask}", strict=False) if ip and mask else None
    if net is not None and ip is not None and net.prefixlen < 31:
        if ip == net.network_address:
            errors["ip"] = f"IP address: {ip} is the network address of {net}"
        elif ip == net.broadcast_address:
            errors["ip"] = f"IP address: {ip} is the broadcast address of {net}"
    gateway = None
    try:
        gateway = _ipv4(get("gateway"), "Default gateway")
        if net is not None and gateway not in net:
            raise ValueError(f"Default gateway: {gateway} is outside the subnet {net}")
        if ip is not None and gateway == ip:
            raise ValueError("Default gateway: must not be the sensor's own IP address")
        if net is not None and net.prefixlen < 31 and gateway in (net.network_address, net.broadcast_address):
            raise ValueError(f"Default gateway: {gateway} is the network or broadcast address of {net}")
    except ValueError as exc:
        errors["gateway"] = str(exc)
    dns: list[str] = []
    for item in re.split(r"[\s,;]+", get("dns")):
        if not item:
            continue
        try:
            dns.append(str(_ipv4(item, "DNS")))
        except ValueError as exc:
            errors["dns"] = str(exc)
            break
    if "dns" not in errors:
        if not dns:
            errors["dns"] = "DNS: give at least one DNS server"
        elif len(dns) > MAX_DNS:
            errors["dns"] = f"DNS: at most {MAX_DNS} servers (resolv.conf uses no more)"
    hostname = get("hostname")
    if hostname and not is_hostname(hostname):
        errors["hostname"] = (
            f"Hostname: {hostname!r} is not a valid RFC 1123 host name (letters, digits and hyphens; "
            "labels of 1-63 characters that do not start or end with a hyphen)"
        )
    interface = get("interface") or "eth0"
    if not _IFACE.match(interface):
        errors["interface"] = f"Interface: {interface!r} is not an interface name"
    proxy = None
    if get("proxy_enabled") in ("1", "on", "true", "yes"):
        phost, pport = get("proxy_host"), get("proxy_port")
        try:
            ipaddress.ip_address(phost)
            host_ok = True
        except ValueError:
            host_ok = is_hostname(phost)
        if not phost:
            errors["proxy_host"] = "Proxy host: required when the proxy is enabled"
        elif not host_ok:
            errors["proxy_host"] = f"Proxy host: {phost!r} is not a host name or IP address"
        port = int(pport) if pport.isdigit() else 0
        if not 0 < port < 65536:
            errors["proxy_port"] = f"Proxy port: {pport!r} is not a port (1-65535)"
        user, password = get("proxy_username"), str(form.get("proxy_password", "") or "")
        if password and not user:
            errors["proxy_username"] = "Proxy username: required when a proxy password is given"
        if not errors.keys() & {"proxy_host", "proxy_port", "proxy_username"}:
            proxy = Proxy(phost, port, user, password)
    if errors:
        raise NetworkErrors(errors)
    assert ip is not None and mask is not None and gateway is not None
    return NetworkSettings(str(ip), str(mask), str(gateway), tuple(dns), hostname, interface, proxy)
