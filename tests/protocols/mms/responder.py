"""A test MMS server on 127.0.0.1: answers COTP connect, the association (AC with an AARE carrying an
initiate-Response), Identify and conclude, and keeps every MMS PDU it was sent."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

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

IDENTITY = IdentifyResponse("ABB", "REF615", "5.0 FP1")


class Responder:
    def __init__(self, accept_tsap: bytes = b"\x00\x01") -> None:
        self.received: list[MmsPdu] = []
        self.accept_tsap = accept_tsap
        self.port = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readexactly(TPKT.size)
                tpdu = await reader.readexactly(TPKT.unpack(head)[2] - TPKT.size)
                if tpdu[1] >> 4 == cotp_codes.COTP_CR:
                    cr = CotpConnect.decode(tpdu)
                    if cr.called_tsap != self.accept_tsap:
                        return
                    cc = CotpConnect(
                        cotp_codes.COTP_CC, cr.src_ref, 0x4001, 0, cr.called_tsap, cr.calling_tsap
                    )
                    writer.write(tpkt_frame(cc.encode()))
                    continue
                spdu = SessionSpdu.decode(CotpData.decode(tpdu).payload)
                ((_ctx, value),) = PresentationPdu.decode(spdu.user_data).pdvs
                if spdu.si == codes.SPDU_CN:
                    value = AcseApdu.decode(value).user_information
                pdu = MmsPdu.decode(value)
                self.received.append(pdu)
                if pdu.pdu == codes.INITIATE_REQUEST:
                    answer = associate(InitiatePdu(codes.INITIATE_RESPONSE).encode(), accept=True)
                elif pdu.pdu == codes.CONFIRMED_REQUEST and pdu.service == codes.IDENTIFY:
                    reply = MmsPdu(codes.CONFIRMED_RESPONSE, pdu.invoke_id, codes.IDENTIFY, IDENTITY.encode())
                    answer = wrap_mms(reply.encode())
                elif pdu.pdu == codes.CONCLUDE_REQUEST:
                    answer = wrap_mms(MmsPdu(codes.CONCLUDE_RESPONSE).encode())
                else:
                    return
                writer.write(tpkt_frame(CotpData(answer).encode()))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[Responder]:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        async with server:
            yield self
