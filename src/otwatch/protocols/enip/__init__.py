"""EtherNet/IP and CIP: TCP 44818 (explicit messaging), UDP 44818 (List Identity), UDP 2222 (class-1 I/O)."""

from __future__ import annotations

from functools import partial

from otwatch.inventory.identity import Identity
from otwatch.protocols.base import ProtocolSpec, Record
from otwatch.protocols.enip import codes
from otwatch.protocols.enip.dissect import EnipDissector, identity_from_fields
from otwatch.protocols.enip.messages import ENCAP
from otwatch.protocols.enip.query import identify

__all__ = ["SPEC", "SPEC_UDP", "EnipDissector", "detect", "detect_udp", "identify", "identity_from"]


def detect(payload: bytes) -> bool:
    """Content detection: a known encapsulation command whose length field fits the bytes and whose
    options field is zero, as the specification requires (a DCE/RPC header, 04 00 ..., would otherwise
    read as List Services)."""
    if len(payload) < ENCAP.size:
        return False
    command = int.from_bytes(payload[0:2], "little")
    length = int.from_bytes(payload[2:4], "little")
    if command not in codes.COMMAND_NAMES or ENCAP.size + length > len(payload) or payload[20:24] != bytes(4):
        return False
    if command == codes.CMD_NOP:  # 24 zero bytes: too weak a signal
        return False
    if command == codes.CMD_LIST_TARGETS:
        # 01 00 begins many binary protocols: the legacy List Targets (still sent to 44818 by some
        # tools) must also be one whole message with a zero status.
        return ENCAP.size + length == len(payload) and payload[8:12] == bytes(4)
    return True


def detect_udp(payload: bytes) -> bool:
    """Encapsulation on UDP, or class-1 I/O: CPF of a sequenced address item and connected data."""
    if detect(payload):
        return True
    return (
        len(payload) >= 18
        and payload[0:2] == b"\x02\x00"
        and int.from_bytes(payload[2:4], "little") == codes.ITEM_SEQUENCED_ADDRESS
        and payload[4:6] == b"\x08\x00"
        and int.from_bytes(payload[14:16], "little") == codes.ITEM_CONNECTED_DATA
    )


def identity_from(record: Record) -> Identity | None:
    """Identity from List Identity answers and Identity-object Get_Attributes_All replies."""
    return identity_from_fields(record.fields)


SPEC = ProtocolSpec(
    name="enip",
    transport="tcp",
    ports=(codes.PORT,),
    detect=detect,
    dissector=EnipDissector,
    identity_from=identity_from,
    query=identify,
)
# Same protocol on UDP: List Identity broadcasts/answers on 44818 and implicit I/O on 2222.
SPEC_UDP = ProtocolSpec(
    name="enip",
    transport="udp",
    ports=(codes.PORT, codes.IO_PORT),
    detect=detect_udp,
    dissector=partial(EnipDissector, datagrams=True),
    identity_from=identity_from,
)
