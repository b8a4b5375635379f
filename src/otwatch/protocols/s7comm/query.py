"""Read-only active identification of an S7 CPU: COTP connect, setup communication, SZL reads.

Safety (PEERS.md): one TCP connection for all reads, at most two TSAP tries (rack 0 slot 2 for S7-300,
then rack 0 slot 1 for S7-1200/1500 and S7-400 variants), one request in flight and every request paced
by ``QueryTarget.wait_turn`` (the scan's per-host limiter), SZL reads only (0x0011 / 0x001C / 0x0424,
then the rack's modules: 0x0D91 for rack 0, or 0x0091 where that is refused; at most two more
requests, skipped when ``target.extra["backplane"]`` is False: the agent's ``backplane_modules``
policy) and never a control job.

The modules (``Identity.modules``, the asset's backplane) are the CPU itself (its slot from the TSAP
that answered, order number and firmware from 0x0011, serial and type from 0x001C) and the modules the
module status list names (slot, first address, kind and state; the list carries no order numbers).
The first try runs on the scan's port-check connection when one is handed over. Messages are
hand-built from ``messages.py`` rather than snap7's client so exactly these bytes go out (and because snap7's ``get_cpu_state`` does not read 0x0424).
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, Final

from otwatch.inventory.identity import Identity
from otwatch.protocols.base import QueryTarget, shares_connection
from otwatch.protocols.s7comm import codes
from otwatch.protocols.s7comm.dissect import identity_from_fields
from otwatch.protocols.s7comm.messages import (
    DECODE_ERRORS,
    TPKT,
    CotpConnect,
    CotpData,
    DataItem,
    S7Pdu,
    SetupCommunication,
    SzlRequest,
    SzlResponse,
    UserDataParam,
    tpkt_frame,
)

TSAP_TRIES: Final = ((0, 2), (0, 1))
SZL_READS: Final = (codes.SZL_MODULE_ID, codes.SZL_COMPONENT_ID, codes.SZL_CPU_MODE)
#: the module lists asked for, in order, until one is answered: rack 0's modules, then all modules
RACK_READS: Final = ((codes.SZL_MODULES_OF_RACK, 0x0000), (codes.SZL_MODULES_ALL, 0x0000))
MAX_MODULES: Final = 64  # kept per asset (the wire takes 256; a rack holds at most 32)
MAX_SZL_FRAGMENTS: Final = 8


class _Link:
    """One ISO-on-TCP connection with a response timeout on every read."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: QueryTarget
    ) -> None:
        self.reader, self.writer, self.target = reader, writer, target
        self.timeout = target.response_timeout
        self._refs = itertools.count(1)

    async def _tpdu(self) -> bytes:
        head = await asyncio.wait_for(self.reader.readexactly(TPKT.size), self.timeout)
        version, _, length = TPKT.unpack(head)
        if version != codes.TPKT_VERSION or length < TPKT.size + 3:
            raise ValueError("peer does not speak TPKT")
        return await asyncio.wait_for(self.reader.readexactly(length - TPKT.size), self.timeout)

    async def connect(self, rack: int, slot: int) -> bool:
        cr = CotpConnect(called_tsap=CotpConnect.tsap_for(rack, slot))
        await self.target.wait_turn()
        self.writer.write(tpkt_frame(cr.encode()))
        await self.writer.drain()
        tpdu = await self._tpdu()
        return tpdu[1] >> 4 == codes.COTP_CC

    async def exchange(self, pdu: bytes) -> S7Pdu:
        await self.target.wait_turn()
        self.writer.write(tpkt_frame(CotpData(pdu).encode()))
        await self.writer.drain()
        payload = b""
        while True:  # join COTP DT segments up to the EOT bit
            dt = CotpData.decode(await self._tpdu())
            payload += dt.payload
            if dt.last:
                return S7Pdu.decode(payload)

    def next_ref(self) -> int:
        return next(self._refs) & 0xFFFF


