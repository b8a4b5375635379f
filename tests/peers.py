"""Test-side peers: the device simulators of :mod:`otwatch.console.devsim` plus a connection-counting listener."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from otwatch.console.devsim import (
    _MODBUS_SCRIPT,
    Peer,
    PeerError,
    SnmpRecord,
    _loopback,
    free_port,
    is_bound,
    modbus_peer,
    s7_peer,
    snmprec,
    snmpsim_peer,
    switch_records,
)

__all__ = [
    "_MODBUS_SCRIPT",
    "CountingServer",
    "Peer",
    "PeerError",
    "SnmpRecord",
    "free_port",
    "is_bound",
    "modbus_peer",
    "recording_relay",
    "s7_peer",
    "snmprec",
    "snmpsim_peer",
    "switch_records",
]


# --- a TCP listener that counts connections (in-process, asyncio) ---------------------------------


class CountingServer:
    """Listens on several ports of one loopback address and records how the scanner connects:
    connections open at once (the per-host rule), total connections, and clean closes (EOF).

    ``banners`` maps a port to bytes sent on accept (an SSH or FTP greeting); others stay silent.
    """

    def __init__(self, host: str, ports: list[int], banners: Mapping[int, bytes] | None = None) -> None:
        self.host = _loopback(host)
        self.ports = ports
        self.banners = dict(banners or {})
        self.current = 0
        self.max_concurrent = 0
        self.total = 0
        self.closed_by_peer = 0
        self._servers: list[asyncio.Server] = []
        self._handlers: set[asyncio.Task[None]] = set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        self.current += 1
        self.total += 1
        self.max_concurrent = max(self.max_concurrent, self.current)
        try:
            port = writer.get_extra_info("sockname")[1]
            if port in self.banners:
                writer.write(self.banners[port])
                await writer.drain()
            while await reader.read(4096):
                pass
            self.closed_by_peer += 1
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self.current -= 1
            writer.close()
            if task is not None:
                self._handlers.discard(task)

    async def start(self) -> CountingServer:
        for port in self.ports:
            self._servers.append(await asyncio.start_server(self._handle, self.host, port))
        return self

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._handlers):
            task.cancel()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    async def __aenter__(self) -> CountingServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


# --- a relay that records what crossed the wire (for tshark cross-checks of a real exchange) --------


@asynccontextmanager
async def recording_relay(
    host: str, port: int, upstream: tuple[str, int]
) -> AsyncIterator[list[tuple[bool, bytes]]]:
    """Listen on ``host:port`` and relay each connection to ``upstream``, recording every segment as
    (from the client?, bytes), in the order they passed."""
    chunks: list[tuple[bool, bytes]] = []

    async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, from_client: bool) -> None:
        try:
            while data := await src.read(65536):
                chunks.append((from_client, data))
                dst.write(data)
                await dst.drain()
        except OSError:
            pass
        finally:
            dst.close()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*upstream)
        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))

    async with await asyncio.start_server(relay, host, port):
        yield chunks
