"""DNS reverse lookup: asset names from PTR answers of a tiny hand-built DNS responder on loopback."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from otwatch.sensor.capture import synth
from otwatch.sensor.node.dnslookup import LookupConfig, ReverseLookup, ptr_query
from otwatch.sensor.node.managed import SensorNode
from otwatch.wire.client import NodeState

pytestmark = pytest.mark.network


def _encode_name(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\x00"


class PtrResponder:
    """Answers PTR queries from a table; NXDOMAIN for anything else. Written from RFC 1035, not with
    the library under test, so the sensor's queries and its parsing of answers are both checked."""

    def __init__(self, names: dict[str, str], delay: float = 0.0) -> None:
        self.names, self.delay = names, delay
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.queries: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(512)
            except TimeoutError:
                continue
            except OSError:
                return
            reply = self.answer(data)
            if reply is not None:
                if self.delay:
                    time.sleep(self.delay)
                self.sock.sendto(reply, peer)

    def answer(self, query: bytes) -> bytes | None:
        if len(query) < 12:
            return None
        ident, flags, qdcount = struct.unpack("!HHH", query[:6])
        if flags & 0x8000 or qdcount != 1:
            return None
        labels, i = [], 12
        while query[i]:
            n = query[i]
            labels.append(query[i + 1 : i + 1 + n].decode())
            i += 1 + n
        qtype, qclass = struct.unpack("!HH", query[i + 1 : i + 5])
        question = query[12 : i + 5]
        qname = ".".join(labels).lower()
        self.queries.append(qname)
        rd = flags & 0x0100
        target = None
        if qtype == 12 and qclass == 1 and qname.endswith(".in-addr.arpa"):
            octets = qname[: -len(".in-addr.arpa")].split(".")
            target = self.names.get(".".join(reversed(octets)))
        if target is None:
            return struct.pack("!HHHHHH", ident, 0x8180 | rd | 3, 1, 0, 0, 0) + question  # NXDOMAIN
        rdata = _encode_name(target)
        record = struct.pack("!HHHIH", 0xC00C, 12, 1, 300, len(rdata)) + rdata  # name: pointer to question
        return struct.pack("!HHHHHH", ident, 0x8180 | rd, 1, 1, 0, 0) + question + record

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def responder() -> Iterator[PtrResponder]:
    r = PtrResponder({"10.10.0.10": "s7-plc.plant.local", "10.10.0.20": "hmi-1.plant.local."})
    yield r
    r.close()


def _cfg(port: int, **over: Any) -> LookupConfig:
    raw = {
        "enabled": True,
        "servers": ["127.0.0.1"],
        "port": port,
        "subnets": ["10.10.0.0/24"],
        "timeout": 1.0,
    }
    return LookupConfig.from_settings({**raw, **over})


def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_ptr_query_names_misses_and_silence(responder: PtrResponder) -> None:
    cfg = _cfg(responder.port)
    assert ptr_query("10.10.0.10", cfg) == "s7-plc.plant.local"
    assert ptr_query("10.10.0.20", cfg) == "hmi-1.plant.local"
    assert ptr_query("10.10.0.99", cfg) is None  # NXDOMAIN
    assert responder.queries[0] == "10.0.10.10.in-addr.arpa"
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never answers
    silent.bind(("127.0.0.1", 0))
    try:
        with pytest.raises(TimeoutError):
            ptr_query("10.10.0.10", _cfg(silent.getsockname()[1], timeout=0.2))
        # a silent first server: the second one answers
        both = LookupConfig.from_settings(
            {"enabled": True, "servers": ["127.0.0.2", "127.0.0.1"], "subnets": ["10.0.0.0/8"], "timeout": 0.2,
             "port": responder.port}
        )  # fmt: skip
        assert ptr_query("10.10.0.10", both) == "s7-plc.plant.local"
    finally:
        silent.close()


def test_lookup_is_cached_rate_bounded_and_scoped_to_subnets(responder: PtrResponder) -> None:
    lookup = ReverseLookup(rate=20.0)
    settings = {
        "enabled": True,
        "servers": ["127.0.0.1"],
        "port": responder.port,
        "subnets": ["10.10.0.0/24"],
    }
    assert lookup.configure(settings)
    assert not lookup.configure(settings)  # the same settings change nothing
    try:
        assert lookup.wanted("10.10.0.10") and not lookup.wanted("192.168.1.1") and not lookup.wanted(None)
        started = time.monotonic()
        for ip in ("10.10.0.10", "10.10.0.20", "10.10.0.99", "10.10.0.10"):
            lookup.submit(ip)
        names: dict[str, str] = {}
        wait_for(lambda: (names.update(lookup.take_names()), len(names) == 2)[1] and lookup.stats.misses == 1)
        assert names == {"10.10.0.10": "s7-plc.plant.local", "10.10.0.20": "hmi-1.plant.local"}
        assert lookup.stats.queries == 3  # the duplicate was not asked again
        assert time.monotonic() - started >= 2 / 20.0  # three queries at 20/s take at least 0.1 s
        asked = len(responder.queries)
        assert not lookup.submit("10.10.0.10")  # cached: no query, the name is handed over again
        assert lookup.take_names() == {"10.10.0.10": "s7-plc.plant.local"}
        assert not lookup.submit("10.10.0.99")  # a cached miss is not asked again either
        assert len(responder.queries) == asked
        lookup.configure({**settings, "enabled": False})
        assert not lookup.wanted("10.10.0.10") and lookup.status()["active"] is False
    finally:
        lookup.stop()


def test_sensor_names_assets_without_holding_up_capture(responder: PtrResponder, tmp_path: Path) -> None:
    """A sensor given DNS reverse lookup settings reports its assets with their PTR names; the slow
    DNS server never holds up packet processing."""
    responder.delay = 0.3
    node = SensorNode(NodeState(tmp_path / "sensor"), [], report_every=0.2)
    try:
        node.apply_config(
            {"dns_reverse_lookup": {"enabled": True, "servers": ["127.0.0.1"], "port": responder.port,
                                    "subnets": ["10.10.0.0/28"], "timeout": 2.0}}
        )  # fmt: skip
        frames = list(synth.demo_plant(minutes=1))
        started = time.monotonic()
        for f in frames:
            node.sensor.process(*f)
        node.build_reports()  # hands the new addresses to the worker and returns at once
        assert time.monotonic() - started < 5.0

        def names() -> dict[str, str | None]:
            out: dict[str, str | None] = {}
            for r in node.build_reports():
                out.update({a.ip or "": a.name for a in r.assets})
            return out

        got: dict[str, str | None] = {}
        wait_for(lambda: (got.update(names()), "10.10.0.10" in got and got["10.10.0.10"] is not None)[1])
        assert got["10.10.0.10"] == "s7-plc.plant.local"
        wait_for(lambda: node.dns.stats.queries >= 4)
        # only addresses inside 10.10.0.0/28 were asked about: .20 (HMI) and .99 are outside it
        asked = {q.split(".in-addr")[0] for q in responder.queries}
        assert "20.0.10.10" not in asked and "99.0.10.10" not in asked and "10.0.10.10" in asked
        system = next(r for r in node.build_reports() if r.kind == "stats").stats["system"]
        assert (
            system["dns_reverse_lookup"]["names"] >= 1 and system["snmp_mib_monitoring"]["serving"] is False
        )
    finally:
        node.dns.stop()
