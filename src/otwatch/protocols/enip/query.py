"""Read-only active identification of an EtherNet/IP device over one TCP connection.

List Identity first (answered before any session exists); then, unless ``target.extra["enip_session"]``
is False, Register Session + Get_Attributes_All on the Identity object (class 1, instance 1), which
also returns the device state on adapters whose List Identity omits it, then Unregister Session.
Never Reset or any other service that changes the device (PEERS.md); one request in flight, each paced
by ``QueryTarget.wait_turn`` (the scan's per-host limiter); the scan's port-check connection is reused
when one is handed over.

In the same session the backplane is enumerated (``Identity.modules``): Get_Attributes_All on the
Identity object of each slot, through the Connection Manager's Unconnected Send routed to port 1 (the
backplane), slot 0 upwards; at most ``MAX_SLOTS`` (a ControlLogix chassis has at most 17) requests, at
the host's pace, so a full chassis costs under 2 s at PEERS.md's 10 requests/s. The enumeration stops at
the first answer that says the device routes nowhere (no such service or path: an adapter with no
backplane), when the device ends the session, and is off with ``target.extra["backplane"]=False`` (the agent's ``backplane_modules`` policy).
A device that ignores the route and answers for itself in every slot has no backplane either.
"""

from __future__ import annotations

import asyncio
import contextlib
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
    unconnected_send,
)

IDENTITY_PATH: Final = Path(class_id=codes.CLASS_IDENTITY, instance_id=1)
CONTEXT: Final = b"otwatch\x00"
MAX_SLOTS: Final = 17
#: general statuses of an Unconnected Send that mean "no backplane to route to" rather than "empty slot"
NO_ROUTING: Final = frozenset({0x05, 0x08, 0x16})  # path destination unknown, no service, no object
#: Connection Manager extended statuses (general status 0x01) that end the walk: no such port (the
#: device has no backplane), no such link address (past the chassis's last slot)
INVALID_PORT: Final = 0x0311
INVALID_LINK: Final = 0x0312
ROCKWELL: Final = 1


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


def _cip_answer(answer: Encapsulation) -> CipResponse | None:
    """The CIP response in a Send RR Data reply; None when the encapsulation itself failed."""
    if answer.status != 0 or answer.command != codes.CMD_SEND_RR_DATA:
        return None
    for item in SendRRData.decode(answer.data).items:
        if item.type_id == codes.ITEM_UNCONNECTED_DATA:
            return CipResponse.decode(item.data)
    return None


def module_of(slot: int, info: IdentityInfo) -> dict[str, Any]:
    """One backplane module as the asset's module row: slot, type, product name, order number (a
    Rockwell catalogue number leads its product name: "1756-EN2T/D"), firmware revision, serial."""
    module: dict[str, Any] = {
        "slot": slot,
        "type": codes.DEVICE_TYPE_NAMES.get(info.device_type, f"Device type {info.device_type}"),
        "name": info.product_name,
    }
    first = info.product_name.split(" ", 1)[0]
    if info.vendor_id == ROCKWELL and "-" in first and first[:1].isdigit():
        module["order_number"] = first
    if info.vendor_id != ROCKWELL:
        module["vendor"] = codes.VENDOR_NAMES.get(info.vendor_id, f"Vendor {info.vendor_id}")
    module["product_code"] = info.product_code
    module["firmware"] = f"{info.revision_major}.{info.revision_minor}"
    module["serial"] = f"0x{info.serial:08x}"
    return module


async def backplane(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: QueryTarget, session: int
) -> list[dict[str, Any]]:
    """The modules in the device's chassis, slot by slot (see the module docstring for the bounds)."""
    found: list[tuple[int, IdentityInfo]] = []
    identity = CipRequest(codes.SVC_GET_ATTRIBUTES_ALL, IDENTITY_PATH)
    for slot in range(int(target.extra.get("enip_backplane_slots", MAX_SLOTS))):
        request = unconnected_request(session, unconnected_send(identity, slot), CONTEXT)
        try:
            response = _cip_answer(await _exchange(reader, writer, request, target))
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            break  # the device ended the session (or stopped answering): keep what it told
        if response is None:
            break
        if response.status in NO_ROUTING and not found:
            break  # it routes nowhere: no backplane
        if response.status == 0x01 and {INVALID_PORT, INVALID_LINK} & set(response.extended_status):
            break  # no backplane port, or past the chassis's last slot
        if response.status != 0 or not response.data:
            continue  # an empty slot, or a module that does not answer
        info = IdentityInfo.decode_attributes(response.data)
        if any((i.serial, i.product_code) == (info.serial, info.product_code) for _, i in found):
            return []  # the same module in two slots: the device ignores the route, no backplane
        found.append((slot, info))
    return [module_of(slot, info) for slot, info in found]


async def _identity_object(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: QueryTarget
) -> dict[str, Any]:
    reply = await _exchange(reader, writer, register_session_request(), target)
    if reply.status != 0 or reply.session == 0:
        return {}
    session = reply.session
    fields: dict[str, Any] = {}
    try:
        request = CipRequest(codes.SVC_GET_ATTRIBUTES_ALL, IDENTITY_PATH)
        answer = await _exchange(reader, writer, unconnected_request(session, request, CONTEXT), target)
        response = _cip_answer(answer)
        if response is not None and response.status == 0 and response.data:
            fields.update(IdentityInfo.decode_attributes(response.data).as_fields())
        if target.extra.get("backplane", True):
            with contextlib.suppress(*DECODE_ERRORS):  # a module's odd answer: its own identity stands
                fields["modules"] = await backplane(reader, writer, target, session)
        return fields
    finally:
        if not writer.is_closing():
            await target.wait_turn()  # a request too (the device answers none)
            try:
                writer.write(Encapsulation(codes.CMD_UNREGISTER_SESSION, session=session).encode())
                await writer.drain()
            except OSError:
                pass  # the device ended the session first (some do after a refused route)


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
    found = fields.pop("modules", [])
    identity = identity_from_fields(fields)
    if identity is not None:
        identity.modules = found
    return identity
