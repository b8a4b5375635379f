"""Active DNP3 check: one link-layer REQUEST_LINK_STATUS, nothing at the application layer.

DNP3 is off by default (PEERS.md): outstations are often fragile serial devices behind gateways, and
the application layer has no read-only identity request. The query runs only when the target's
``extra["dnp3_enabled"]`` is true and then sends a single link status request, which every
outstation must answer without side effects, to learn that a DNP3 outstation is there and its address.
"""

from __future__ import annotations

import asyncio

from otwatch.inventory.identity import Identity
from otwatch.protocols.base import QueryTarget, shares_connection
from otwatch.protocols.dnp3.codes import LINK_DIR, LINK_PRM, LinkPrimaryFunction, LinkSecondaryFunction
from otwatch.protocols.dnp3.messages import HEADER_SIZE, Dnp3DecodeError, LinkFrame, frame_size

DEFAULT_OUTSTATION = 1
DEFAULT_MASTER = 3  # an address masters rarely use, so our probe is easy to tell apart in logs


def link_status_request(outstation: int, master: int) -> bytes:
    control = LINK_DIR | LINK_PRM | LinkPrimaryFunction.REQUEST_LINK_STATUS
    return LinkFrame(control, outstation, master).encode()


@shares_connection
async def identify(target: QueryTarget) -> Identity | None:
    """``None`` unless enabled; otherwise an Identity when the outstation answers LINK_STATUS."""
    if not target.extra.get("dnp3_enabled"):
        return None
    outstation = int(target.extra.get("dnp3_outstation", DEFAULT_OUTSTATION))
    master = int(target.extra.get("dnp3_master", DEFAULT_MASTER))
    try:
        async with target.stream() as (reader, writer):
            await target.wait_turn()
            writer.write(link_status_request(outstation, master))
            await writer.drain()
            frame = await asyncio.wait_for(_read_frame(reader), target.response_timeout)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, Dnp3DecodeError):
        return None
    if frame.primary or frame.function != LinkSecondaryFunction.LINK_STATUS or not frame.crc_ok:
        return None
    return Identity(protocol="dnp3", extra={"dnp3_address": frame.source, "link_status": True})


async def _read_frame(reader: asyncio.StreamReader) -> LinkFrame:
    header = await reader.readexactly(HEADER_SIZE)
    if header[:2] != b"\x05\x64" or header[2] < 5:
        raise Dnp3DecodeError("reply is not a DNP3 link frame")
    rest = await reader.readexactly(frame_size(header[2]) - HEADER_SIZE)
    return LinkFrame.decode(header + rest)
