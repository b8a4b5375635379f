"""Active, read-only Beckhoff identification: ADS ReadDeviceInfo and ReadState over TCP 48898, and the
TwinCAT UDP service's Identify (port 48899).

Safety (PEERS.md): one TCP connection (the scan's port check when it hands one over), closed with FIN;
one request in flight, each paced by ``QueryTarget.wait_turn``; AMS ports 851 (TwinCAT 3 PLC), 801
(TwinCAT 2 PLC) and 10000 (system service) only; one retry, and the host is given up after two
consecutive timeouts or a closed connection (a TwinCAT router closes connections from stations that
have no route: that is the answer, never a reason to add one). The only commands built are
ReadDeviceInfo (1) and ReadState (4); nothing here writes, controls or adds a route.

ADS addresses stations by AMS NetId, not IP: the target's NetId is taken from a UDP Identify answer
when the scan has one (``extra["ams_net_id"]``), else derived from its IP plus ".1.1" as TwinCAT does by
default; our own NetId is our socket's IP plus ".1.1".
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Final

from otwatch.inventory.identity import Identity
from otwatch.protocols.ads.codes import ADS_UDP_PORT, PLC_PORTS, Command, UdpService
from otwatch.protocols.ads.dissect import PROTOCOL, VENDOR, AdsDissector, dissect_udp, identity_from
from otwatch.protocols.ads.messages import (
    AMS_TCP,
    AmsFrame,
    UdpMessage,
    identify_request,
)
from otwatch.protocols.base import QueryTarget, Record, shares_connection

SOURCE_PORT: Final = 32905  # our AMS port: any free client port number (TwinCAT's own start at 32768)
MAX_TIMEOUTS: Final = 2
MAX_FRAME: Final = 4096  # a ReadDeviceInfo or ReadState reply is under 100 bytes


class _HostGone(Exception):
    """Two consecutive timeouts or a closed connection: stop talking to this host."""


def derived_net_id(ip: str) -> str:
    """TwinCAT's default AMS NetId of a station: its IPv4 address followed by ".1.1"."""
    return f"{ip}.1.1"


class _Session:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: QueryTarget, net_id: str
    ) -> None:
        self.reader, self.writer, self.target = reader, writer, target
        self.target_net_id = net_id
        sock = writer.get_extra_info("sockname")
        self.source_net_id = derived_net_id(sock[0] if sock and ":" not in str(sock[0]) else "127.0.0.1")
        self.invoke = 0
        self.timeouts = 0
        self.dissector = AdsDissector()

    async def ask(self, port: int, command: int) -> Record | None:
        """One request, its reply's record (``None`` when it never came)."""
        for _attempt in range(2):
            await self.target.wait_turn()
            self.invoke += 1
            frame = AmsFrame.request(
                self.target_net_id, port, self.source_net_id, SOURCE_PORT, command, self.invoke, b""
            )
            self.dissector.feed(frame.encode(), True)  # so the reply is matched to its request
            self.writer.write(frame.encode())
            try:
                await self.writer.drain()
                record = await asyncio.wait_for(self._reply(self.invoke), self.target.response_timeout)
            except TimeoutError:
                self.timeouts += 1
                if self.timeouts >= MAX_TIMEOUTS:
                    raise _HostGone from None
                continue
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                raise _HostGone from exc
            self.timeouts = 0
            return record
        return None

    async def _reply(self, invoke: int) -> Record:
        while True:
            head = await self.reader.readexactly(AMS_TCP.size)
            reserved, length = AMS_TCP.unpack(head)
            if length > MAX_FRAME:
                raise ValueError("AMS frame too long for a reply to an identification request")
            body = await self.reader.readexactly(length)
            if reserved:
                continue
            for record in self.dissector.feed(head + body, False):
                if record.malformed:
                    raise ValueError(record.malformed)
                if record.direction == "response" and record.fields.get("invoke_id") == invoke:
                    return record


def _merge(into: Identity | None, new: Identity | None) -> Identity | None:
    if into is None or new is None:
        return into or new
    into.state = into.state or new.state
    into.device_type = into.device_type or new.device_type
    for key, value in new.extra.items():
        into.extra.setdefault(key, value)
    return into


@shares_connection
async def identify(target: QueryTarget) -> Identity | None:
    """ReadDeviceInfo then ReadState on the first of AMS ports 851, 801, 10000 that answers."""
    net_id = str(target.extra.get("ams_net_id") or derived_net_id(target.host))
    try:
        async with target.stream() as (reader, writer):
            session = _Session(reader, writer, target, net_id)
            for port in PLC_PORTS:
                try:
                    info = await session.ask(port, Command.READ_DEVICE_INFO)
                    if info is None or info.fields.get("result") != 0:
                        continue
                    identity = identity_from(info)
                    state = await session.ask(port, Command.READ_STATE)
                except _HostGone:
                    return None
                if identity is not None and state is not None:
                    identity = _merge(identity, identity_from(state))
                return identity
            return None
    except (OSError, TimeoutError):
        return None


class _UdpEndpoint(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue(maxsize=8)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.replies.put_nowait(data)


async def identify_udp(target: QueryTarget) -> Identity | None:
    """One unicast Identify to the TwinCAT UDP service: host name, AMS NetId, TwinCAT and OS versions."""
    loop = asyncio.get_running_loop()
    await target.wait_turn()
    try:
        transport, endpoint = await loop.create_datagram_endpoint(
            _UdpEndpoint, remote_addr=(target.host, target.port or ADS_UDP_PORT)
        )
    except OSError:
        return None
    try:
        transport.sendto(identify_request().encode())
        deadline = loop.time() + target.response_timeout
        while (remaining := deadline - loop.time()) > 0:
            try:
                data = await asyncio.wait_for(endpoint.replies.get(), remaining)
            except TimeoutError:
                return None
            record = dissect_udp(data)
            if record.direction == "response" and record.fields.get("service_id") == UdpService.IDENTIFY:
                identity = identity_from(record)
                if identity is not None:
                    identity.vendor = VENDOR
                return identity
        return None
    finally:
        with contextlib.suppress(OSError):
            transport.close()


__all__ = ["PROTOCOL", "UdpMessage", "derived_net_id", "identify", "identify_udp"]
