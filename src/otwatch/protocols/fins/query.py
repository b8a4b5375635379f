"""Active, read-only Omron FINS identification: one Controller Data Read (0x0501) over UDP 9600.

Safety (PEERS.md): one datagram at a time to one host, each send and the one retry paced by
``QueryTarget.wait_turn``, a response timeout per try; the only command built is Controller Data
Read (no memory, program, mode or clock command). Addressed to node 0 (the local PLC of the
Ethernet unit) from node 0xEF, which FINS/UDP units answer with automatic address conversion.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

from otwatch.inventory.identity import Identity
from otwatch.protocols.base import QueryTarget, Record
from otwatch.protocols.fins.codes import CONTROLLER_DATA_READ
from otwatch.protocols.fins.dissect import PROTOCOL, identity_from
from otwatch.protocols.fins.messages import Address, ControllerData, FinsDecodeError, Frame

SOURCE_NODE: Final = 0xEF
SID: Final = 0x42


class _Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.replies.put_nowait(data)


async def identify(target: QueryTarget) -> Identity | None:
    """Model and version of the PLC behind ``target``, or ``None``."""
    request = Frame(CONTROLLER_DATA_READ, Address(), Address(0, SOURCE_NODE, 0), SID, data=b"\x00").encode()
    loop = asyncio.get_running_loop()
    try:
        transport, client = await loop.create_datagram_endpoint(
            _Client, remote_addr=(target.host, target.port)
        )
    except OSError:
        return None
    try:
        for _attempt in range(2):  # one retry
            await target.wait_turn()
            transport.sendto(request)
            deadline = loop.time() + target.response_timeout
            while (left := deadline - loop.time()) > 0:
                try:
                    data = await asyncio.wait_for(client.replies.get(), left)
                except TimeoutError:
                    break
                with contextlib.suppress(FinsDecodeError):
                    reply = Frame.decode(data)
                    if reply.response and reply.sid == SID and reply.command == CONTROLLER_DATA_READ:
                        if reply.end_code & 0x7F3F:  # relay, non-fatal and fatal error bits masked
                            return None
                        info = ControllerData.decode(reply.data)
                        fields = {"controller_model": info.model, "controller_version": info.version}
                        return identity_from(Record(PROTOCOL, "response", fields))
        return None
    finally:
        transport.close()
