"""HTTP/1.x headers: the request line, Host and User-Agent of a flow's first request, the status and
Server header of its first response.

Hand-written and bounded: each direction buffers at most :data:`MAX_HEADER` bytes until the blank line
that ends the first header block, parses it with ``bytes`` operations, and then ignores the rest of the
flow (bodies, later requests), so a long download costs one length check per segment. Field names
follow Zeek's http.log. An IT protocol (``ot=False``); found by content on any port, so the web
servers of PLCs, HMIs and historians on 8080 or 8000 are named too.

Note: the sensor console adds :mod:`otwatch.sensor.pipeline.httpfiles` (body hashing) for port 80; it is listed
after the registry, so port 80 keeps its hashing there and this dissector takes HTTP found elsewhere.
"""

from __future__ import annotations

from typing import Any, Final

from otwatch.inventory.identity import Identity
from otwatch.protocols.base import ProtocolSpec, Record
from otwatch.protocols.framing import FirstMessage

__all__ = ["SPEC", "HttpDissector", "detect", "identity_from", "parse_head"]

PROTOCOL: Final = "http"
MAX_HEADER: Final = 8 * 1024
MAX_VALUE: Final = 512
METHODS: Final = frozenset(
    {b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"CONNECT", b"TRACE"}
)
KEPT: Final = {
    b"host": "host",
    b"user-agent": "user_agent",
    b"server": "server",
    b"content-type": "content_type",
}


def _text(raw: bytes) -> str:
    return raw[:MAX_VALUE].decode("latin-1").strip()


def parse_head(head: bytes, from_client: bool) -> Record:
    """One header block (without the blank line) -> one record; out-of-spec start lines are malformed."""
    lines = head.split(b"\r\n")
    start = lines[0].split(b" ", 2)
    fields: dict[str, Any] = {}
    record = Record(PROTOCOL, "request" if from_client else "response", fields)
    if from_client:
        if len(start) == 3 and start[0] in METHODS and start[2].startswith(b"HTTP/"):
            fields["method"] = start[0].decode()
            fields["uri"] = _text(start[1])
            fields["version"] = _text(start[2][5:])
        else:
            record.malformed = "not an HTTP request line"
    elif len(start) >= 2 and start[0].startswith(b"HTTP/") and start[1].isdigit():
        fields["version"] = _text(start[0][5:])
        fields["status_code"] = int(start[1][:3])
        fields["status_msg"] = _text(start[2]) if len(start) > 2 else ""
    else:
        record.malformed = "not an HTTP status line"
    for line in lines[1:64]:
        name, sep, value = line.partition(b":")
        key = KEPT.get(name.strip().lower()) if sep else None
        if key is not None:
            fields[key] = _text(value)
    return record


class HttpDissector(FirstMessage):
    """First request and first response headers of a connection; everything after is skipped."""

    __slots__ = ()
    limit = MAX_HEADER + 4

    def complete(self, buf: bytes, from_client: bool, full: bool) -> list[Record] | None:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            return [parse_head(buf[:end], from_client)]
        if not full:
            return None
        line = buf.find(b"\r\n")
        record = parse_head(buf[: line if line >= 0 else 256], from_client)
        record.malformed = record.malformed or "HTTP header longer than 8 KiB"
        return [record]


def detect(payload: bytes) -> bool:
    """A request line's method and a space, or a status line (a server that speaks first)."""
    space = payload.find(b" ", 0, 8)
    return (space > 0 and payload[:space] in METHODS) or payload.startswith(b"HTTP/1.")


def identity_from(record: Record) -> Identity | None:
    """A client's User-Agent, a server's Server header: software names, kept as extras."""
    if record.malformed:
        return None
    key, extra_key = (
        ("user_agent", "http_user_agent") if record.direction == "request" else ("server", "http_server")
    )
    value = record.fields.get(key)
    if not value:
        return None
    return Identity(protocol=PROTOCOL, extra={extra_key: value})


SPEC = ProtocolSpec(
    name=PROTOCOL,
    transport="tcp",
    ports=(),  # by content on any port (see the module note on port 80)
    detect=detect,
    dissector=HttpDissector,
    identity_from=identity_from,
    ot=False,
)
