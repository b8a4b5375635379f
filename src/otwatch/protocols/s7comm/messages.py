"""TPKT / COTP / S7comm messages: each class encodes (what the agent sends) and decodes (what the sensor reads).

Hand-written with precompiled ``struct.Struct`` and ``memoryview`` slicing because the passive sensor runs
these on every S7 packet; a declarative builder (scapy style) costs an order of magnitude more. ``decode``
raises ``ValueError`` on out-of-spec bytes (``struct.error`` is a subclass); the dissector turns that into
``Record.malformed``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from otwatch.protocols.framing import TpktStream
from otwatch.protocols.s7comm import codes

Buffer = bytes | bytearray | memoryview
# What decoding out-of-spec bytes may raise: short buffers fail in struct or indexing, bad values here.
DECODE_ERRORS: Final = (ValueError, IndexError, struct.error)

TPKT: Final = struct.Struct(">BBH")  # version, reserved, length (header included)
S7_HEADER: Final = struct.Struct(">BBHHHH")  # protocol id, rosctr, reserved, pdu ref, param len, data len
S7_ERROR: Final = struct.Struct(">BB")
COTP_CONNECT: Final = struct.Struct(">BBHHB")  # length indicator, type<<4, dst ref, src ref, class
SETUP_COMM: Final = struct.Struct(">BBHHH")  # function, reserved, max amq calling, max amq called, pdu size
S7ANY_ITEM: Final = struct.Struct(">BBBBHHB3s")  # 0x12, len, syntax, tsize, length, db, area, address
USERDATA_PARAM: Final = struct.Struct(">3sBBBBB")  # head, length, method, type|group, subfunction, seq
USERDATA_PARAM_EXT: Final = struct.Struct(">BBH")  # data unit ref, last data unit, error code
DATA_ITEM: Final = struct.Struct(">BBH")  # return code, transport size, length
SZL_HEADER: Final = struct.Struct(">HHHH")  # szl id, index, record length, record count
USERDATA_HEAD: Final = b"\x00\x01\x12"


def tpkt_frame(payload: bytes) -> bytes:
    """Wrap a COTP PDU in a TPKT header (RFC 1006)."""
    return TPKT.pack(codes.TPKT_VERSION, 0, TPKT.size + len(payload)) + payload


def tpkt_frames(payload: bytes, limit: int = 4) -> list[bytes]:
    """The first whole TPKT frames of a stream's bytes (at most ``limit``), for content detection:
    a CR/CC that both S7 and MMS could send leaves the decision to the frame after it."""
    frames: list[bytes] = []
    at = 0
    while len(frames) < limit and at + 7 <= len(payload):
        if payload[at] != codes.TPKT_VERSION or payload[at + 1] != 0:
            break
        length = int.from_bytes(payload[at + 2 : at + 4], "big")
        if length < 7 or at + length > len(payload):
            if not frames:  # the first frame may be cut short (a partial read): judge what there is
                frames.append(payload[at:])
            break
        frames.append(payload[at : at + length])
        at += length
    return frames


def judge_frames(payload: bytes, judge: Callable[[bytes], bool | None]) -> bool:
    """Content detection on TCP/102: the verdict of the first of :func:`tpkt_frames` that ``judge``
    decides (True or False); a frame both protocols could send (None) passes to the next one."""
    for frame in tpkt_frames(payload):
        verdict = judge(frame)
        if verdict is not None:
            return verdict
    return False


def _text(raw: Buffer) -> str:
    """S7 identity strings are NUL/space padded Latin-1 in fixed-size fields."""
    return bytes(raw).split(b"\x00", 1)[0].decode("latin-1").strip()


@dataclass(slots=True)
class CotpConnect:
    """COTP connection request (CR) or confirm (CC), with the TSAPs that select rack and slot."""

    pdu_type: int = codes.COTP_CR
    dst_ref: int = 0
    src_ref: int = 1
    class_option: int = 0
    calling_tsap: bytes = b"\x01\x00"
    called_tsap: bytes = b"\x01\x02"
    tpdu_size: int | None = 0x0A  # 2**10 = 1024 bytes

    @staticmethod
    def tsap_for(rack: int, slot: int, connection_type: int = 1) -> bytes:
        """Remote TSAP: connection type (1 = PG), then rack (3 bits) and slot (5 bits)."""
        return bytes((connection_type, ((rack & 0x07) << 5) | (slot & 0x1F)))

    def encode(self) -> bytes:
        params = b""
        if self.tpdu_size is not None:
            params += bytes((codes.COTP_PARAM_TPDU_SIZE, 1, self.tpdu_size))
        params += bytes((codes.COTP_PARAM_CALLING_TSAP, len(self.calling_tsap))) + self.calling_tsap
        params += bytes((codes.COTP_PARAM_CALLED_TSAP, len(self.called_tsap))) + self.called_tsap
        head = COTP_CONNECT.pack(
            COTP_CONNECT.size - 1 + len(params),
            self.pdu_type << 4,
            self.dst_ref,
            self.src_ref,
            self.class_option,
        )
        return head + params

    @classmethod
    def decode(cls, buf: Buffer) -> CotpConnect:
        li, type_byte, dst, src, class_opt = COTP_CONNECT.unpack_from(buf, 0)
        if type_byte >> 4 not in (codes.COTP_CR, codes.COTP_CC):
            raise ValueError(f"not a COTP CR/CC: 0x{type_byte:02x}")
        msg = cls(type_byte >> 4, dst, src, class_opt, b"", b"", None)
        end = min(len(buf), li + 1)
        pos = COTP_CONNECT.size
        while pos + 2 <= end:
            code, plen = buf[pos], buf[pos + 1]
            value = bytes(buf[pos + 2 : pos + 2 + plen])
            if len(value) != plen:
                raise ValueError("COTP parameter runs past the PDU")
            if code == codes.COTP_PARAM_TPDU_SIZE and plen == 1:
                msg.tpdu_size = value[0]
            elif code == codes.COTP_PARAM_CALLING_TSAP:
                msg.calling_tsap = value
            elif code == codes.COTP_PARAM_CALLED_TSAP:
                msg.called_tsap = value
            pos += 2 + plen
        return msg


@dataclass(slots=True)
class CotpData:
    """COTP data TPDU (DT); ``last`` is the EOT bit that ends a segmented S7 PDU."""

    payload: bytes
    last: bool = True
    number: int = 0

    def encode(self) -> bytes:
        return (
            bytes((2, codes.COTP_DT << 4, (0x80 if self.last else 0) | (self.number & 0x7F))) + self.payload
        )

    @classmethod
    def decode(cls, buf: Buffer) -> CotpData:
        if len(buf) < 3 or buf[1] >> 4 != codes.COTP_DT:
            raise ValueError("not a COTP DT")
        li = buf[0]
        if li + 1 > len(buf):
            raise ValueError("COTP header longer than the TPDU")
        return cls(bytes(buf[li + 1 :]), bool(buf[2] & 0x80), buf[2] & 0x7F)


@dataclass(slots=True)
class S7Pdu:
    """One S7comm PDU: header, raw parameter and data parts (their meaning depends on ROSCTR/function)."""

    rosctr: int
    pdu_ref: int
    parameter: bytes = b""
    data: bytes = b""
    error_class: int | None = None  # present only in ACK and ACK-Data
    error_code: int | None = None

    def encode(self) -> bytes:
        head = S7_HEADER.pack(
            codes.S7_PROTOCOL_ID, self.rosctr, 0, self.pdu_ref, len(self.parameter), len(self.data)
        )
        if self.rosctr in (codes.ROSCTR_ACK, codes.ROSCTR_ACK_DATA):
            head += S7_ERROR.pack(self.error_class or 0, self.error_code or 0)
        return head + self.parameter + self.data

    @classmethod
    def decode(cls, buf: Buffer) -> S7Pdu:
        proto, rosctr, _, ref, plen, dlen = S7_HEADER.unpack_from(buf, 0)
        if proto != codes.S7_PROTOCOL_ID:
            raise ValueError(f"not S7comm: protocol id 0x{proto:02x}")
        pos = S7_HEADER.size
        err_class = err_code = None
        if rosctr in (codes.ROSCTR_ACK, codes.ROSCTR_ACK_DATA):
            err_class, err_code = S7_ERROR.unpack_from(buf, pos)
            pos += S7_ERROR.size
        if pos + plen + dlen > len(buf):
            raise ValueError("S7 parameter/data lengths run past the PDU")
        return cls(
            rosctr,
            ref,
            bytes(buf[pos : pos + plen]),
            bytes(buf[pos + plen : pos + plen + dlen]),
            err_class,
            err_code,
        )


@dataclass(slots=True)
class SetupCommunication:
    """Setup communication parameter (function 0xF0): negotiates parallel jobs and PDU size."""

    max_amq_calling: int = 1
    max_amq_called: int = 1
    pdu_size: int = 480

    def encode(self) -> bytes:
        return SETUP_COMM.pack(
            codes.FUNC_SETUP_COMMUNICATION, 0, self.max_amq_calling, self.max_amq_called, self.pdu_size
        )

    @classmethod
    def decode(cls, buf: Buffer) -> SetupCommunication:
        func, _, calling, called, size = SETUP_COMM.unpack_from(buf, 0)
        if func != codes.FUNC_SETUP_COMMUNICATION:
            raise ValueError("not a setup communication parameter")
        return cls(calling, called, size)


@dataclass(slots=True, frozen=True)
class VarItem:
    """An S7ANY item address: area, DB number, start byte (and bit), element count and type."""

    area: int
    db_number: int
    start: int
    length: int
    transport_size: int = 0x02  # BYTE
    bit: int = 0

    def encode(self) -> bytes:
        address = ((self.start << 3) | (self.bit & 0x07)).to_bytes(3, "big")
        return S7ANY_ITEM.pack(
            0x12,
            10,
            codes.SYNTAX_ID_S7ANY,
            self.transport_size,
            self.length,
            self.db_number,
            self.area,
            address,
        )

    @classmethod
    def decode(cls, buf: Buffer, offset: int = 0) -> VarItem:
        spec, _, syntax, tsize, length, db, area, address = S7ANY_ITEM.unpack_from(buf, offset)
        if spec != 0x12 or syntax != codes.SYNTAX_ID_S7ANY:
            raise ValueError(f"unsupported item syntax 0x{syntax:02x}")
        addr = int.from_bytes(address, "big")
        return cls(area, db, addr >> 3, length, tsize, addr & 0x07)

    def as_fields(self) -> dict[str, object]:
        return {
            "area": self.area,
            "area_name": codes.AREA_NAMES.get(self.area, "unknown"),
            "db_number": self.db_number,
            "start": self.start,
            "bit": self.bit,
            "length": self.length,
            "transport_size": codes.TRANSPORT_SIZE_NAMES.get(
                self.transport_size, f"0x{self.transport_size:02x}"
            ),
        }


@dataclass(slots=True)
class VarRequest:
    """Read or write variable request parameter: the function code and its item addresses."""

    function: int
    items: list[VarItem] = field(default_factory=list)

    def encode(self) -> bytes:
        return bytes((self.function, len(self.items))) + b"".join(item.encode() for item in self.items)

    @classmethod
    def decode(cls, buf: Buffer) -> VarRequest:
        if len(buf) < 2:
            raise ValueError("variable request parameter too short")
        items: list[VarItem] = []
        pos = 2
        for _ in range(buf[1]):
            if pos + 2 > len(buf):
                raise ValueError("item count exceeds the parameter")
            if (
                buf[pos] == 0x12
                and pos + 2 + buf[pos + 1] <= len(buf)
                and buf[pos + 2] == codes.SYNTAX_ID_S7ANY
            ):
                items.append(VarItem.decode(buf, pos))
            pos += 2 + buf[pos + 1]
        return cls(buf[0], items)


@dataclass(slots=True)
class UserDataParam:
    """User-data parameter: method, type/group, subfunction and (in responses) the error code."""

    type_group: int
    subfunction: int
    sequence: int = 0
    method: int = 0x11
    data_unit_ref: int | None = None  # the 8-byte (response) form carries these three
    last_data_unit: int | None = None
    error_code: int | None = None

    @property
    def group(self) -> int:
        return self.type_group & 0x0F

    def encode(self) -> bytes:
        ext = b""
        if self.error_code is not None:
            ext = USERDATA_PARAM_EXT.pack(self.data_unit_ref or 0, self.last_data_unit or 0, self.error_code)
        length = 4 + len(ext)
        return (
            USERDATA_PARAM.pack(
                USERDATA_HEAD, length, self.method, self.type_group, self.subfunction, self.sequence
            )
            + ext
        )

    @classmethod
    def decode(cls, buf: Buffer) -> UserDataParam:
        head, length, method, type_group, sub, seq = USERDATA_PARAM.unpack_from(buf, 0)
        if head != USERDATA_HEAD:
            raise ValueError("not a user-data parameter head")
        msg = cls(type_group, sub, seq, method)
        if length >= 8:
            msg.data_unit_ref, msg.last_data_unit, msg.error_code = USERDATA_PARAM_EXT.unpack_from(
                buf, USERDATA_PARAM.size
            )
        return msg


@dataclass(slots=True)
class DataItem:
    """A data part item: return code, transport size and payload (length in bits for bit/byte sizes)."""

    return_code: int
    transport_size: int
    payload: bytes

    def encode(self) -> bytes:
        length = len(self.payload) * 8 if self.transport_size in (0x03, 0x04, 0x05) else len(self.payload)
        return DATA_ITEM.pack(self.return_code, self.transport_size, length) + self.payload

    @classmethod
    def decode(cls, buf: Buffer, offset: int = 0) -> tuple[DataItem, int]:
        """Decode one item at ``offset``; returns it and the offset just past it."""
        rc, tsize, length = DATA_ITEM.unpack_from(buf, offset)
        if tsize in (0x03, 0x04, 0x05):  # BIT/BYTE/INT transport sizes count bits
            length = (length + 7) // 8
        start = offset + DATA_ITEM.size
        payload = bytes(buf[start : start + length])
        if len(payload) != length:
            raise ValueError("data item runs past the data part")
        return cls(rc, tsize, payload), start + length


@dataclass(slots=True)
class SzlRequest:
    """Read SZL (system status list) request: the one user-data job the agent sends for identity."""

    szl_id: int
    szl_index: int = 0
    sequence: int = 0

    def encode_pdu(self, pdu_ref: int) -> bytes:
        param = UserDataParam(
            (0x4 << 4) | codes.GROUP_CPU, codes.SUBFUNC_READ_SZL, self.sequence, method=0x11
        ).encode()
        data = DataItem(codes.RETURN_CODE_SUCCESS, 0x09, struct.pack(">HH", self.szl_id, self.szl_index))
        return S7Pdu(codes.ROSCTR_USERDATA, pdu_ref, param, data.encode()).encode()

    @classmethod
    def decode(cls, payload: Buffer) -> SzlRequest:
        if len(payload) < 4:
            raise ValueError("SZL request data too short")
        szl_id, index = struct.unpack_from(">HH", payload, 0)
        return cls(szl_id, index)


@dataclass(slots=True)
class SzlResponse:
    """Read SZL response data: the list id and index and its fixed-size records."""

    szl_id: int
    szl_index: int
    records: list[bytes] = field(default_factory=list)
    record_length: int = 0

    def encode(self) -> bytes:
        head = SZL_HEADER.pack(self.szl_id, self.szl_index, self.record_length, len(self.records))
        return head + b"".join(self.records)

    @classmethod
    def decode(cls, payload: Buffer) -> SzlResponse:
        if len(payload) < 4:
            raise ValueError("SZL response data too short")
        szl_id, index = struct.unpack_from(">HH", payload, 0)
        if len(payload) < SZL_HEADER.size:
            return cls(szl_id, index)
        _, _, rec_len, count = SZL_HEADER.unpack_from(payload, 0)
        body = payload[SZL_HEADER.size :]
        if rec_len == 0 and szl_id & 0xFF == 0x1C:
            rec_len, count = 34, len(body) // 34  # snap7 leaves the 0x001C header zero
        if rec_len == 0:
            return cls(szl_id, index, [], 0)
        count = min(count, len(body) // rec_len) if count else len(body) // rec_len
        records = [bytes(body[i * rec_len : (i + 1) * rec_len]) for i in range(count)]
        return cls(szl_id, index, records, rec_len)

    def module_identification(self) -> dict[str, str]:
        """SZL 0x0011: order number (MLFB) and hardware/firmware versions."""
        out: dict[str, str] = {}
        for rec in self.records:
            if len(rec) < 22:
                continue
            index = int.from_bytes(rec[:2], "big")
            text = _text(rec[2:22])
            tail = rec[22:]
            version = f"V{tail[-3]}.{tail[-2]}.{tail[-1]}" if len(tail) >= 3 else None
            if index == codes.MODULE_ID_ORDER_NUMBER:
                out["order_number"] = text
                if version:
                    out["module_version"] = version
            elif index == codes.MODULE_ID_HARDWARE and version:
                out["hardware"] = version
            elif index == codes.MODULE_ID_FIRMWARE and version:
                out["firmware"] = version
        return out

    def component_identification(self) -> dict[str, str]:
        """SZL 0x001C: PLC name, module name, plant id, copyright, serial, module type."""
        out: dict[str, str] = {}
        for position, rec in enumerate(self.records):
            if len(rec) < 3:
                continue
            index = int.from_bytes(rec[:2], "big")
            if index == 0 and position < len(codes.COMPONENT_ID_ORDER):
                index = codes.COMPONENT_ID_ORDER[position]
            name = codes.COMPONENT_ID_FIELDS.get(index)
            if name is None:
                continue
            text = _text(rec[2:])
            if text:
                out[name] = text
        return out

    def module_status(self) -> list[dict[str, object]]:
        """SZL W#16#xy91 (module status information): per module its rack (or DP/PROFINET station),
        slot, first logical address, kind (input, output, DP interface) and state. The layout is the
        System Software for S7-300/400 manual's: adr1 is the rack number in a central rack, DP master
        system (bits 8-14) and station (bits 0-7) on PROFIBUS, PROFINET IO system (bits 11-14, +100)
        and device (bits 0-10) with bit 15 set; adr2 holds the slot (high byte) and the interface
        submodule (low byte); eastat the state bits and, in its high byte, the address's data id."""
        out: list[dict[str, object]] = []
        for rec in self.records:
            if len(rec) < codes.MODULE_STATUS_RECORD:
                continue
            adr1, adr2, logadr, _, _, _, eastat, _ = struct.unpack_from(">8H", rec)
            module: dict[str, object] = {}
            if adr1 & 0x8000:
                module["station"] = f"PROFINET IO {100 + ((adr1 >> 11) & 0x0F)}/{adr1 & 0x07FF}"
            elif adr1 >> 8:
                module["station"] = f"DP {(adr1 >> 8) & 0x7F}/{adr1 & 0xFF}"
            else:
                module["rack"] = adr1 & 0xFF
            module["slot"] = adr2 >> 8
            if adr2 & 0xFF:
                module["submodule"] = adr2 & 0xFF
            prefix, kind = codes.DATA_ID_KINDS.get(eastat >> 8, ("", ""))
            if kind:
                module["type"] = kind
            module["address"] = f"{prefix}{logadr}"
            if eastat & codes.EASTAT_NOT_AVAILABLE or not eastat & codes.EASTAT_EXISTS:
                module["status"] = "Not available"
            elif eastat & codes.EASTAT_DISABLED:
                module["status"] = "Disabled"
            elif eastat & (codes.EASTAT_ERROR | codes.EASTAT_STATION_ERROR):
                module["status"] = "Error"
            else:
                module["status"] = "OK"
            out.append(module)
        return out

    def cpu_mode(self) -> str | None:
        """SZL 0x0424: the CPU mode from the low nibble of the last transition's bzu-id byte."""
        if not self.records or len(self.records[0]) < 4:
            return None
        return codes.CPU_MODE_NAMES.get(self.records[0][3] & 0x0F, "Unknown")


