"""Read-only active identification of an MMS server (an IEC 61850 IED): the MMS Identify service.

One TCP connection: COTP connect (TSAP 0x0001 both ways, as IEC 61850 uses), session connect with the
presentation CP and ACSE AARQ carrying the MMS initiate, one Identify request, then conclude. Safety
(PEERS.md): one request in flight, every request paced by ``QueryTarget.wait_turn`` (the scan's
per-host limiter), nothing but initiate / identify / conclude is ever sent (no read, no write, no
control), and the query runs on the scan's port-check connection when one is handed over. Messages are
built from ``messages.py``, so exactly these bytes go out.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from otwatch.inventory.identity import DeviceType, Identity
from otwatch.protocols.base import QueryTarget, shares_connection
from otwatch.protocols.mms import codes
from otwatch.protocols.mms.messages import (
    TPKT,
    AcseApdu,
    CotpConnect,
    CotpData,
    IdentifyResponse,
    InitiatePdu,
    MmsPdu,
    PresentationPdu,
    SessionSpdu,
    associate,
    tpkt_frame,
    wrap_mms,
)
from otwatch.protocols.s7comm import codes as cotp_codes
from otwatch.protocols.s7comm.messages import DECODE_ERRORS

TSAP: Final = b"\x00\x01"
MAX_SEGMENTS: Final = 16


class _Link:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: QueryTarget
    ) -> None:
        self.reader, self.writer, self.target = reader, writer, target

    async def _tpdu(self) -> bytes:
        timeout = self.target.response_timeout
        head = await asyncio.wait_for(self.reader.readexactly(TPKT.size), timeout)
        version, _, length = TPKT.unpack(head)
        if version != cotp_codes.TPKT_VERSION or length < TPKT.size + 3:
            raise ValueError("peer does not speak TPKT")
        return await asyncio.wait_for(self.reader.readexactly(length - TPKT.size), timeout)

    async def send(self, tpdu: bytes) -> None:
        await self.target.wait_turn()
        self.writer.write(tpkt_frame(tpdu))
        await self.writer.drain()

    async def connect(self) -> bool:
        await self.send(CotpConnect(calling_tsap=TSAP, called_tsap=TSAP).encode())
        return (await self._tpdu())[1] >> 4 == cotp_codes.COTP_CC

    async def exchange(self, user_data: bytes) -> bytes:
        """Send one SPDU in a COTP DT; the peer's answer SPDU (DT segments joined)."""
        await self.send(CotpData(user_data).encode())
        payload = b""
        for _ in range(MAX_SEGMENTS):
            dt = CotpData.decode(await self._tpdu())
            payload += dt.payload
            if dt.last:
                return payload
        raise ValueError("answer in too many COTP segments")


def _mms_of(spdu_bytes: bytes) -> MmsPdu | None:
    """The MMS PDU in an answer SPDU (through presentation, and ACSE for an accept)."""
    spdu = SessionSpdu.decode(spdu_bytes)
    if not spdu.user_data:
        return None
    for _ctx, value in PresentationPdu.decode(spdu.user_data).pdvs[:1]:
        if value and value[0] & 0xE0 == 0x60:
            value = AcseApdu.decode(value).user_information
        if value:
            return MmsPdu.decode(value)
    return None


async def _session(target: QueryTarget) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    async with target.stream() as (reader, writer):
        link = _Link(reader, writer, target)
        try:
            if not await link.connect():
                return fields
            accept = _mms_of(await link.exchange(associate(InitiatePdu().encode())))
            if accept is None or accept.pdu != codes.INITIATE_RESPONSE:
                return fields
            fields["mms"] = True
            request = MmsPdu(codes.CONFIRMED_REQUEST, 1, codes.IDENTIFY, b"", constructed=False)
            answer = _mms_of(await link.exchange(wrap_mms(request.encode())))
            if (
                answer is not None
                and answer.pdu == codes.CONFIRMED_RESPONSE
                and answer.service == codes.IDENTIFY
            ):
                ident = IdentifyResponse.decode(answer.body)
                fields.update(vendor=ident.vendor, model=ident.model, revision=ident.revision)
            await link.exchange(wrap_mms(MmsPdu(codes.CONCLUDE_REQUEST).encode()))
        except (OSError, TimeoutError, asyncio.IncompleteReadError, *DECODE_ERRORS):
            pass
    return fields


@shares_connection
async def identify(target: QueryTarget) -> Identity | None:
    """Identity of the MMS server at ``target`` (vendor, model, revision), None if it is not one."""
    try:
        fields = await _session(target)
    except (OSError, TimeoutError):
        return None
    if not fields.get("mms"):
        return None
    return Identity(
        protocol="mms",
        vendor=fields.get("vendor") or None,
        model=fields.get("model") or None,
        firmware=fields.get("revision") or None,
        device_type=DeviceType.IED,
    )
