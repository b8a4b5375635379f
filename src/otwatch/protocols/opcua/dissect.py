"""Passive OPC UA binary dissection: TCP stream -> one record per message chunk.

Hand-written rather than built on a stack such as asyncua: the sensor reads every chunk on its hot
path, and only the headers matter to it (message type, secure channel, service, status), so this reads
them in place with ``struct`` and skips the body. Each direction is framed by the 8-byte header's
size; a chunk is parsed from at most :data:`PARSE_LIMIT` bytes and the rest skipped without buffering.

Record fields follow the ICSNPP opcua-binary Zeek log where it has a name: ``msg_type``, ``is_final``,
``msg_size``, ``endpoint_url`` (HEL), ``version``/``rcv_buf_size``/``snd_buf_size``/``max_msg_size``
(HEL/ACK), ``error``/``reason`` (ERR), ``sec_channel_id``, ``sec_policy_uri`` (OPN),
``seq_number``/``request_id``, ``namespace_idx``/``identifier``/``service`` (the service's encoding
NodeId), ``request_handle`` and ``status_code``/``status`` (a response's ServiceResult). Message bodies
of a channel whose security policy is not None may be encrypted: a NodeId that is not a known
service is then reported as ``encrypted`` rather than guessed. Wire bytes never raise.
"""

from __future__ import annotations

import re
import struct
from typing import Any, Final

from otwatch.protocols.base import Record
from otwatch.protocols.opcua import codes

PROTOCOL: Final = "opcua"
PARSE_LIMIT: Final = 16 * 1024  # bytes of one chunk kept for parsing; certificates fit, bulk data not
_HEADER: Final = struct.Struct("<3sBI")
_U32: Final = struct.Struct("<I")
_I32: Final = struct.Struct("<i")
_HEL: Final = struct.Struct("<IIIII")
_U16: Final = struct.Struct("<H")
_ERRORS: Final = (IndexError, ValueError, struct.error, UnicodeDecodeError)
MAX_STRING: Final = 4096  # longest string kept in a record (endpoint URLs, policy URIs, names)
MAX_ARRAY: Final = 64
_SIGNATURE: Final = re.compile(rb"(?:HEL|ACK|ERR|RHE|OPN|CLO|MSG)[FCA]")


class Reader:
    """Little-endian OPC UA built-in types from a buffer; running past the end raises (caught above)."""

    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes, pos: int = 0) -> None:
        self.buf = buf
        self.pos = pos

    def u8(self) -> int:
        v = self.buf[self.pos]
        self.pos += 1
        return v

    def u16(self) -> int:
        v: int = _U16.unpack_from(self.buf, self.pos)[0]
        self.pos += 2
        return v

    def u32(self) -> int:
        v: int = _U32.unpack_from(self.buf, self.pos)[0]
        self.pos += 4
        return v

    def i32(self) -> int:
        v: int = _I32.unpack_from(self.buf, self.pos)[0]
        self.pos += 4
        return v

    def skip(self, n: int) -> None:
        if n < 0 or self.pos + n > len(self.buf):
            raise IndexError("past the end")
        self.pos += n

    def byte_string(self) -> bytes | None:
        n = self.i32()
        if n < 0:
            return None
        if self.pos + n > len(self.buf):
            raise IndexError("string past the end")
        v = self.buf[self.pos : self.pos + n]
        self.pos += n
        return bytes(v)

    def string(self) -> str | None:
        raw = self.byte_string()
        return None if raw is None else raw[:MAX_STRING].decode("utf-8", "replace")

    def node_id(self) -> tuple[int, int | str]:
        """(namespace, identifier); string, GUID and opaque identifiers come back as text."""
        mask = self.u8()
        kind = mask & 0x3F
        if kind == 0:
            return 0, self.u8()
        if kind == 1:
            ns = self.u8()
            return ns, self.u16()
        if kind == 2:
            ns = self.u16()
            return ns, self.u32()
        ns = self.u16()
        if kind == 3:
            return ns, self.string() or ""
        if kind == 4:
            if self.pos + 16 > len(self.buf):
                raise IndexError("guid past the end")
            self.pos += 16
            return ns, bytes(self.buf[self.pos - 16 : self.pos]).hex()
        if kind == 5:
            return ns, (self.byte_string() or b"").hex()
        raise ValueError(f"unknown NodeId encoding 0x{mask:02x}")

    def expanded_node_id(self) -> tuple[int, int | str]:
        mask = self.buf[self.pos]
        node = self.node_id()
        if mask & 0x80:
            self.string()  # namespace URI
        if mask & 0x40:
            self.u32()  # server index
        return node

    def localized_text(self) -> str | None:
        mask = self.u8()
        if mask & 0x01:
            self.string()  # locale
        return self.string() if mask & 0x02 else None

    def diagnostic_info(self, depth: int = 0) -> None:
        mask = self.u8()
        for bit in (0x01, 0x02, 0x04, 0x08):
            if mask & bit:
                self.skip(4)
        if mask & 0x10:
            self.string()
        if mask & 0x20:
            self.skip(4)
        if mask & 0x40:
            if depth > 4:
                raise ValueError("diagnostic info nested too deep")
            self.diagnostic_info(depth + 1)

    def extension_object(self) -> None:
        self.node_id()
        encoding = self.u8()
        if encoding in (1, 2):
            self.byte_string()

    def string_array(self) -> list[str]:
        n = self.i32()
        out: list[str] = []
        for _ in range(max(0, n)):
            s = self.string()
            if s is not None and len(out) < MAX_ARRAY:
                out.append(s)
        return out

    def application_description(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "application_uri": self.string(),
            "product_uri": self.string(),
            "application_name": self.localized_text(),
        }
        kind = self.u32()
        if kind < len(codes.APPLICATION_TYPES):
            out["application_type"] = codes.APPLICATION_TYPES[kind]
        self.string()  # gateway server URI
        self.string()  # discovery profile URI
        out["discovery_urls"] = self.string_array()
        return {k: v for k, v in out.items() if v not in (None, "", [])}


