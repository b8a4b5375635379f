"""IEC 61850 / ISO 9506 MMS over ISO session and presentation on TPKT/COTP (RFC 1006), TCP port 102.

TCP/102 is shared with Siemens S7comm and S7comm-plus: :func:`detect` claims a flow only when its
bytes are MMS's stack, and :func:`otwatch.protocols.s7comm.detect` only when they are S7's, so a flow
is dissected by whichever protocol it really carries (see :func:`detect`).
"""

from __future__ import annotations

from typing import Final

from otwatch.inventory.identity import DeviceType, Identity
from otwatch.protocols import ber
from otwatch.protocols.base import ProtocolSpec, Record
from otwatch.protocols.mms import codes
from otwatch.protocols.mms.dissect import PROTOCOL, RAW_MMS_FIRST, MmsDissector
from otwatch.protocols.mms.messages import CotpConnect, PresentationPdu, SessionSpdu
from otwatch.protocols.mms.query import identify
from otwatch.protocols.s7comm import codes as cotp_codes
from otwatch.protocols.s7comm import s7_tsaps
from otwatch.protocols.s7comm.messages import DECODE_ERRORS, judge_frames

__all__ = ["SPEC", "MmsDissector", "detect", "identify", "identity_from"]

#: Session SPDUs that can open what the sensor sees of a flow.
_FIRST_SPDUS: Final = frozenset((codes.SPDU_DT, codes.SPDU_CN, codes.SPDU_AC, 9, 10, 12, 25))


def detect(payload: bytes) -> bool:
    """A TPKT/COTP frame that is MMS's: a DT whose user data is an ISO session SPDU carrying
    presentation data (or an MMS PDU sent straight in COTP), or a CR/CC whose called TSAP is an ISO
    transport selector (0x00nn, as IEC 61850 uses) rather than S7's connection type and rack/slot.
    A CR/CC that could be either (LOGO!'s 0x0200) is left to the next frame (the first DT)."""
    return judge_frames(payload, _frame_is_mms)


def _frame_is_mms(frame: bytes) -> bool | None:
    """True or False for a frame that decides; None for a CR/CC that S7 could send as well."""
    length = min(len(frame), int.from_bytes(frame[2:4], "big"))
    li = frame[4]
    if li + 5 > length:
        return False
    pdu_type = frame[5] >> 4
    try:
        if pdu_type in (cotp_codes.COTP_CR, cotp_codes.COTP_CC):
            msg = CotpConnect.decode(frame[4:length])
            called = msg.called_tsap
            if (len(called) == 2 and called[0] == 0) or (len(called) == 4 and called[:2] == b"\0\0"):
                return True
            return False if s7_tsaps(msg) else None
        if pdu_type != cotp_codes.COTP_DT or li < 2:
            return False
        return is_upper_layer(frame[5 + li : length])
    except DECODE_ERRORS:
        return False


def is_upper_layer(user: bytes) -> bool:
    """Whether a COTP DT's user data is an MMS PDU or a session SPDU carrying presentation data."""
    if not user:
        return False
    if user[0] in RAW_MMS_FIRST:
        top = ber.read(user)
        return top is not None and top.number in codes.PDU_NAMES
    if user[0] not in _FIRST_SPDUS:
        return False
    spdu = SessionSpdu.decode(user)
    if not spdu.user_data:
        return spdu.si != codes.SPDU_DT and len(user) <= 2 + user[1]
    PresentationPdu.decode(spdu.user_data)
    return True


def identity_from(record: Record) -> Identity | None:
    """An Identify answer: the IED's vendor, model and revision."""
    fields = record.fields
    if record.malformed or "vendor_name" not in fields:
        return None
    return Identity(
        protocol=PROTOCOL,
        vendor=fields["vendor_name"] or None,
        model=fields.get("model_name") or None,
        firmware=fields.get("revision") or None,
        device_type=DeviceType.IED,
    )


SPEC = ProtocolSpec(
    name=PROTOCOL,
    transport="tcp",
    ports=(102,),
    detect=detect,
    dissector=MmsDissector,
    identity_from=identity_from,
    query=identify,
)
