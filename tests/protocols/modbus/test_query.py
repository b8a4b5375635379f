"""FC 43/14 identification against a real pymodbus server on loopback (see PEERS.md)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pymodbus import ModbusDeviceIdentification
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from otwatch.protocols import modbus
from otwatch.protocols.base import QueryTarget
from otwatch.protocols.modbus.messages import MBAP

pytestmark = pytest.mark.network

HOST = "127.0.0.23"
IDENTITY = {
    "VendorName": "Acme Automation",
    "ProductCode": "4711",
    "MajorMinorRevision": "2.7.1",
    "VendorUrl": "https://acme.example",
    "ProductName": "Acme PLC-9",
    "ModelName": "PLC-9 CPU 1516",
    "UserApplicationName": "Pump station 3",
}


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _run(coro_fn: Callable[[], Awaitable[Any]], limit: float = 20.0) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro_fn(), limit)

    return asyncio.run(bounded())


def test_identify_reads_basic_and_regular_objects_over_one_connection() -> None:
    port = _free_port(HOST)
    connections: list[bool] = []
    requests: list[bytes] = []

    def on_connect(connected: bool) -> None:
        connections.append(connected)

    def on_packet(sending: bool, data: bytes) -> bytes:
        if not sending:
            requests.append(bytes(data))
        return data

    async def scenario() -> Any:
        server = ModbusTcpServer(
            SimDevice(id=1, simdata=[SimData(0, count=10, values=0, datatype=DataType.REGISTERS)]),
            address=(HOST, port),
            identity=ModbusDeviceIdentification(info_name=IDENTITY),  # type: ignore[no-untyped-call]
            trace_connect=on_connect,
            trace_packet=on_packet,
        )
        await server.serve_forever(background=True)
        try:
            return await modbus.identify(QueryTarget(HOST, port))
        finally:
            await server.shutdown()  # type: ignore[no-untyped-call]

    identity = _run(scenario)
    assert identity is not None
    assert identity.protocol == "modbus"
    assert identity.vendor == "Acme Automation"
    assert identity.product_code == 4711
    assert identity.firmware == "2.7.1"
    assert identity.model == "PLC-9 CPU 1516"
    assert identity.name == "Acme PLC-9"
    assert identity.extra == {
        "vendor_url": "https://acme.example",
        "user_application_name": "Pump station 3",
        "unit_id": 1,
    }
    assert connections.count(True) == 1  # one TCP connection for the whole identification
    assert requests, "the server saw no request"
    for raw in requests:  # read-only: nothing but FC 43 / MEI 14 to unit 1
        _tid, _pid, _length, unit = MBAP.unpack_from(raw)
        assert (unit, raw[7], raw[8]) == (1, 43, 14)
    assert [raw[9] for raw in requests] == [1, 2]  # basic, then regular


def test_identify_gives_up_on_a_silent_host_in_bounded_time() -> None:
    port = _free_port(HOST)
    received: list[bytes] = []

    async def scenario() -> Any:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while data := await reader.read(1024):
                received.append(data)
            writer.close()

        server = await asyncio.start_server(silent, HOST, port)
        try:
            return await modbus.identify(QueryTarget(HOST, port, response_timeout=0.3))
        finally:
            server.close()
            await server.wait_closed()

    start = time.monotonic()
    assert _run(scenario) is None
    assert time.monotonic() - start < 3.0
    assert 1 <= len(received) <= 2  # the request and at most one retry


def test_identify_returns_none_when_nothing_listens() -> None:
    port = _free_port(HOST)
    assert _run(lambda: modbus.identify(QueryTarget(HOST, port))) is None
    assert modbus.SPEC.query is modbus.identify