class _Side:
    __slots__ = ("buf", "continued", "skip", "synced")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.skip = 0  # bytes of the current chunk still to discard
        self.continued = False  # the last MSG chunk was 'C': the next one carries no service NodeId
        self.synced = False  # a header has been read: from now on a bad header is out of spec


class OpcUaDissector:
    """Per-connection stream dissector: frames each direction, one record per chunk."""

    __slots__ = ("_sides", "policy")

    def __init__(self) -> None:
        self._sides = (_Side(), _Side())  # server -> client, client -> server
        self.policy: str | None = None  # the channel's security policy URI, from the OPN request

    def gap(self, from_client: bool) -> None:
        """Bytes were lost: the next bytes are not a header we can trust; drop until one parses."""
        side = self._sides[1 if from_client else 0]
        side.buf.clear()
        side.skip = 0
        side.continued = False
        side.synced = False

    def feed(self, data: bytes, from_client: bool) -> list[Record]:
        side = self._sides[1 if from_client else 0]
        out: list[Record] = []
        if side.skip:
            take = min(side.skip, len(data))
            side.skip -= take
            data = data[take:]
        if not data:
            return out
        side.buf += data
        buf = side.buf
        while len(buf) >= codes.HEADER_SIZE:
            mtype, chunk, size = _HEADER.unpack_from(buf, 0)
            name = codes.MESSAGE_TYPES.get(mtype)
            if name is None or chunk not in codes.CHUNK_TYPES or not 8 <= size <= codes.MAX_MESSAGE:
                if not side.synced:  # joined mid-stream (or after a gap): resynchronise on a header
                    found = _SIGNATURE.search(buf, 1)
                    if found is None:
                        del buf[: max(0, len(buf) - 3)]  # a signature may straddle the next segment
                        break
                    del buf[: found.start()]
                    continue
                side.synced = False
                out.append(
                    Record(
                        PROTOCOL,
                        "request" if from_client else "response",
                        {"msg_type": bytes(mtype).decode("latin-1"), "msg_size": size},
                        malformed="not an OPC UA message header",
                    )
                )
                buf.clear()  # lost framing: wait for the flow table's next hole or connection
                side.skip = 0
                break
            have = min(size, PARSE_LIMIT)
            if len(buf) < have:
                break
            side.synced = True
            out.append(self._chunk(bytes(buf[:have]), mtype, chunk, size, from_client, side))
            if len(buf) >= size:
                del buf[:size]
            else:
                side.skip = size - len(buf)
                buf.clear()
                break
        return out

    def _chunk(
        self, raw: bytes, mtype: bytes, chunk: int, size: int, from_client: bool, side: _Side
    ) -> Record:
        fields: dict[str, Any] = {
            "msg_type": mtype.decode("ascii"),
            "is_final": chr(chunk),
            "msg_size": size,
        }
        direction: Any = "request" if from_client else "response"
        record = Record(PROTOCOL, direction, fields)
        r = Reader(raw, codes.HEADER_SIZE)
        try:
            if mtype == b"HEL" or mtype == b"ACK":
                version, rcv, snd, max_msg, max_chunks = _HEL.unpack_from(raw, 8)
                r.pos += 20
                fields.update(
                    version=version,
                    rcv_buf_size=rcv,
                    snd_buf_size=snd,
                    max_msg_size=max_msg,
                    max_chunk_cnt=max_chunks,
                )
                if mtype == b"HEL":
                    fields["endpoint_url"] = r.string()
            elif mtype == b"ERR":
                code = r.u32()
                fields["error"] = code
                fields["status"] = codes.status_name(code)
                fields["reason"] = r.string()
                record.direction = "response"
            elif mtype == b"RHE":
                fields["server_uri"] = r.string()
                fields["endpoint_url"] = r.string()
            elif mtype == b"OPN":
                fields["sec_channel_id"] = r.u32()
                policy = r.string()
                fields["sec_policy_uri"] = policy
                if from_client and policy:
                    self.policy = policy
                r.byte_string()  # sender certificate
                r.byte_string()  # receiver certificate thumbprint
                self._sequence_and_body(r, fields, record, policy == codes.SECURITY_POLICY_NONE)
            else:  # MSG, CLO: symmetric security header
                fields["sec_channel_id"] = r.u32()
                fields["sec_token_id"] = r.u32()
                first = not side.continued
                side.continued = chunk == ord("C")
                if first:
                    plain = self.policy is None or self.policy == codes.SECURITY_POLICY_NONE
                    self._sequence_and_body(r, fields, record, plain)
                else:
                    fields["seq_number"] = r.u32()
                    fields["request_id"] = r.u32()
        except _ERRORS:
            if len(raw) == size:  # the whole chunk was there (not cut by PARSE_LIMIT): out of spec
                record.malformed = record.malformed or f"truncated or invalid {codes.MESSAGE_TYPES[mtype]}"
        return record

    def _sequence_and_body(self, r: Reader, fields: dict[str, Any], record: Record, plain: bool) -> None:
        fields["seq_number"] = r.u32()
        fields["request_id"] = r.u32()
        start = r.pos
        try:
            ns, ident = r.node_id()
        except _ERRORS:
            if plain:
                raise
            fields["encrypted"] = True
            return
        known = codes.SERVICES.get(ident) if ns == 0 and isinstance(ident, int) else None
        if known is None:
            if not plain:  # an encrypted body: the "NodeId" is ciphertext
                fields["encrypted"] = True
                r.pos = start
                return
            fields["namespace_idx"] = ns
            fields["identifier"] = ident
            return
        service, is_request = known
        fields["namespace_idx"] = ns
        fields["identifier"] = ident
        fields["service"] = service
        record.direction = "request" if is_request else "response"
        if is_request:
            r.node_id()  # authentication token
            r.skip(8)  # timestamp
            fields["request_handle"] = r.u32()
            r.skip(4)  # return diagnostics
            r.string()  # audit entry id
            r.skip(4)  # timeout hint
            r.extension_object()  # additional header
            if service == "CreateSession":
                fields["client"] = r.application_description()
                r.string()  # server URI
                fields["endpoint_url"] = r.string()
                fields["session_name"] = r.string()
            elif service == "GetEndpoints":
                fields["endpoint_url"] = r.string()
            return
        r.skip(8)  # timestamp
        fields["request_handle"] = r.u32()
        code = r.u32()
        fields["status_code"] = code
        fields["status"] = codes.status_name(code)
        r.diagnostic_info()
        r.string_array()  # string table
        r.extension_object()  # additional header
        if service == "GetEndpoints":
            if r.i32() > 0:
                self._endpoint(r, fields)
        elif service == "CreateSession":
            r.node_id()  # session id
            r.node_id()  # authentication token
            r.skip(8)  # revised session timeout
            r.byte_string()  # server nonce
            r.byte_string()  # server certificate
            if r.i32() > 0:
                self._endpoint(r, fields)

    @staticmethod
    def _endpoint(r: Reader, fields: dict[str, Any]) -> None:
        """The first EndpointDescription of an answer: the server describes itself."""
        fields["endpoint_url"] = r.string()
        fields["server"] = r.application_description()
        r.byte_string()  # server certificate
        mode = r.u32()
        fields["security_mode"] = {1: "None", 2: "Sign", 3: "SignAndEncrypt"}.get(mode, mode)
        fields["endpoint_sec_policy_uri"] = r.string()


def dissect(data: bytes, from_client: bool = True) -> list[Record]:
    """Records of one run of bytes (a test helper: a fresh dissector each time)."""
    return OpcUaDissector().feed(data, from_client)
