"""Active BACnet identification against a real peer: a bacpypes3 device on 127.0.0.x."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from otwatch.inventory.identity import Identity
from otwatch.protocols.bacnet import SPEC
from otwatch.protocols.bacnet.query import identify, sweep
from otwatch.protocols.base import QueryTarget, SweepTarget
from tests.peers import Peer, free_port

pytestmark = pytest.mark.network


def test_spec_runs_this_query() -> None:
    assert SPEC.query is identify


HOST = "127.0.0.44"
PEER_SCRIPT = textwrap.dedent(
    """
    import asyncio
    from bacpypes3.argparse import SimpleArgumentParser
    from bacpypes3.app import Application

    async def main():
        app = Application.from_args(SimpleArgumentParser().parse_args())
        device = app.device_object
        device.modelName = "OTW-AHU-Controller"
        device.firmwareRevision = "4.2.1"
        device.applicationSoftwareVersion = "ahu-app 9"
        device.description = "Air handling unit 1"
        device.location = "Plant 3, roof"
        await asyncio.Future()

    asyncio.run(main())
    """
)


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[Peer]:
    port = free_port(HOST, "udp")
    argv = [
        sys.executable,
        "-c",
        PEER_SCRIPT,
        "--name",
        "AHU-1",
        "--instance",
        "599",
        "--address",
        f"{HOST}/24:{port}",
    ]
    with Peer("bacnet", HOST, port, "udp", argv, tmp_path) as peer:
        yield peer.start()


def test_identify_reads_device_object(controller: Peer) -> None:
    identity = asyncio.run(identify(QueryTarget(controller.host, controller.port)))
    assert identity is not None
    assert identity.as_dict() == {
        "protocol": "bacnet",
        "vendor": "BACpypes",  # vendorName property
        "vendor_id": 999,  # I-Am and vendorIdentifier
        "model": "OTW-AHU-Controller",
        "firmware": "4.2.1",
        "name": "AHU-1",
        "device_type": "Controller",
        "extra": {
            "device_instance": 599,
            "max_apdu": 1024,
            "segmentation": "segmented-both",
            "application_software_version": "ahu-app 9",
            "description": "Air handling unit 1",
            "location": "Plant 3, roof",
        },
    }


def test_identify_gives_up_without_an_answer() -> None:
    target = QueryTarget(HOST, free_port(HOST, "udp"), response_timeout=0.3)
    assert asyncio.run(identify(target)) is None


class _Pacer:
    """Counts the requests a query asks its turn for (``QueryTarget.pace``)."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1


def test_icmp_unreachable_ends_the_query_after_one_who_is() -> None:
    pace = _Pacer()
    target = QueryTarget(HOST, free_port(HOST, "udp"), response_timeout=5.0, pace=pace)
    assert asyncio.run(asyncio.wait_for(identify(target), 4.0)) is None  # not the 5 s timeout
    assert pace.calls == 1  # the Who-Is; no retry, no ReadProperty


def test_sweep_then_read_properties_without_a_second_who_is(controller: Peer) -> None:
    async def scenario() -> tuple[dict[str, Any], Identity | None, int]:
        swept = await sweep(SweepTarget(controller.host, controller.port, frozenset({controller.host})))
        pace = _Pacer()
        hints = swept.get(controller.host, {})
        identity = await identify(QueryTarget(controller.host, controller.port, extra=hints, pace=pace))
        return swept, identity, pace.calls

    swept, identity, calls = asyncio.run(scenario())
    assert swept[HOST]["bacnet_iam"]["instance"] == 599
    assert identity is not None and identity.extra["device_instance"] == 599
    assert identity.model == "OTW-AHU-Controller"
    assert calls == 8  # the eight ReadProperty requests; the sweep's I-Am replaced the Who-Is
