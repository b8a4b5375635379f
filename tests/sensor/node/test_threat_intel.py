"""Threat-intelligence packages on the sensor: signed install, HTTP file hashes, the Malware engine."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from otwatch.protocols.registry import PROTOCOLS
from otwatch.sensor.capture import synth
from otwatch.sensor.node.managed import SensorNode
from otwatch.sensor.node.threatintel import IntelStore
from otwatch.sensor.pipeline.sensor import Sensor, httpfiles
from otwatch.sensor.tracking.alerts import Alert
from otwatch.wire import package
from otwatch.wire.client import NodeState

FIRMWARE = bytes(range(256)) * 400 + b"TRITON-like payload"  # 102 KB, spans many segments
UPLOAD = b"PROJECT" * 3000
INTEL: dict[str, Any] = {
    "name": "ICS indicators",
    "ips": ["203.0.113.7"],
    "domains": ["evil.example"],
    "hashes": [hashlib.sha256(FIRMWARE).hexdigest(), hashlib.sha256(UPLOAD).hexdigest().upper()],
    "patterns": [{"name": "PIPEDREAM", "transport": "tcp", "port": 1217, "description": "CODESYS abuse"}],
}


@pytest.fixture
def key() -> tuple[package.Ed25519PrivateKey, list[package.Ed25519PublicKey]]:
    priv, pub = package.generate_release_key()
    return package.load_private(priv), [package.load_public(pub)]


def intel_package(
    private: package.Ed25519PrivateKey, version: str, intel: dict[str, Any] | None = None
) -> bytes:
    body = json.dumps(INTEL if intel is None else intel).encode()
    return package.build("threat-intel", version, "0", {"intel.json": body}, private)


def plant_with_indicators() -> synth.Net:
    """HTTP downloads (Content-Length in pieces, chunked, HEAD) and an upload, a DNS query for a
    listed domain's subdomain, a connection to a listed IP, and one to a listed port pattern."""
    net = synth.Net()
    eng, web = net.host("eng", "10.0.0.5"), net.host("web", "10.0.0.80")
    dns, evil = net.host("dns", "10.0.0.53"), net.host("evil", "203.0.113.7")
    s = net.session(eng, web, 80).open()
    s.send(b"GET /fw/firmware.bin HTTP/1.1\r\nHost: web\r\n\r\n", ack=True)
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {len(FIRMWARE)}\r\n\r\n"
    data = head.encode() + FIRMWARE
    for i in range(0, len(data), 1400):
        s.send(data[i : i + 1400], from_client=False, ack=True)
    s.send(b"HEAD /fw/firmware.bin HTTP/1.1\r\nHost: web\r\n\r\n")
    s.send(f"HTTP/1.1 200 OK\r\nContent-Length: {len(FIRMWARE)}\r\n\r\n".encode(), from_client=False)
    s.send(b"GET /notes.txt HTTP/1.1\r\nHost: web\r\n\r\n")
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    s.send(chunked[:30], from_client=False)
    s.send(chunked[30:], from_client=False)
    up = f"POST /upload HTTP/1.1\r\nHost: web\r\nContent-Length: {len(UPLOAD)}\r\n\r\n".encode() + UPLOAD
    for i in range(0, len(up), 1400):
        s.send(up[i : i + 1400], ack=True)
    s.send(b"HTTP/1.1 204 No Content\r\n\r\n", from_client=False)
    net.udp(eng, dns, 53001, 53, synth.dns_query("c2.evil.example"))
    net.syn(eng, evil, 49200, 443)
    net.syn(eng, web, 49201, 1217)
    return net


def alerts_by_code(sensor: Sensor) -> dict[str, list[Alert]]:
    out: dict[str, list[Alert]] = {}
    for a in sensor.alerts.alerts.values():
        out.setdefault(a.type.code, []).append(a)
    return out