async def _read_szl(link: _Link, szl_id: int, index: int = 0) -> SzlResponse | None:
    """One SZL read, following "more data" answers with continuation requests as real CPUs require."""
    answer = await link.exchange(SzlRequest(szl_id, index).encode_pdu(link.next_ref()))
    data = b""
    for _ in range(MAX_SZL_FRAGMENTS):
        if answer.rosctr != codes.ROSCTR_USERDATA or len(answer.data) < 4:
            return None
        param = UserDataParam.decode(answer.parameter)
        item, _ = DataItem.decode(answer.data)
        if item.return_code != codes.RETURN_CODE_SUCCESS:
            return None
        data += item.payload
        if not param.last_data_unit:
            return SzlResponse.decode(data)
        follow = UserDataParam(
            (0x4 << 4) | codes.GROUP_CPU,
            codes.SUBFUNC_READ_SZL,
            param.sequence,
            method=0x12,
            data_unit_ref=param.data_unit_ref,
            last_data_unit=0,
            error_code=0,
        ).encode()
        cont = S7Pdu(codes.ROSCTR_USERDATA, link.next_ref(), follow, DataItem(0x0A, 0, b"").encode())
        answer = await link.exchange(cont.encode())
    return None


async def _session(target: QueryTarget, rack: int, slot: int) -> dict[str, Any] | None:
    """Connect with one TSAP; ``None`` when the CPU refused it (try the next), else what it told."""
    async with target.stream() as (reader, writer):
        link = _Link(reader, writer, target)
        fields: dict[str, Any] = {}
        try:
            if not await link.connect(rack, slot):
                return None
            fields.update({"rack": rack, "slot": slot})
            setup = await link.exchange(
                S7Pdu(codes.ROSCTR_JOB, link.next_ref(), SetupCommunication().encode()).encode()
            )
            if setup.rosctr != codes.ROSCTR_ACK_DATA or setup.error_class:
                return fields
            fields["pdu_size"] = SetupCommunication.decode(setup.parameter).pdu_size
            for szl_id in SZL_READS:
                szl = await _read_szl(link, szl_id)
                if szl is None:
                    continue
                if szl_id == codes.SZL_MODULE_ID:
                    fields.update(szl.module_identification())
                elif szl_id == codes.SZL_COMPONENT_ID:
                    fields.update(szl.component_identification())
                elif (mode := szl.cpu_mode()) is not None:
                    fields["cpu_state"] = mode
            rack_modules: list[dict[str, object]] = []
            for szl_id, index in RACK_READS if target.extra.get("backplane", True) else ():
                szl = await _read_szl(link, szl_id, index)
                if szl is not None:
                    rack_modules = szl.module_status()
                    break
            fields["modules"] = modules(fields, rack, slot, rack_modules)
            return fields
        except (OSError, TimeoutError, asyncio.IncompleteReadError, *DECODE_ERRORS):
            return fields or None


def modules(
    fields: dict[str, Any], rack: int, slot: int, listed: list[dict[str, object]]
) -> list[dict[str, Any]]:
    """The backplane as the asset's modules: the CPU (at the rack and slot its TSAP named, with what
    SZL 0x0011 and 0x001C told of it) merged with the module status list's entry for that slot, then
    the other listed modules; by rack (or station) and slot, at most MAX_MODULES."""
    cpu: dict[str, Any] = {"rack": rack, "slot": slot, "type": "CPU"}
    for key, name in (
        ("module_type", "name"),
        ("order_number", "order_number"),
        ("firmware", "firmware"),
        ("hardware", "hardware"),
        ("serial", "serial"),
    ):
        if fields.get(key):
            cpu[name] = fields[key]
    if "name" not in cpu and fields.get("module_name"):
        cpu["name"] = fields["module_name"]
    out: list[dict[str, Any]] = []
    for m in listed:
        if m.get("rack") == rack and m.get("slot") == slot and "submodule" not in m:
            cpu = {**m, **cpu}  # the CPU's own answers name it; the list adds its address and state
        else:
            out.append(dict(m))
    if len(cpu) > 3 or listed:  # the CPU answered something about itself, or a rack was listed
        out.append(cpu)
    out.sort(
        key=lambda m: (
            str(m.get("station", "")),
            int(m.get("rack", 0)),
            int(m["slot"]),
            int(m.get("submodule", 0)),
        )
    )
    return out[:MAX_MODULES]


@shares_connection
async def identify(target: QueryTarget) -> Identity | None:
    """Identity of the S7 CPU at ``target`` (model, order number, firmware, serial, name, Run/Stop)."""
    for rack, slot in TSAP_TRIES:
        try:
            fields = await _session(target, rack, slot)
        except (OSError, TimeoutError):
            return None  # no listener or no answer: do not knock again
        if fields is None:
            continue
        found = fields.pop("modules", [])
        identity = identity_from_fields(fields)
        if identity is not None:
            identity.extra.update({"rack": rack, "slot": slot})
            identity.modules = found
        return identity
    return None
