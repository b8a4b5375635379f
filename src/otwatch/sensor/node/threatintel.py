"""Threat-intelligence packages on the sensor: verify, install atomically, load at start.

A threat-intelligence package is a signed update package (:mod:`otwatch.wire.package`, kind
``threat-intel``) whose payload holds ``intel.json``::

    {"name": "ICS indicators", "ips": ["203.0.113.7"], "domains": ["evil.example"],
     "hashes": ["<sha256 of a file>"], "patterns": [{"name": "TRITON", "transport": "udp",
     "port": 1502, "description": "..."}]}

The console sends a ``threat_intel`` command; the sensor downloads the package over its mTLS link,
checks the signature against the release keys pinned at enrolment and refuses an older version,
validates every indicator, and only then replaces ``threat-intel/current.json`` (written to a
temporary file, fsync'd, renamed). The Malware engine uses it at once and after every restart.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from otwatch.sensor.engines.malware import ThreatIntel
from otwatch.wire import package

__all__ = ["INTEL_FILE", "Installed", "IntelStore", "parse_intel"]

KIND: Final = "threat-intel"
INTEL_FILE: Final = "intel.json"
MAX_INDICATORS: Final = 1_000_000
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,62})\.)*[a-z0-9_]([a-z0-9_-]{0,62})$")


@dataclass(frozen=True, slots=True)
class Installed:
    intel: ThreatIntel
    version: str
    sha256: str  # of the package file
    installed_at: str

    def summary(self) -> dict[str, Any]:
        """What the sensor reports to the console (per-sensor version in use)."""
        i = self.intel
        return {
            "name": i.name, "version": self.version, "sha256": self.sha256, "installed_at": self.installed_at,
            "ips": len(i.ips), "domains": len(i.domains), "hashes": len(i.hashes),
            "patterns": len(i.patterns),
        }  # fmt: skip


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise package.PackageError(f"{INTEL_FILE}: {key} must be a list")
    return value


def parse_intel(raw: bytes, version: str) -> ThreatIntel:
    """The indicators of ``intel.json``, each checked; PackageError names the first bad one."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise package.PackageError(f"{INTEL_FILE} is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise package.PackageError(f"{INTEL_FILE} must hold a JSON object")
    ips, domains, hashes = _list(data, "ips"), _list(data, "domains"), _list(data, "hashes")
    patterns = _list(data, "patterns")
    if len(ips) + len(domains) + len(hashes) + len(patterns) > MAX_INDICATORS:
        raise package.PackageError(f"{INTEL_FILE} holds more than {MAX_INDICATORS} indicators")
    for ip in ips:
        try:
            ipaddress.ip_address(str(ip))
        except ValueError:
            raise package.PackageError(f"{INTEL_FILE}: {ip!r} is not an IP address") from None
    for d in domains:
        if not isinstance(d, str) or not _DOMAIN.match(d.lower().rstrip(".")):
            raise package.PackageError(f"{INTEL_FILE}: {d!r} is not a domain name")
    for h in hashes:
        if not isinstance(h, str) or not _SHA256.match(h.lower()):
            raise package.PackageError(f"{INTEL_FILE}: {h!r} is not a SHA-256 (64 hex digits)")
    for p in patterns:
        if (
            not isinstance(p, dict)
            or not isinstance(p.get("name"), str)
            or p.get("transport", "tcp") not in ("tcp", "udp")
            or not isinstance(p.get("port"), int)
            or not 0 < p["port"] < 65536
        ):
            raise package.PackageError(f"{INTEL_FILE}: pattern {p!r} needs a name, tcp/udp and a port")
    return ThreatIntel.from_dict(
        {**data, "ips": [str(ipaddress.ip_address(str(i))) for i in ips], "version": version}
    )


class IntelStore:
    """The installed package of one sensor, under ``<state>/threat-intel/``."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / "threat-intel"
        self.current = self.dir / "current.json"

    def load(self) -> Installed | None:
        try:
            saved = json.loads(self.current.read_text(encoding="utf-8"))
            return Installed(
                parse_intel(json.dumps(saved["intel"]).encode(), str(saved["version"])),
                str(saved["version"]),
                str(saved["sha256"]),
                str(saved["installed_at"]),
            )
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):  # PackageError is a ValueError
            return None  # a damaged file: run on the built-in patterns until the next package

    def install(
        self, data: bytes, trusted: Iterable[package.Ed25519PublicKey]
    ) -> tuple[Installed, str | None]:
        """Verify and install a package; returns (installed, version before). Refuses a version that
        is not newer than the installed one (PackageError); the installed one stays in use."""
        pkg = package.verify(data, trusted)
        before = self.load()
        package.check_upgrade(pkg.manifest, KIND, before.version if before else None)
        raw = pkg.files.get(INTEL_FILE)
        if raw is None:
            raise package.PackageError(f"threat-intelligence package has no {INTEL_FILE}")
        intel = parse_intel(raw, pkg.manifest.version)
        installed = Installed(intel, pkg.manifest.version, pkg.sha256, datetime.now(UTC).isoformat())
        self.dir.mkdir(parents=True, exist_ok=True)
        record = {
            "version": installed.version, "sha256": installed.sha256,
            "installed_at": installed.installed_at, "intel": json.loads(raw),
        }  # fmt: skip
        tmp = self.current.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.current)
        dir_fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a power cut
        finally:
            os.close(dir_fd)
        return installed, before.version if before else None
