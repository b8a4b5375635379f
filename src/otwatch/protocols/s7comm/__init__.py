"""Siemens S7comm (and S7comm-plus detection) over ISO-on-TCP (TPKT/COTP), TCP port 102."""

from __future__ import annotations

from otwatch.inventory.identity import DeviceType, Identity
from otwatch.protocols.base import ProtocolSpec, Record
from otwatch.protocols.s7comm import codes
from otwatch.protocols.s7comm.dissect import PROTOCOL_PLUS, S7commDissector, identity_from_fields
from otwatch.protocols.s7comm.messages import DECODE_ERRORS, CotpConnect, judge_frames
from otwatch.protocols.s7comm.query import identify

__all__ = ["SPEC", "S7commDissector", "detect", "identify", "identity_from"]


def detect(payload: bytes) -> bool:
    """Content detection on TCP/102 (shared with MMS) and any other port: a TPKT/COTP DT whose user
    data starts with S7comm's 0x32 or S7comm-plus's 0x72, or a CR/CC whose TSAPs are S7's (see
    :func:`s7_tsaps`). A CR/CC that could be MMS's too is left to the next frame (the first DT)."""
    return judge_frames(payload, _frame_is_s7)


def _frame_is_s7(frame: bytes) -> bool | None:
    """True or False for a frame that decides; None for a CR/CC that MMS could send as well."""
    length = min(len(frame), int.from_bytes(frame[2:4], "big"))
    if frame[4] + 5 > length:
        return False
    pdu_type = frame[5] >> 4
    if pdu_type in (codes.COTP_CR, codes.COTP_CC):
        try:
            msg = CotpConnect.decode(frame[4:length])
        except DECODE_ERRORS:
            return False
        if s7_tsaps(msg):
            return True
        called = msg.called_tsap
        return False if called[:1] == b"\x00" else None  # an ISO selector (0x00nn) is MMS's
    s7_at = 4 + frame[4] + 1  # after the COTP header, whose length byte comes from the wire
    if pdu_type == codes.COTP_DT and len(frame) > max(7, s7_at):
        return frame[s7_at] in (codes.S7_PROTOCOL_ID, codes.S7PLUS_PROTOCOL_ID)
    return False


def s7_tsaps(msg: CotpConnect) -> bool:
    """TSAPs only S7 uses: a called TSAP of connection type 1-3 (PG, OP, S7 basic) with a non-zero
    rack/slot octet, or S7comm-plus's "SIMATIC-ROOT-..." names. MMS uses ISO selectors (0x0001)."""
    called, calling = msg.called_tsap, msg.calling_tsap
    if called.startswith(b"SIMATIC-") or calling.startswith(b"SIMATIC-"):
        return True
    return len(called) == 2 and called[0] in (1, 2, 3) and called[1] != 0


def identity_from(record: Record) -> Identity | None:
    """Identity facts carried by SZL answers (module/component identification, CPU mode)."""
    if record.protocol == PROTOCOL_PLUS:
        return Identity(protocol=PROTOCOL_PLUS, vendor="Siemens", device_type=DeviceType.PLC)
    return identity_from_fields(record.fields)


SPEC = ProtocolSpec(
    name="s7comm",
    transport="tcp",
    ports=(102,),
    detect=detect,
    dissector=S7commDissector,
    identity_from=identity_from,
    query=identify,
)
