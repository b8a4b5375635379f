"""Active, read-only MELSEC identification: one SLMP Read CPU Model (0x0101) over a 3E binary frame.

Safety (PEERS.md): one TCP connection (the scan's port check when it hands one over), closed with
FIN; one request in flight, each request and the one retry paced by ``QueryTarget.wait_turn``; the
host is abandoned after two consecutive timeouts. The only request built is Read CPU Model to the
own station (network 0, station 0xFF, module I/O 0x03FF): no device access, no remote operation,
no password command. A device that answers with an error end code (the port is not open for SLMP,
or is locked by a remote password) simply gives no identity.
"""

from __future__ import annotations

import asyncio
from typing import Final

from otwatch.inventory.identity import Identity
from otwatch.protocols.base import QueryTarget, Record, shares_connection
from otwatch.protocols.melsec.codes import READ_CPU_MODEL
from otwatch.protocols.melsec.dissect import PROTOCOL, identity_from
from otwatch.protocols.melsec.messages import (
    HEADER_SIZE,
    CpuModel,
    MelsecDecodeError,
    Request,
    Response,
    frame_info,
)

TIMER: Final = 4  # the CPU may take 4 x 250 ms before it answers with a timeout end code
MAX_TIMEOUTS: Final = 2


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readexactly(HEADER_SIZE[("3E", False)])
    info = frame_info(head)
    if info is None or info.request or info.ascii:
        raise MelsecDecodeError("not a binary MC protocol response")
    return head + await reader.readexactly(info.size - len(head))


@shares_connection
async def identify(target: QueryTarget) -> Identity | None:
    """CPU model name and code of the station behind ``target``, or ``None``."""
    request = Request(READ_CPU_MODEL, 0, b"", timer=TIMER).encode()
    try:
        async with target.stream() as (reader, writer):
            timeouts = 0
            for _attempt in range(2):  # one retry
                await target.wait_turn()
                writer.write(request)
                await writer.drain()
                try:
                    frame = await asyncio.wait_for(_read_frame(reader), target.response_timeout)
                except TimeoutError:
                    timeouts += 1
                    if timeouts >= MAX_TIMEOUTS:
                        return None
                    continue
                reply = Response.decode(frame)
                if reply.end_code != 0:
                    return None
                model = CpuModel.decode(reply.data)
                fields = {"cpu_model": model.name, "cpu_model_code": model.code}
                return identity_from(Record(PROTOCOL, "response", fields))
            return None
    except (OSError, TimeoutError, asyncio.IncompleteReadError, MelsecDecodeError):
        return None
