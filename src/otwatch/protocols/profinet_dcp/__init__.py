"""PROFINET DCP (ethertype 0x8892, frame ids 0xFEFC-0xFEFF): how IO controllers and engineering
tools find, name and address PROFINET devices at layer 2.

Hand-written: one ``struct`` read of the DCP header and a bounded walk of its blocks, for every
Identify multicast a PROFINET network carries. An Identify or Get answer is the device describing
itself: NameOfStation, DeviceVendorValue (type of station), VendorID/DeviceID, DeviceRole and its IP
parameters, which fill the inventory; Set requests (a tool renaming or re-addressing a device) are
tagged with their operation (:mod:`otwatch.protocols.operations`): a new IP address or station name
is a NETWORK_CONFIG, a reset to factory settings a FACTORY_RESET; a Signal (the LED flash an
engineer uses to find a device) is only a field. The sensor calls this for non-IP frames (``transport="eth"``, the
"ports" are ethertypes). Field names follow tshark's pn_dcp. Wire bytes never raise.
"""

from __future__ import annotations

import struct
from functools import partial
from socket import inet_ntoa
from typing import Any, Final

from otwatch.inventory.identity import DeviceType, Identity
from otwatch.protocols.base import ProtocolSpec, Record
from otwatch.protocols.framing import PerMessage
from otwatch.protocols.operations import Operation, tag

__all__ = ["SPEC", "dissect_frame", "identity_from"]

PROTOCOL: Final = "profinet_dcp"
ETHERTYPE: Final = 0x8892
FRAME_IDS: Final = {
    0xFEFC: "Hello",
    0xFEFD: "Get/Set",
    0xFEFE: "Identify request",
    0xFEFF: "Identify response",
}
SERVICES: Final = {3: "Get", 4: "Set", 5: "Identify", 6: "Hello"}
SERVICE_TYPES: Final = {0: "Request", 1: "Response Success", 5: "Response - Request not supported"}
_HEADER: Final = struct.Struct("!HBBIHH")  # frame id, service id, service type, xid, delay, data length
_BLOCK: Final = struct.Struct("!BBH")
ROLES: Final = (
    (0x01, "IO-Device"),
    (0x02, "IO-Controller"),
    (0x04, "IO-Multidevice"),
    (0x08, "PN-Supervisor"),
)
#: PROFINET vendor ids (PI vendor list) of the vendors met most; others are shown by number.
VENDORS: Final = {0x002A: "Siemens", 0x00B0: "Phoenix Contact", 0x011D: "WAGO", 0x0120: "Beckhoff"}
SERVICE_SET: Final = 4
#: Control option (5) sub-options; Start/End bracket a Set transaction, they do not start a device.
CONTROL: Final = {
    1: "Start Transaction",
    2: "End Transaction",
    3: "Signal",
    4: "Response",
    5: "Reset Factory Settings",
    6: "Reset to Factory",
}
#: Set blocks that change a device, in the order their operation is reported.
SET_OPERATIONS: Final = (
    ((5, 6), Operation.FACTORY_RESET),
    ((5, 5), Operation.FACTORY_RESET),
    ((1, 2), Operation.NETWORK_CONFIG),
    ((2, 2), Operation.NETWORK_CONFIG),
    ((2, 6), Operation.NETWORK_CONFIG),
    ((1, 3), Operation.NETWORK_CONFIG),
)
MAX_BLOCKS: Final = 32


def _text(raw: bytes) -> str:
    return raw[:240].rstrip(b"\x00").decode("utf-8", "replace")


def dissect_frame(data: bytes) -> Record:
    """One DCP frame (from the frame id on) -> one record."""
    if len(data) < 12:
        return Record(PROTOCOL, "unknown", {}, malformed="short dcp header")
    frame_id, service_id, service_type, xid, _delay, length = _HEADER.unpack_from(data)
    if frame_id not in FRAME_IDS:
        return Record(PROTOCOL, "unknown", {"frame_id": frame_id}, malformed="not a DCP frame id")
    response = service_type & 0x01 == 1 or service_type == 5
    fields: dict[str, Any] = {
        "frame_id": frame_id,
        "service_id": service_id,
        "service": SERVICES.get(service_id, str(service_id)),
        "service_type": service_type,
        "xid": xid,
    }
    record = Record(PROTOCOL, "response" if response else "request", fields)
    end = 12 + length
    if end > len(data):
        record.malformed = "dcp data length past the end"
        end = len(data)
    # Answers (Identify/Get) carry a 2-byte BlockInfo, Set requests a 2-byte BlockQualifier.
    prefixed = (response and service_id in (3, 5)) or (service_id == 4 and not response)
    is_set = service_id == SERVICE_SET and not response
    pos = 12
    for _ in range(MAX_BLOCKS):
        if pos + 4 > end:
            break
        option, sub, blen = _BLOCK.unpack_from(data, pos)
        value = data[pos + 4 : pos + 4 + blen]
        pos += 4 + blen + (blen & 1)
        if len(value) < blen:
            record.malformed = "dcp block past the end"
            break
        if prefixed and not (option == 5 and sub == 4) and (option, sub) != (0xFF, 0xFF):
            if is_set and len(value) >= 2:
                _set_block(fields, option, sub, int.from_bytes(value[:2], "big"))
            value = value[2:]
        _block(fields, option, sub, value, response)
    if is_set:
        _set_operation(fields)
    return record


