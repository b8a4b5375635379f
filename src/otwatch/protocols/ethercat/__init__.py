"""EtherCAT (ethertype 0x88A4): the master's frames and the datagrams they carry.

Hand-written: one 2-byte frame header and a bounded walk of 10-byte datagram headers, for frames that
come every cycle (often every millisecond). A master sends each frame with working counters of zero
and the slaves it passes through count them up on its way back, so a frame whose working counters are
all zero is the master's (its sender gets the role), one with counts is the returning frame. Slaves
never send frames of their own and EtherCAT carries no identity in its process data: the record gives
the protocol and the master role, and the addressing (auto-increment, configured station, broadcast,
logical). A write to a slave's AL Control register (0x0120) is a request to change its state machine
(Init, Pre-Operational, Safe-Operational, Operational) and is tagged as a mode change. The sensor calls
this for non-IP frames (``transport="eth"``). Wire bytes never raise.
"""

from __future__ import annotations

from functools import partial
from struct import Struct
from typing import Any, Final

from otwatch.inventory.identity import Identity
from otwatch.protocols.base import ProtocolSpec, Record
from otwatch.protocols.framing import PerMessage
from otwatch.protocols.operations import Operation, tag

__all__ = ["SPEC", "datagram", "dissect_frame", "ethercat_frame", "identity_from"]

PROTOCOL: Final = "ethercat"
ETHERTYPE: Final = 0x88A4
TYPE_DLPDU: Final = 1
FRAME_TYPES: Final = {1: "EtherCAT commands", 4: "Network variables", 5: "Mailbox gateway"}
COMMANDS: Final = {
    0: "NOP",
    1: "APRD",
    2: "APWR",
    3: "APRW",
    4: "FPRD",
    5: "FPWR",
    6: "FPRW",
    7: "BRD",
    8: "BWR",
    9: "BRW",
    10: "LRD",
    11: "LWR",
    12: "LRW",
    13: "ARMW",
    14: "FRMW",
}
ADDRESSING: Final = {1: "auto-increment", 2: "auto-increment", 3: "auto-increment", 4: "configured",
                     5: "configured", 6: "configured", 7: "broadcast", 8: "broadcast", 9: "broadcast",
                     10: "logical", 11: "logical", 12: "logical", 13: "auto-increment", 14: "configured"}  # fmt: skip
WRITES: Final = frozenset({2, 3, 5, 6, 8, 9, 11, 12, 13, 14})
AL_CONTROL: Final = 0x0120
AL_STATES: Final = {1: "Init", 2: "Pre-Operational", 3: "Bootstrap", 4: "Safe-Operational", 8: "Operational"}
MAX_DATAGRAMS: Final = 64
_DATAGRAM: Final = Struct("<BBHHHH")  # cmd, idx, ADP, ADO, length/flags, IRQ


def dissect_frame(data: bytes) -> Record:
    """One EtherCAT frame (after the ethertype) -> one record."""
    if len(data) < 2:
        return Record(PROTOCOL, "unknown", {}, malformed="short EtherCAT header")
    head = data[0] | data[1] << 8
    length, ftype = head & 0x07FF, head >> 12
    fields: dict[str, Any] = {
        "length": length,
        "type": ftype,
        "type_name": FRAME_TYPES.get(ftype, str(ftype)),
    }
    record = Record(PROTOCOL, "unknown", fields)
    if ftype != TYPE_DLPDU:
        return record
    end = min(2 + length, len(data))
    if 2 + length > len(data):
        record.malformed = "EtherCAT frame length past the end"
    datagrams: list[dict[str, Any]] = []
    pos, more = 2, True
    while more and len(datagrams) < MAX_DATAGRAMS:
        if pos + _DATAGRAM.size + 2 > end:
            record.malformed = record.malformed or "EtherCAT datagram past the end of the frame"
            break
        cmd, idx, adp, ado, lenflags, _irq = _DATAGRAM.unpack_from(data, pos)
        dlen, more = lenflags & 0x07FF, bool(lenflags & 0x8000)
        value = data[pos + _DATAGRAM.size : pos + _DATAGRAM.size + dlen]
        wkc_at = pos + _DATAGRAM.size + dlen
        if wkc_at + 2 > end:
            record.malformed = "EtherCAT datagram data past the end of the frame"
            break
        dg: dict[str, Any] = {
            "cmd": cmd,
            "cmd_name": COMMANDS.get(cmd, f"unknown-{cmd}"),
            "idx": idx,
            "length": dlen,
            "wkc": data[wkc_at] | data[wkc_at + 1] << 8,
            "circulating": bool(lenflags & 0x4000),
        }
        if ADDRESSING.get(cmd) == "logical":
            dg["logical_address"] = adp | ado << 16
        else:
            dg["adp"], dg["ado"] = adp, ado
            if cmd in WRITES and ado == AL_CONTROL and value:
                state = value[0] & 0x0F
                dg["al_state_request"] = AL_STATES.get(state, str(state))
        datagrams.append(dg)
        pos = wkc_at + 2
    fields["datagrams"] = datagrams
    fields["datagram_count"] = len(datagrams)
    if datagrams:
        record.direction = "request" if all(d["wkc"] == 0 for d in datagrams) else "response"
    for dg in datagrams:
        if "al_state_request" in dg and record.direction == "request":
            target = "every slave" if ADDRESSING[dg["cmd"]] == "broadcast" else f"slave 0x{dg['adp']:04x}"
            tag(
                fields,
                Operation.MODE_CHANGE,
                f"an EtherCAT AL state request {dg['al_state_request']} to {target}",
            )
    return record


def detect(payload: bytes) -> bool:
    """A frame header of the commands type whose length fits, and a first datagram with a known command."""
    if len(payload) < 2 + _DATAGRAM.size + 2:
        return False
    head = payload[0] | payload[1] << 8
    return head >> 12 == TYPE_DLPDU and 12 <= head & 0x07FF <= len(payload) - 2 and payload[2] in COMMANDS


def identity_from(record: Record) -> Identity | None:
    """The sender of a frame with all working counters zero is the segment's master."""
    if record.direction != "request" or record.malformed:
        return None
    return Identity(protocol=PROTOCOL, extra={"ethercat_role": "master"})


def datagram(
    cmd: int, adp: int, ado: int, data: bytes, wkc: int = 0, more: bool = False, idx: int = 0
) -> bytes:
    """One datagram's wire bytes (tests and synthetic traffic)."""
    lenflags = len(data) | (0x8000 if more else 0)
    return _DATAGRAM.pack(cmd, idx, adp, ado, lenflags, 0) + data + wkc.to_bytes(2, "little")


def ethercat_frame(*datagrams: bytes) -> bytes:
    body = b"".join(datagrams)
    return (len(body) | TYPE_DLPDU << 12).to_bytes(2, "little") + body


SPEC = ProtocolSpec(
    name=PROTOCOL,
    transport="eth",
    ports=(ETHERTYPE,),
    detect=detect,
    dissector=partial(PerMessage, dissect_frame),
    identity_from=identity_from,
)
