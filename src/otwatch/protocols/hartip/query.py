"""Active, read-only HART-IP identification over TCP 5094: Session Initiate, command 0 (Read Unique
Identifier) to polling address 0, command 20 (Read Long Tag) to the unique address it gave, Session
Close.

Safety (PEERS.md): one TCP connection (the scan's port check when it hands one over), closed with FIN
after a Session Close; one request in flight, each paced by ``QueryTarget.wait_turn``; no retry of a
HART request that timed out (the host is given up); the only HART commands built are 0 and 20, both
reads.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

from otwatch.inventory.identity import Identity
from otwatch.protocols.base import QueryTarget, Record, shares_connection
from otwatch.protocols.hartip.codes import PASS_THROUGH, SESSION_CLOSE, SESSION_INITIATE
from otwatch.protocols.hartip.dissect import HartIpDissector, identity_from
from otwatch.protocols.hartip.messages import HEADER, HEADER_SIZE, MAX_MESSAGE, Pdu, SessionInitiate, message

PRIMARY_MASTER_POLL_0: Final = b"\x80"  # polling address 0, from a primary master


class _Session:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: QueryTarget
    ) -> None:
        self.reader, self.writer, self.target = reader, writer, target
        self.sequence = 0
        self.dissector = HartIpDissector()

    async def ask(self, message_id: int, body: bytes) -> Record | None:
        await self.target.wait_turn()
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.writer.write(message(0, message_id, self.sequence, body))
        await self.writer.drain()
        return await asyncio.wait_for(self._reply(self.sequence, message_id), self.target.response_timeout)

    async def _reply(self, sequence: int, message_id: int) -> Record | None:
        while True:
            head = await self.reader.readexactly(HEADER_SIZE)
            count = HEADER.unpack(head)[5]
            if not HEADER_SIZE <= count <= MAX_MESSAGE:
                return None
            body = await self.reader.readexactly(count - HEADER_SIZE)
            for record in self.dissector.feed(head + body, False):
                fields = record.fields
                if fields.get("sequence") == sequence and fields.get("message_id_code") == message_id:
                    return None if record.malformed or fields["message_type_code"] != 1 else record


def unique_address(expanded_device_type: int, device_id: str) -> bytes:
    """The 5-byte unique address of a command 0 reply, from a primary master (bit 7 of byte 0)."""
    return ((expanded_device_type & 0x3FFF) | 0x8000).to_bytes(2, "big") + bytes.fromhex(device_id)


@shares_connection
async def identify(target: QueryTarget) -> Identity | None:
    try:
        async with target.stream() as (reader, writer):
            session = _Session(reader, writer, target)
            try:
                opened = await session.ask(SESSION_INITIATE, SessionInitiate().encode())
                if opened is None or opened.fields["status"] not in (0, 8):
                    return None
                uid = await session.ask(PASS_THROUGH, Pdu.request(0, address=PRIMARY_MASTER_POLL_0).encode())
                identity = identity_from(uid) if uid is not None else None
                if identity is not None and uid is not None:
                    address = unique_address(uid.fields["expanded_device_type"], uid.fields["device_id"])
                    tag_reply = await session.ask(PASS_THROUGH, Pdu.request(20, address=address).encode())
                    named = identity_from(tag_reply) if tag_reply is not None else None
                    if named is not None:
                        identity.name = named.name
            except (TimeoutError, asyncio.IncompleteReadError, OSError):
                return None
            with contextlib.suppress(TimeoutError, asyncio.IncompleteReadError, OSError):
                await session.ask(SESSION_CLOSE, b"")
            return identity
    except (OSError, TimeoutError):
        return None