def _set_block(fields: dict[str, Any], option: int, sub: int, qualifier: int) -> None:
    """A Set request's block: its option/sub-option and BlockQualifier (bit 0: keep permanently;
    for a reset to factory, bits 1-4 say what to reset)."""
    fields.setdefault("set_blocks", []).append(f"{option}/{sub}")
    if (option, sub) == (5, 6):
        fields["reset_mode"] = (qualifier >> 1) & 0x0F
    elif option in (1, 2):
        fields["permanent"] = bool(qualifier & 0x01)


def _set_operation(fields: dict[str, Any]) -> None:
    blocks = set(fields.get("set_blocks", ()))
    if "5/3" in blocks:
        fields["signal"] = True  # flash the LED: identification, no change
    for key, operation in SET_OPERATIONS:
        if f"{key[0]}/{key[1]}" not in blocks:
            continue
        if operation == Operation.FACTORY_RESET:
            detail = f"a PROFINET DCP Set '{CONTROL[key[1]]}'"
        elif key == (1, 2):
            detail = (
                f"a PROFINET DCP Set of IP address {fields.get('ip')} mask {fields.get('netmask')} "
                f"gateway {fields.get('gateway')}"
            )
        elif key == (2, 2):
            detail = f"a PROFINET DCP Set of the name of station '{fields.get('name_of_station', '')}'"
        elif key == (2, 6):
            detail = f"a PROFINET DCP Set of the alias name '{fields.get('alias_name', '')}'"
        else:
            detail = "a PROFINET DCP Set of the DHCP parameters"
        tag(fields, operation, detail)
        return


def _block(fields: dict[str, Any], option: int, sub: int, value: bytes, response: bool) -> None:
    if option == 1 and sub == 2 and len(value) >= 12:
        fields["ip"] = inet_ntoa(value[0:4])
        fields["netmask"] = inet_ntoa(value[4:8])
        fields["gateway"] = inet_ntoa(value[8:12])
    elif option == 1 and sub == 1 and len(value) >= 6:
        fields["mac"] = value[:6].hex(":")
    elif option == 2 and sub == 1:
        fields["type_of_station"] = _text(value)
    elif option == 2 and sub == 2:
        fields["name_of_station"] = _text(value)
    elif option == 2 and sub == 3 and len(value) >= 4:
        fields["vendor_id"] = int.from_bytes(value[0:2], "big")
        fields["device_id"] = int.from_bytes(value[2:4], "big")
    elif option == 2 and sub == 4 and value:
        fields["device_role"] = value[0]
        fields["device_roles"] = [name for bit, name in ROLES if value[0] & bit]
    elif option == 2 and sub == 6:
        fields["alias_name"] = _text(value)
    elif option == 5 and sub == 4 and len(value) >= 3:
        fields["response_to"] = [value[0], value[1]]
        fields["block_error"] = value[2]
    elif option == 5:
        fields["control"] = CONTROL.get(sub, str(sub))
    elif option == 0xFF and sub == 0xFF:
        fields["all_selector"] = True


def detect(payload: bytes) -> bool:
    return len(payload) >= 12 and int.from_bytes(payload[:2], "big") in FRAME_IDS


def identity_from(record: Record) -> Identity | None:
    """An Identify/Get answer: the device's station name, type, vendor and device ids, role."""
    fields = record.fields
    if record.direction != "response" or record.malformed or fields.get("service_id") not in (3, 5):
        return None
    role = fields.get("device_role", 0)
    device_type = DeviceType.PLC if role & 0x02 else DeviceType.IO_MODULE if role & 0x01 else None
    vendor_id = fields.get("vendor_id")
    extra: dict[str, Any] = {k: fields[k] for k in ("ip", "alias_name") if k in fields}
    if fields.get("device_roles"):
        extra["profinet_roles"] = fields["device_roles"]
    return Identity(
        protocol=PROTOCOL,
        vendor=VENDORS.get(vendor_id) if vendor_id is not None else None,
        vendor_id=vendor_id,
        model=fields.get("type_of_station") or None,
        product_code=fields.get("device_id"),
        name=fields.get("name_of_station") or None,
        device_type=device_type,
        extra=extra,
    )


SPEC = ProtocolSpec(
    name=PROTOCOL,
    transport="eth",
    ports=(ETHERTYPE,),
    detect=detect,
    dissector=partial(PerMessage, dissect_frame),
    identity_from=identity_from,
)
