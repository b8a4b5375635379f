"""Active EtherNet/IP identification against a real peer: cpppo's EtherNet/IP server on 127.0.0.x."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from otwatch.protocols.base import QueryTarget
from otwatch.protocols.enip import SPEC
from otwatch.protocols.enip.query import identify
from tests.peers import Peer, free_port

pytestmark = pytest.mark.network


def test_spec_runs_this_query() -> None:
    assert SPEC.query is identify


HOST = "127.0.0.43"
# cpppo wants decimal integers (PEERS.md). Revision 2836 = 0x0B14: major 20, minor 11 (little-endian).
PEER_CFG = """\
[Identity]
Vendor Number = 1
Device Type = 14
Product Code Number = 54
Product Revision = 2836
Serial Number = 3735928559
Product Name = 1756-L61/B LOGIX5561
State = 3
"""
EXPECTED = {
    "protocol": "enip",
    "vendor": "Rockwell Automation/Allen-Bradley",
    "vendor_id": 1,
    "model": "1756-L61/B LOGIX5561",
    "product_code": 54,
    "firmware": "20.11",
    "serial": "0xdeadbeef",
    "device_type": "PLC",
    "state": "Operational",
}


@pytest.fixture
def adapter(tmp_path: Path) -> Iterator[Peer]:
    (tmp_path / "peer.cfg").write_text(PEER_CFG)
    port = free_port(HOST)
    argv = [
        sys.executable,
        "-m",
        "cpppo.server.enip",
        "-c",
        "peer.cfg",
        "-a",
        f"{HOST}:{port}",
        "Tag=INT[10]",
    ]
    with Peer("enip", HOST, port, "tcp", argv, tmp_path) as peer:
        yield peer.start()


@pytest.mark.parametrize("session", [True, False], ids=["list-identity+get-attributes-all", "list-identity"])
def test_identify_reads_identity_object(adapter: Peer, session: bool) -> None:
    target = QueryTarget(adapter.host, adapter.port, extra={"enip_session": session})
    identity = asyncio.run(identify(target))
    assert identity is not None
    got = identity.as_dict()
    assert {k: got.get(k) for k in EXPECTED} == EXPECTED
    assert got["extra"]["device_type_name"] == "Programmable Logic Controller"


def test_identify_gives_up_fast_without_a_listener() -> None:
    assert asyncio.run(identify(QueryTarget(HOST, free_port(HOST)))) is None
