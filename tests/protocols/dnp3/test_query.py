"""The opt-in DNP3 link-status check against a real outstation (dnp3py) on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import pytest

from otwatch.protocols import dnp3
from otwatch.protocols.base import QueryTarget

pytestmark = pytest.mark.network
HOST = "127.0.0.24"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def test_disabled_by_default_sends_nothing() -> None:
    port = _free_port()
    connected: list[bool] = []

    async def scenario() -> Any:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connected.append(True)
            writer.close()

        server = await asyncio.start_server(handler, HOST, port)
        async with server:
            return await dnp3.identify(QueryTarget(HOST, port))

    assert asyncio.run(scenario()) is None
    assert connected == []


def test_link_status_against_dnp3py_outstation() -> None:
    outstation_mod = pytest.importorskip("dnp3.outstation", reason="dnp3py (test peer) is not installed")
    database_mod = pytest.importorskip("dnp3.database")
    port = _free_port()

    async def scenario() -> Any:
        outstation = outstation_mod.Outstation(
            database=database_mod.Database(), config=outstation_mod.OutstationConfig(address=10)
        )
        runner = outstation_mod.OutstationTcpRunner(outstation=outstation, host=HOST, port=port)
        task = asyncio.create_task(runner.run())
        try:
            for _ in range(100):
                if runner.is_running:
                    break
                await asyncio.sleep(0.05)
            target = QueryTarget(HOST, port, extra={"dnp3_enabled": True, "dnp3_outstation": 10})
            return await dnp3.identify(target)
        finally:
            await runner.stop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    identity = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert identity is not None
    assert identity.protocol == "dnp3"
    assert identity.extra == {"dnp3_address": 10, "link_status": True}