#: One COTP TPDU as the dissectors see it: its fields, the user data of a DT unit once its last TPDU
#: is in (else None), and the reason it is out of spec (else None).
CotpUnit = tuple[dict[str, Any], bytes | None, str | None]


class CotpStream:
    """One direction of COTP over TPKT (RFC 1006, TCP/102), shared by the S7comm and MMS dissectors:
    whole TPDUs, connection TSAPs, and DT user data joined across segmentation (the EOT bit)."""

    __slots__ = ("_max", "_segment", "_tpkt")

    def __init__(self, max_buffer: int) -> None:
        self._tpkt = TpktStream(max_buffer)
        self._segment = bytearray()
        self._max = max_buffer

    def feed(self, data: bytes) -> tuple[list[CotpUnit], str | None]:
        """The units of ``data``, and the reason when the TPKT stream fell out of step."""
        tpdus, error = self._tpkt.feed(data)
        units = [unit for unit in map(self._tpdu, tpdus) if unit is not None]
        return units, error

    def _tpdu(self, tpdu: bytes) -> CotpUnit | None:
        li, pdu_type = tpdu[0], tpdu[1] >> 4
        fields: dict[str, Any] = {
            "pdu": "cotp",
            "cotp_pdu_code": f"0x{pdu_type:02x}",
            "cotp_pdu_name": codes.COTP_PDU_NAMES.get(pdu_type, f"Unknown COTP PDU-0x{pdu_type:02x}"),
        }
        if li + 1 > len(tpdu):
            return fields, None, "COTP header longer than the TPDU"
        if pdu_type in (codes.COTP_CR, codes.COTP_CC):
            try:
                msg = CotpConnect.decode(tpdu)
            except DECODE_ERRORS as exc:
                return fields, None, str(exc)
            fields["calling_tsap"] = msg.calling_tsap.hex()
            fields["called_tsap"] = msg.called_tsap.hex()
            return fields, None, None
        if pdu_type != codes.COTP_DT:
            return fields, None, None
        if li < 2:
            return fields, None, "COTP DT header too short"
        self._segment += tpdu[li + 1 :]
        if not tpdu[2] & 0x80:  # more TPDUs of this unit follow
            if len(self._segment) > self._max:
                self._segment.clear()
                return fields, None, "COTP segments too long"
            return None
        payload = bytes(self._segment)
        self._segment.clear()
        return fields, payload, None
