"""Passive PROFINET IO CM dissection: one record per DCE/RPC datagram on UDP 34964.

Fields: the RPC packet type, interface (PNIO Device/Controller ...), operation (Connect, Release,
Read, Write, Control, Read Implicit), sequence and activity, then from the PNIO blocks (after the
20-byte NDR array header) the block type, the record index, API, slot and subslot of a Read or Write,
the controller's station name of a Connect and, in a Read answer of I&M0, the device's identity
(vendor id, order id, serial number, hardware and software revision). A Write request is tagged
PARAMETER_WRITE. Wire bytes never raise.
"""

from __future__ import annotations

import struct
from typing import Any, Final
from uuid import UUID

from otwatch.inventory.identity import Identity
from otwatch.protocols.base import Record
from otwatch.protocols.operations import Operation, tag
from otwatch.protocols.profinet_io import codes
from otwatch.protocols.profinet_io.messages import RpcDecodeError, RpcHeader

PROTOCOL: Final = "profinet_io"
NDR_HEADER: Final = 20
_BLOCK: Final = struct.Struct(">HHBB")
_RW_HEADER: Final = struct.Struct(">H16sIHH2sHI")  # seq, AR UUID, API, slot, subslot, pad, index, length
_IM0: Final = struct.Struct(">H20s16sH4sHHHHH")


def dissect_datagram(data: bytes) -> Record:
    try:
        header = RpcHeader.decode(data)
    except RpcDecodeError as exc:
        return Record(PROTOCOL, "unknown", {}, malformed=str(exc))
    fields: dict[str, Any] = {
        "packet_type": codes.PACKET_TYPES.get(header.ptype, str(header.ptype)),
        "interface": codes.INTERFACES.get(header.interface, str(header.interface)),
        "opnum": header.opnum,
        "seqnum": header.seqnum,
        "activity": str(header.activity),
    }
    direction: Any = "request" if header.ptype == codes.PTYPE_REQUEST else "response"
    record = Record(PROTOCOL, direction, fields)
    if header.interface in codes.PNIO_INTERFACES:
        fields["operation_name"] = codes.OPNUMS.get(header.opnum, f"opnum {header.opnum}")
        if header.ptype in (codes.PTYPE_REQUEST, codes.PTYPE_RESPONSE) and header.fragnum == 0:
            _blocks(header, fields, header.ptype == codes.PTYPE_REQUEST)
    return record


def _blocks(header: RpcHeader, fields: dict[str, Any], request: bool) -> None:
    body = header.body
    if len(body) < NDR_HEADER:
        return
    if not request:
        fields["pnio_status"] = body[0:4].hex()
    pos = NDR_HEADER
    first = True
    while pos + _BLOCK.size <= len(body):
        btype, blen, _hi, _lo = _BLOCK.unpack_from(body, pos)
        end = pos + 4 + blen
        block = body[pos:end]
        if first:
            fields["block_type"] = codes.BLOCK_TYPES.get(btype, f"0x{btype:04x}")
            first = False
        if btype in (codes.BLOCK_IOD_WRITE_REQ, codes.BLOCK_IOD_READ_REQ, codes.BLOCK_IOD_READ_RES):
            _record_header(header, block, fields, btype, body[pos + 64 :])
            return  # the record data follows; WriteMultiple's inner headers are not walked
        if btype == codes.BLOCK_AR_REQ and len(block) >= 58:
            # ARType, ARUUID, SessionKey, initiator MAC and object UUID, ARProperties, activity
            # timeout, UDP RT port, then the initiator's station name (length-prefixed)
            (size,) = struct.unpack_from(">H", block, 56)
            fields["ar_uuid"] = str(UUID(bytes=block[8:24]))
            fields["cm_initiator_station_name"] = block[58 : 58 + size].decode("latin-1", "replace")
        if blen < 2:
            return
        pos = end


def _record_header(header: RpcHeader, block: bytes, fields: dict[str, Any], btype: int, data: bytes) -> None:
    if len(block) < 6 + _RW_HEADER.size:
        return
    _seq, _ar, api, slot, subslot, _pad, index, length = _RW_HEADER.unpack_from(block, 6)
    fields.update(
        {
            "api": api,
            "slot": slot,
            "subslot": f"0x{subslot:04x}",
            "index": f"0x{index:04x}",
            "index_name": codes.RECORD_INDEX_NAMES.get(index, "record"),
            "record_length": length,
        }
    )
    if btype == codes.BLOCK_IOD_WRITE_REQ:
        tag(
            fields,
            Operation.PARAMETER_WRITE,
            f"a PROFINET IO Write of record {fields['index']} ({fields['index_name']}) to slot {slot} "
            f"subslot {fields['subslot']}",
        )
    elif btype == codes.BLOCK_IOD_READ_RES and index == codes.INDEX_IM0:
        _im0(data, fields)


def _im0(data: bytes, fields: dict[str, Any]) -> None:
    if len(data) < 6 + _IM0.size or _BLOCK.unpack_from(data)[0] != codes.BLOCK_IM0:
        return
    vendor, order, serial, hw, sw, _counter, _profile, _ptype, _version, _supported = _IM0.unpack_from(
        data, 6
    )
    fields["vendor_id"] = vendor
    fields["order_id"] = order.decode("latin-1").strip(" \x00")
    fields["serial_number"] = serial.decode("latin-1").strip(" \x00")
    fields["hardware_revision"] = hw
    prefix = chr(sw[0]) if 0x20 <= sw[0] < 0x7F else "?"
    fields["software_revision"] = f"{prefix}{sw[1]}.{sw[2]}.{sw[3]}"


def identity_from_fields(fields: dict[str, Any]) -> Identity | None:
    """Identity from an I&M0 read answer."""
    if "order_id" not in fields:
        return None
    vendor_id = fields.get("vendor_id")
    return Identity(
        protocol=PROTOCOL,
        vendor=codes.VENDORS.get(vendor_id) if vendor_id is not None else None,
        vendor_id=vendor_id,
        model=fields["order_id"] or None,
        serial=fields.get("serial_number") or None,
        firmware=fields.get("software_revision"),
        extra={"hardware_revision": fields.get("hardware_revision")},
    )
