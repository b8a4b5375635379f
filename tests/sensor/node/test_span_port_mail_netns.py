"""SPAN monitoring-port failures are e-mailed by the sensor, raised and cleared, on a real link (a veth
pair into a network namespace, tests/netns.py) to a real SMTP server on 127.0.0.1 (aiosmtpd), through
the mail server saved on a locally managed sensor's console."""

from __future__ import annotations

import time
from email import message_from_bytes
from pathlib import Path

import pytest

from otwatch.sensor.capture.sources import LiveInterface
from otwatch.sensor.local.store import SensorStore
from otwatch.sensor.node.managed import SensorNode
from otwatch.sensor.node.portwatch import rx_packets
from otwatch.sensor.tracking.timeline import EventType
from otwatch.wire.client import NodeState
from tests.listeners import smtp_server
from tests.netns import Netns, missing_requirements
from tests.sensor.node.test_span_port_netns import _send, _wait, link

__all__ = ["link"]  # the fixture
_MISSING = missing_requirements(("ip",))
pytestmark = [
    pytest.mark.network,
    pytest.mark.timeout(90),
    pytest.mark.skipif(_MISSING is not None, reason=f"SPAN port test skipped: {_MISSING}"),
]


def test_span_port_failure_and_its_clearing_are_mailed(link: Netns, tmp_path: Path) -> None:
    src = LiveInterface(link.host_if)
    node = SensorNode(NodeState(tmp_path / "state"), [src])
    node.ports.configure(no_traffic_after=30, drop_percent=50)
    store = SensorStore(tmp_path / "state")
    with smtp_server() as (ctl, sink):
        store.set_system_group(
            "mail_server",
            {
                "address": "127.0.0.1",
                "port": ctl.port,
                "sender": "sensor@plant.example",
                "ssl": "none",
                "username": "",
            },
        )
        store.set_mail_recipients(["ot@plant.example"])
        node.attach_store(store)  # locally managed: the console's saved mail server is in force
        try:
            t = 1_000.0
            assert node.check_ports(t) == []
            started = time.perf_counter()
            (quiet,) = node.check_ports(t + 31)
            assert time.perf_counter() - started < 0.5  # the watcher does not wait for the mail server
            before = rx_packets(link.host_if)
            _send(link, 20)
            _wait(lambda: rx_packets(link.host_if) >= before + 20)
            (back,) = node.check_ports(t + 32)
            assert node.mailer.flush(15)
        finally:
            node.stop()
        messages = [message_from_bytes(e.content) for e in sink.envelopes]  # type: ignore[arg-type]
    assert [e.rcpt_tos for e in sink.envelopes] == [["ot@plant.example"], ["ot@plant.example"]]
    subjects = [str(m["Subject"]) for m in messages]
    assert subjects[0].endswith(f"SPAN monitoring port {link.host_if}: No traffic")
    assert subjects[1].endswith(f"SPAN monitoring port {link.host_if}: traffic returned")
    bodies = [m.get_payload(decode=True) for m in messages]
    assert isinstance(bodies[0], bytes) and quiet.message.encode() in bodies[0]
    assert isinstance(bodies[1], bytes) and b"(No traffic cleared)" in bodies[1] and back.failure is None
    mails = [e.title for e in node.sensor.timeline if e.type is EventType.MAIL]
    assert mails == [f"E-mail sent: {quiet.title}", f"E-mail sent: {back.title}"]
