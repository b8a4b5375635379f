"""Active, read-only ROC Plus identification over TCP 4000: one System Configuration request
(opcode 6, no data), which a ROC800 / FloBoss answers with its type, subtype and system mode.

Safety (PEERS.md): one TCP connection (the scan's port check when it hands one over), closed with
FIN; one request, paced by ``QueryTarget.wait_turn``, and no retry; the only opcode built is 6, a
read. Addressed to ROCLINK 800's default station 240 group 240 from host 3 group 1 unless
``target.extra`` gives ``roc_unit`` / ``roc_group`` / ``host_unit`` / ``host_group``.
"""

from __future__ import annotations

import asyncio
from typing import Final

from otwatch.inventory.identity import Identity
from otwatch.protocols.base import QueryTarget, shares_connection
from otwatch.protocols.roc_plus.codes import DEFAULT_GROUP, DEFAULT_UNIT, ERROR, SYSTEM_CONFIG
from otwatch.protocols.roc_plus.dissect import RocPlusDissector, identity_from
from otwatch.protocols.roc_plus.messages import HEADER_SIZE, MIN_FRAME, Address, Frame

HOST_UNIT: Final = 3
HOST_GROUP: Final = 1
MAX_REPLIES: Final = 4  # frames read before giving up on an answer to our opcode 6


def request(target: QueryTarget) -> Frame:
    extra = target.extra
    return Frame(
        SYSTEM_CONFIG,
        Address(int(extra.get("roc_unit", DEFAULT_UNIT)), int(extra.get("roc_group", DEFAULT_GROUP))),
        Address(int(extra.get("host_unit", HOST_UNIT)), int(extra.get("host_group", HOST_GROUP))),
    )


async def _reply(reader: asyncio.StreamReader) -> Identity | None:
    dissector = RocPlusDissector()
    for _ in range(MAX_REPLIES):
        head = await reader.readexactly(HEADER_SIZE)
        rest = await reader.readexactly(MIN_FRAME - HEADER_SIZE + head[5])
        for record in dissector.feed(head + rest, False):
            if record.malformed:
                return None
            if record.fields["opcode"] == ERROR:
                return None
            if record.fields["opcode"] == SYSTEM_CONFIG:
                return identity_from(record)
    return None


@shares_connection
async def identify(target: QueryTarget) -> Identity | None:
    """Vendor and model of the ROC behind ``target``, or ``None``."""
    try:
        async with target.stream() as (reader, writer):
            await target.wait_turn()
            writer.write(request(target).encode())
            await writer.drain()
            try:
                return await asyncio.wait_for(_reply(reader), target.response_timeout)
            except (TimeoutError, asyncio.IncompleteReadError, OSError):
                return None
    except (OSError, TimeoutError):
        return None
