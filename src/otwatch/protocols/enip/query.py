"""Read-only active identification of an EtherNet/IP device over one TCP connection.

List Identity first (answered before any session exists); then, unless ``target.extra["enip_session"]``
is False, Register Session + Get_Attributes_All on the Identity object (class 1, instance 1), which
also returns the device state on adapters whose List Identity omits it, then Unregister Session.
Never Reset or any other service that changes the device (PEERS.md); one request in flight, each paced
by ``QueryTarget.wait_turn`` (the scan's per-host limiter); the scan's port-check connection is reused
when one is handed over.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from otwatch.inventory.identity import Identity
from otwatch.protocols.base import QueryTarget, shares_connection
from otwatch.protocols.enip import codes
from otwatch.protocols.enip.dissect import identity_from_fields
from otwatch.protocols.enip.messages import (
    DECODE_ERRORS,
    ENCAP,
    CipRequest,
    CipResponse,
    Encapsulation,
    IdentityInfo,
    Path,
    SendRRData,
    decode_cpf,
    list_identity_request,
    register_session_request,
    unconnected_request,
)

IDENTITY_PATH: Final = Path(class_id=codes.CLASS_IDENTITY, instance_id=1)
CONTEXT: Final = b"otwatch\x00"


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes, target: QueryTarget
) -> Encapsulation:
    timeout = target.response_timeout
    await target.wait_turn()
    writer.write(request)
    await writer.drain()
    head = await asyncio.wait_for(reader.readexactly(ENCAP.size), timeout)
    length = int.from_bytes(head[2:4], "little")
    body = await asyncio.wait_for(reader.readexactly(length), timeout) if length else b""
    return Encapsulation.decode(head + body)


async def _identity_object(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: QueryTarget
) -> dict[str, Any]:
    reply = await _exchange(reader, writer, register_session_request(), target)
    if reply.status != 0 or reply.session == 0:
        return {}
    session = reply.session
    try:
        request = CipRequest(codes.SVC_GET_ATTRIBUTES_ALL, IDENTITY_PATH)
        answer = await _exchange(reader, writer, unconnected_request(session, request, CONTEXT), target)
        for item in SendRRData.decode(answer.data).items:
            if item.type_id == codes.ITEM_UNCONNECTED_DATA:
                response = CipResponse.decode(item.data)
                if response.status == 0 and response.data:
                    return IdentityInfo.decode_attributes(response.data).as_fields()
        return {}
    finally:
        await target.wait_turn()  # a request too (the device answers none)
        writer.write(Encapsulation(codes.CMD_UNREGISTER_SESSION, session=session).encode())
        await writer.drain()


@shares_connection
async def identify(target: QueryTarget) -> Identity | None:
    """Identity of the EtherNet/IP device at ``target`` (vendor, type, product, revision, serial, state)."""
    fields: dict[str, Any] = {}
    try:
        async with target.stream() as (reader, writer):
            try:
                reply = await _exchange(reader, writer, list_identity_request(CONTEXT), target)
                if reply.command == codes.CMD_LIST_IDENTITY and reply.status == 0:
                    for item in decode_cpf(reply.data):
                        if item.type_id == codes.ITEM_LIST_IDENTITY:
                            fields.update(IdentityInfo.decode_list_identity_item(item.data).as_fields())
                            break
                if target.extra.get("enip_session", True):
                    fields.update(await _identity_object(reader, writer, target))
            except (OSError, TimeoutError, asyncio.IncompleteReadError, *DECODE_ERRORS):
                pass  # keep whatever List Identity told
    except (OSError, TimeoutError):
        return None
    return identity_from_fields(fields)
