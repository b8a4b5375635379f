"""Active, read-only Modbus identification: FC 43/14 Read Device Identification only.

Safety limits come from field incidents (see PEERS.md): one TCP connection per host (the scan's port
check when it hands one over), closed with FIN; one request in flight, each request and retry paced by
``QueryTarget.wait_turn`` (the scan's per-host limiter, else 10/s); unit ids 1, 0 and 255 only; one
retry, and the host is abandoned after two consecutive timeouts. Nothing here can write: the only request built is
:class:`ReadDeviceIdRequest`.
"""

from __future__ import annotations

import asyncio

from otwatch.inventory.identity import Identity
from otwatch.protocols.base import MIN_REQUEST_INTERVAL, QueryTarget, Record, shares_connection
from otwatch.protocols.modbus.codes import DEVICE_ID_OBJECTS, EXCEPTION_BIT, ReadDeviceIdCode
from otwatch.protocols.modbus.dissect import PROTOCOL, identity_from, object_text
from otwatch.protocols.modbus.messages import (
    MAX_PDU,
    MBAP,
    MBAP_SIZE,
    Frame,
    ModbusDecodeError,
    ReadDeviceIdRequest,
    ReadDeviceIdResponse,
)

UNIT_IDS = (1, 0, 255)
MIN_INTERVAL = MIN_REQUEST_INTERVAL  # without the scan's pacer: at most 10 requests/s to one host
MAX_PAGES = 8  # "more follows" pages per read code; a device that pages forever is cut off
MAX_TIMEOUTS = 2
REGULAR_FIRST_OBJECT = 3  # first object of the regular category (VendorUrl)


class _HostGone(Exception):
    """Two consecutive timeouts or a closed connection: stop talking to this host."""


class _Session:
    """One TCP connection with strictly one outstanding request."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: QueryTarget
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.target = target
        self.timeout = target.response_timeout
        self.tid = 0
        self.timeouts = 0

    async def request(self, unit: int, pdu: bytes) -> bytes | None:
        """Send one PDU and return the reply PDU; ``None`` when the device did not answer in time."""
        for _attempt in range(2):  # one retry
            await self.target.wait_turn()
            self.tid = (self.tid + 1) & 0xFFFF
            self.writer.write(Frame(self.tid, unit, pdu).encode())
            try:
                await self.writer.drain()
                reply = await asyncio.wait_for(self._read_reply(self.tid), self.timeout)
            except TimeoutError:
                self.timeouts += 1
                if self.timeouts >= MAX_TIMEOUTS:
                    raise _HostGone from None
                continue
            except (OSError, asyncio.IncompleteReadError, ModbusDecodeError) as exc:
                raise _HostGone from exc
            self.timeouts = 0
            return reply
        return None

    async def _read_reply(self, tid: int) -> bytes:
        while True:  # frames with another transaction id are late replies to a retried request
            header = await self.reader.readexactly(MBAP_SIZE)
            rtid, pid, length, _unit = MBAP.unpack(header)
            if pid != 0 or not 2 <= length <= MAX_PDU + 1:
                raise ModbusDecodeError(f"bad mbap header in reply (protocol {pid}, length {length})")
            pdu = await self.reader.readexactly(length - 1)
            if rtid == tid:
                return pdu


async def _read_objects(session: _Session, unit: int) -> dict[int, bytes]:
    """Basic objects, then regular ones when the device claims that conformity level."""
    objects: dict[int, bytes] = {}
    plan = [(ReadDeviceIdCode.BASIC, 0)]
    while plan:
        read_code, object_id = plan.pop(0)
        for _page in range(MAX_PAGES):
            reply = await session.request(unit, ReadDeviceIdRequest(read_code, object_id).encode())
            if reply is None or not reply or reply[0] & EXCEPTION_BIT:
                break
            try:
                msg = ReadDeviceIdResponse.decode(reply)
            except ModbusDecodeError:
                break
            objects.update(msg.objects)
            if read_code == ReadDeviceIdCode.BASIC and (msg.conformity & 0x7F) >= ReadDeviceIdCode.REGULAR:
                plan = [(ReadDeviceIdCode.REGULAR, REGULAR_FIRST_OBJECT)]
            if not msg.more_follows or msg.next_object_id <= object_id:
                break
            object_id = msg.next_object_id
    return objects


@shares_connection
async def identify(target: QueryTarget) -> Identity | None:
    """Ask unit ids 1, 0, 255 in turn over one connection; the first that identifies itself wins."""
    try:
        async with target.stream() as (reader, writer):
            session = _Session(reader, writer, target)
            for unit in UNIT_IDS:
                try:
                    objects = await _read_objects(session, unit)
                except _HostGone:
                    return None
                if objects:
                    names = {
                        DEVICE_ID_OBJECTS.get(k, f"object-{k}"): object_text(v) for k, v in objects.items()
                    }
                    record = Record(PROTOCOL, "response", {"unit": unit, "objects": names})
                    return identity_from(record)
            return None
    except (OSError, TimeoutError):
        return None
