"""SPAN monitoring-port failures on a real link: a veth pair into a network namespace this test creates
(tests/netns.py). The sensor watches the root-side end; the namespace side sends traffic, stops, goes
down and floods a capture socket that is not read. Each failure is raised once, as a system message of
the sensor console and an event on its timeline, and cleared when traffic returns."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from otwatch.sensor.capture.sources import LiveInterface
from otwatch.sensor.local.store import SensorStore
from otwatch.sensor.node.managed import SensorNode
from otwatch.sensor.node.portwatch import port_up, rx_packets
from otwatch.sensor.tracking.monitoring import PortFailure
from otwatch.sensor.tracking.timeline import EventType
from otwatch.sensor.web.app import create_sensor_app
from otwatch.wire.client import NodeState
from tests.netns import Netns, missing_requirements
from tests.sensor.web.conftest import ENV, login

_MISSING = missing_requirements(("ip",))
pytestmark = [
    pytest.mark.network,
    pytest.mark.timeout(90),
    pytest.mark.skipif(_MISSING is not None, reason=f"SPAN port test skipped: {_MISSING}"),
]


def _send(ns: Netns, count: int) -> None:
    """``count`` UDP datagrams from inside the namespace to the root side of the link."""
    code = (
        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        f"for i in range({count}): s.sendto(b'x' * 200, ({ns.gateway!r}, 9))"
    )
    subprocess.run(["ip", "netns", "exec", ns.name, sys.executable, "-c", code], check=True, timeout=30)


def _wait(pred: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def _drain(src: LiveInterface) -> None:
    src.sock.setblocking(False)
    try:
        while True:
            src.sock.recv(65535)
    except BlockingIOError:
        pass
    finally:
        src.sock.settimeout(0.5)


@pytest.fixture
def link() -> Iterator[Netns]:
    with Netns.create("otw-test") as ns:
        # quiet link: no IPv6 router solicitations or DAD arriving unasked
        subprocess.run(
            ["ip", "netns", "exec", ns.name, "sysctl", "-qw", f"net.ipv6.conf.{ns.ns_if}.disable_ipv6=1"],
            check=False,
        )
        ns.add_device(ns.host(10))  # the sender's address on the link
        _send(ns, 1)  # resolve ARP once, so later sends are just the datagrams
        yield ns


def test_span_port_down_quiet_and_dropping_are_notified_and_cleared(link: Netns, tmp_path: Path) -> None:
    src = LiveInterface(link.host_if)
    node = SensorNode(NodeState(tmp_path / "state"), [src])
    node.ports.configure(no_traffic_after=30, drop_percent=50)
    store = SensorStore(tmp_path / "state")
    store.ensure_users(ENV)
    try:
        assert port_up(link.host_if)
        t = 1_000.0
        assert node.check_ports(t) == []  # the first look: traffic as far as the watch knows

        # quiet for longer than the limit -> No traffic
        (quiet,) = node.check_ports(t + 31)
        assert quiet.failure is PortFailure.NO_TRAFFIC and quiet.interface == link.host_if
        with TestClient(create_sensor_app(node, store), base_url="https://testserver") as c:
            login(c)
            html = c.get("/overview").text
            assert (
                'data-testid="port-failure"' in html
                and f"SPAN monitoring port {link.host_if}: No traffic" in html
            )

        # traffic returns -> cleared
        before = rx_packets(link.host_if)
        _send(link, 20)
        _wait(lambda: rx_packets(link.host_if) >= before + 20)
        (back,) = node.check_ports(t + 32)
        assert back.failure is None and "traffic returned" in back.title
        assert node.port_failures() == []

        # the other end goes down: the monitoring interface loses its carrier -> Interface down
        link.exec_ip("link", "set", link.ns_if, "down")
        _wait(lambda: not port_up(link.host_if))
        (down,) = node.check_ports(t + 33)
        assert down.failure is PortFailure.DOWN
        assert node.check_ports(t + 34) == []  # raised once
        link.exec_ip("link", "set", link.ns_if, "up")
        _wait(lambda: port_up(link.host_if))
        assert [n.failure for n in node.check_ports(t + 35)] == [PortFailure.NO_TRAFFIC]  # up, still quiet
        before = rx_packets(link.host_if)
        _send(link, 5)
        _wait(lambda: rx_packets(link.host_if) >= before + 5)
        assert [n.failure for n in node.check_ports(t + 36)] == [None]

        # a capture that cannot keep up: the socket is not read and its buffer is tiny -> drops
        _drain(src)
        import socket

        src.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        _send(link, 400)
        (dropping,) = node.check_ports(t + 41)
        assert dropping.failure is PortFailure.DROPPING, dropping
        assert "were lost since the previous check" in dropping.message
        _drain(src)  # the capture caught up
        before = rx_packets(link.host_if)
        _send(link, 3)
        _wait(lambda: rx_packets(link.host_if) >= before + 3)
        (ok,) = node.check_ports(t + 46)
        assert ok.failure is None and "Dropping packets cleared" in ok.message

        events = [e for e in node.sensor.timeline if e.type is EventType.MONITORING]
        assert [e.details["failure"] for e in events] == [
            "No traffic", None, "Interface down", "No traffic", None, "Dropping packets", None,
        ]  # fmt: skip
        report = node.build_reports()[-1].stats
        assert report is not None
        assert report["system"]["monitoring_ports"] == [
            {"interface": link.host_if, "failure": None, "since": t + 46, "message": ""}
        ]  # what the console turns into system notifications (notifications.service.scan_ports)
    finally:
        src.close()
        node.stop()
