"""Active S7 identification against a real peer: python-snap7's pure-Python S7 server on 127.0.0.x."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from otwatch.protocols.base import QueryTarget
from otwatch.protocols.s7comm import SPEC
from otwatch.protocols.s7comm.query import identify
from tests.peers import Peer, free_port

pytestmark = pytest.mark.network


def test_spec_runs_this_query() -> None:
    assert SPEC.query is identify


HOST = "127.0.0.41"

# snap7's server lacks SZL 0x0424 (PEERS.md): add it with the CPU in STOP (bzu-id low nibble 4), and log
# every request's ROSCTR/function so the test can prove that only read-only jobs were sent.
PEER_SCRIPT = textwrap.dedent(
    """
    import signal, struct, sys, threading
    from snap7.server import Server
    from snap7.type import SrvArea

    class Cpu(Server):
        def _get_szl_data(self, szl_id, szl_index):
            if szl_id == 0x0424:
                record = struct.pack(">HBB", 0x4303, 0xFF, 0x34) + bytes(16)
                return struct.pack(">HH", len(record), 1) + record
            return super()._get_szl_data(szl_id, szl_index)

        def _process_request(self, request_data, client_address):
            print("pdu", request_data.hex(), flush=True)
            return super()._process_request(request_data, client_address)

    host, port = sys.argv[1], int(sys.argv[2])
    server = Cpu(log=False)
    server.register_area(SrvArea.DB, 1, bytearray(100))
    server.start_to(host, port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.stop()
    """
)


@pytest.fixture
def cpu(tmp_path: Path) -> Iterator[Peer]:
    port = free_port(HOST)
    with Peer(
        "s7", HOST, port, "tcp", [sys.executable, "-c", PEER_SCRIPT, HOST, str(port)], tmp_path
    ) as peer:
        yield peer.start()


def test_identify_reads_szl_identity_and_cpu_state(cpu: Peer) -> None:
    identity = asyncio.run(identify(QueryTarget(cpu.host, cpu.port)))
    assert identity is not None
    assert identity.as_dict() == {
        "protocol": "s7comm",
        "vendor": "Siemens",
        "model": "CPU 315-2 PN/DP",  # SZL 0x001C module type name
        "serial": "S C-C2UR28922012",
        "name": "SNAP7-SERVER",
        "device_type": "PLC",
        "state": "Stop",  # our SZL 0x0424 answer, not snap7's fixed "Run"
        "extra": {
            "order_number": "6ES7 315-2EH14-0AB0",  # SZL 0x0011 index 1
            "module_name": "CPU 315-2 PN/DP",
            "copyright": "Original Siemens Equipment",
            "module_version": "V3.3.0",
            "rack": 0,
            "slot": 2,
        },
        # the CPU as the one module snap7 tells of (it answers no module status list)
        "modules": [
            {
                "rack": 0,
                "slot": 2,
                "type": "CPU",
                "name": "CPU 315-2 PN/DP",
                "order_number": "6ES7 315-2EH14-0AB0",
                "serial": "S C-C2UR28922012",
            }
        ],
    }
    # Only setup communication (job 0xF0) and user-data CPU-function reads (0x44) reached the CPU.
    sent = [line.split()[1] for line in cpu.log().splitlines() if line.startswith("pdu ")]
    kinds = {(bytes.fromhex(p)[1], bytes.fromhex(p)[10]) for p in sent}
    szl_ids = sorted(bytes.fromhex(p)[22:24].hex() for p in sent if bytes.fromhex(p)[1] == 7)
    assert kinds == {(1, 0xF0), (7, 0x00)}
    assert szl_ids == ["0011", "001c", "0091", "0424", "0d91"]  # the module lists: rack 0's, then all


def test_identify_gives_up_fast_without_a_listener() -> None:
    port = free_port(HOST)
    assert asyncio.run(identify(QueryTarget(HOST, port))) is None