def test_http_bodies_are_hashed_in_order_whatever_the_segmenting() -> None:
    d = httpfiles.HttpFiles()
    got = d.feed(
        b"GET /a HTTP/1.1\r\nUser-Agent: curl/8.5\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nab",
        True,
    )
    got += d.feed(b"c", True)
    response = (
        f"HTTP/1.1 200 OK\r\nServer: Boa/0.94\r\nContent-Length: {len(FIRMWARE)}\r\n\r\n".encode() + FIRMWARE
    )
    for i in range(0, len(response), 999):
        got += d.feed(response[i : i + 999], False)
    # the first headers each way, as protocols.http reads them on other ports: software names
    heads = [r for r in got if "sha256" not in r.fields]
    assert [(r.direction, r.fields.get("user_agent"), r.fields.get("server")) for r in heads] == [
        ("request", "curl/8.5", None),
        ("response", None, "Boa/0.94"),
    ]
    identities = [httpfiles.SPEC.identity_from(r) for r in heads]
    assert [i.extra for i in identities if i] == [
        {"http_user_agent": "curl/8.5"},
        {"http_server": "Boa/0.94"},
    ]
    records = [r for r in got if "sha256" in r.fields]
    assert [(r.direction, r.fields["uri"], r.fields["size"], r.fields["sha256"]) for r in records] == [
        ("request", "/b", 3, hashlib.sha256(b"abc").hexdigest()),
        ("response", "/a", len(FIRMWARE), hashlib.sha256(FIRMWARE).hexdigest()),
    ]
    # a body that ends only with the connection cannot be hashed; garbage stops framing quietly
    assert not [
        r for r in d.feed(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabc", False) if "sha256" in r.fields
    ]
    assert httpfiles.HttpFiles().feed(b"\x03\x00\x00\x16 not http\r\n\r\n", True) == []


def test_the_malware_engine_uses_every_kind_of_indicator() -> None:
    from otwatch.sensor.engines.malware import ThreatIntel

    sensor = Sensor(
        intel=ThreatIntel.from_dict({**INTEL, "version": "1.0"}), specs=(*PROTOCOLS, httpfiles.SPEC)
    )
    for frame in plant_with_indicators():
        sensor.process(*frame)
    assert sensor.errors == 0, sensor.last_error
    got = alerts_by_code(sensor)
    files = {a.details.get("sha256"): a for a in got["ICS_MALWARE"] if a.details.get("sha256")}
    assert set(files) == {hashlib.sha256(FIRMWARE).hexdigest(), hashlib.sha256(UPLOAD).hexdigest()}
    download = files[hashlib.sha256(FIRMWARE).hexdigest()]
    assert download.details["uri"] == "/fw/firmware.bin" and "10.0.0.80" in download.description
    assert download.count == 1  # the HEAD response carried no body: not a second sighting
    patterns = {a.details.get("pattern") for a in got["ICS_MALWARE"]}
    assert "PIPEDREAM" in patterns
    assert [a.details["indicator"] for a in got["MALICIOUS_DOMAIN"]] == ["evil.example"]
    assert [a.details["indicator"] for a in got["MALICIOUS_IP"]] == ["203.0.113.7"]


def test_without_the_package_nothing_matches() -> None:
    sensor = Sensor(specs=(*PROTOCOLS, httpfiles.SPEC))
    for frame in plant_with_indicators():
        sensor.process(*frame)
    got = alerts_by_code(sensor)
    assert "MALICIOUS_IP" not in got and "MALICIOUS_DOMAIN" not in got
    assert not any(a.details.get("sha256") for a in got.get("ICS_MALWARE", []))


def test_install_verifies_and_replaces_atomically(tmp_path: Path, key: Any) -> None:
    private, trusted = key
    store = IntelStore(tmp_path)
    assert store.load() is None
    installed, before = store.install(intel_package(private, "1.0"), trusted)
    assert before is None and installed.version == "1.0"
    assert installed.summary() | {"installed_at": "", "sha256": ""} == {
        "name": "ICS indicators", "version": "1.0", "installed_at": "", "sha256": "",
        "ips": 1, "domains": 1, "hashes": 2, "patterns": 2,  # PIPEDREAM and the built-in TRITON
    }  # fmt: skip
    saved = store.current.read_bytes()

    other_priv, _ = package.generate_release_key()
    refusals = {
        "signature does not match": intel_package(package.load_private(other_priv), "2.0"),
        "not newer than the installed 1.0": intel_package(private, "0.9"),
        "is not an IP address": intel_package(private, "2.0", {**INTEL, "ips": ["10.0.0.300"]}),
        "is not a SHA-256": intel_package(private, "2.0", {**INTEL, "hashes": ["abc"]}),
        "needs a name, tcp/udp and a port": intel_package(private, "2.0", {"patterns": [{"name": "x"}]}),
        "not a threat-intel package": package.build("otd", "2.0", "0", {"engine.json": b"{}"}, private),
        "has no intel.json": package.build("threat-intel", "2.0", "0", {"other.json": b"{}"}, private),
    }
    for reason, data in refusals.items():
        with pytest.raises(package.PackageError, match=reason):
            store.install(data, trusted)
        assert store.current.read_bytes() == saved  # the installed package stays in use
    tampered = bytearray(intel_package(private, "2.0"))
    tampered[tampered.index(b"203.0.113.7")] ^= 1
    with pytest.raises(package.PackageError, match="tampered"):
        store.install(bytes(tampered), trusted)

    installed, before = store.install(
        intel_package(private, "2.0", {**INTEL, "ips": ["198.51.100.1"]}), trusted
    )
    assert (before, installed.version) == ("1.0", "2.0")
    loaded = store.load()
    assert loaded is not None and loaded.intel.ips == frozenset({"198.51.100.1"}) and loaded.version == "2.0"
    assert not list(store.dir.glob("*.tmp"))


def test_a_sensor_starts_with_the_installed_package(tmp_path: Path, key: Any) -> None:
    private, trusted = key
    state = NodeState(tmp_path / "sensor")
    IntelStore(state.dir).install(intel_package(private, "3.1"), trusted)
    node = SensorNode(state, [])
    try:
        assert node.sensor.malware_engine.intel.version == "3.1"
        for frame in plant_with_indicators():
            node.sensor.process(*frame)
        assert "MALICIOUS_IP" in alerts_by_code(node.sensor)
        system = next(r for r in node.build_reports() if r.kind == "stats").stats["system"]
        assert system["threat_intel"]["version"] == "3.1" and system["threat_intel"]["hashes"] == 2
        node.clear_data()  # a fresh pipeline keeps using the package
        assert node.sensor.malware_engine.intel.version == "3.1"
    finally:
        node.stop()
