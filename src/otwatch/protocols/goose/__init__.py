"""IEC 61850-8-1 GOOSE (ethertype 0x88B8): substation events published at layer 2.

Every frame names its publisher's control block (``gocbRef``), dataset and state and sequence
numbers; the sensor's substation engine (``sensor/engines/substation.py``) follows each publisher's
stNum/sqNum and time-allowed-to-live. Hand-written on the bounded BER reader; wire bytes never raise.
No active query: GOOSE has no request.
"""

from __future__ import annotations

from functools import partial

from otwatch.inventory.identity import DeviceType, Identity
from otwatch.protocols.base import ProtocolSpec, Record
from otwatch.protocols.framing import PerMessage
from otwatch.protocols.goose.dissect import PROTOCOL, dissect_frame, ied_name
from otwatch.protocols.goose.messages import ETHERTYPE, HEADER, GoosePdu

__all__ = ["SPEC", "GoosePdu", "detect", "dissect_frame", "identity_from"]


def detect(payload: bytes) -> bool:
    return len(payload) > HEADER.size + 2 and payload[HEADER.size] == 0x61


def identity_from(record: Record) -> Identity | None:
    """The publisher: an IED, named after the IED part of its control block reference."""
    ref = record.fields.get("gocb_ref")
    if record.malformed or not ref:
        return None
    return Identity(
        protocol=PROTOCOL,
        name=ied_name(ref),
        device_type=DeviceType.IED,
        extra={"goose_control_block": ref},
    )


SPEC = ProtocolSpec(
    name=PROTOCOL,
    transport="eth",
    ports=(ETHERTYPE,),
    detect=detect,
    dissector=partial(PerMessage, dissect_frame),
    identity_from=identity_from,
)
