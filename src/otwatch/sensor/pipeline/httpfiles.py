"""Files carried over plain HTTP, hashed for threat-intelligence file indicators (SHA-256).

The flow table reassembles each TCP direction in order (:mod:`otwatch.sensor.tracking.flows`); this
dissector reads HTTP/1.x messages on port 80 from those bytes and emits one record per message body it saw
from start to end: the body's SHA-256 and size, with the request's method and URI. It also reports the
first request's and response's headers as :mod:`otwatch.protocols.http` does on every other port
(User-Agent, Server), so port 80 loses nothing by being carved here. Bodies framed
by ``Content-Length`` or ``chunked`` transfer coding are hashed in both directions (downloads and
uploads); bodies that end only when the connection closes, compressed content encodings (hashed
as sent, not decoded), HTTPS, and bodies above :data:`MAX_BODY` are not. A hole in the capture
restarts framing at the next message the flow table hands over.

What the sensor does not carve (and so cannot hash): S7comm and Modbus program transfers — the S7
dissector keeps the block names and lengths of a download, not its bytes — and any encrypted
transfer.
"""

from __future__ import annotations

import hashlib
from collections import deque
from typing import Any, Final

from otwatch.protocols import http
from otwatch.protocols.base import ProtocolSpec, Record

__all__ = ["MAX_BODY", "SPEC", "HttpFiles"]

PROTOCOL: Final = "http"
#: Port 80 first; HTTP elsewhere is claimed by content by protocols.http (listed before this spec),
#: so bodies are carved on port 80 only.
PORTS: Final = (80,)
MAX_HEADER: Final = 16 * 1024
MAX_BODY: Final = 256 * 1024 * 1024


class _Side:
    """Framing state of one direction: headers, then a body of known length or chunks."""

    __slots__ = ("buf", "chunk_left", "hash", "headed", "info", "left", "mode", "size")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.mode = "head"  # head | body | chunk-size | chunk-data | chunk-crlf | trailer | skip
        self.left = 0
        self.chunk_left = 0
        self.size = 0
        self.hash: Any = None
        self.info: dict[str, Any] = {}
        self.headed = False  # the first message's headers were reported


class HttpFiles:
    """Stream dissector: feed in-order bytes per direction, get a record per complete body."""

    def __init__(self) -> None:
        self._sides = (_Side(), _Side())  # server -> client, client -> server
        self._requests: deque[tuple[str, str]] = deque(maxlen=64)  # (method, uri) awaiting responses

    def feed(self, data: bytes, from_client: bool) -> list[Record]:
        out: list[Record] = []
        side = self._sides[1 if from_client else 0]
        view = memoryview(data)
        try:
            while view:
                view = self._step(side, view, from_client, out)
        except (ValueError, IndexError):  # not HTTP after all: stop framing this direction
            side.mode, side.buf = "skip", bytearray()
        return out

    # -- framing ----------------------------------------------------------------------------------
    def _step(self, side: _Side, view: memoryview, from_client: bool, out: list[Record]) -> memoryview:
        mode = side.mode
        if mode == "skip":
            return view[len(view) :]
        if mode == "head":
            side.buf += view
            end = side.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(side.buf) > MAX_HEADER:
                    raise ValueError("header too long")
                return view[len(view) :]
            head, rest = bytes(side.buf[:end]), bytes(side.buf[end + 4 :])
            side.buf = bytearray()
            self._headers(side, head, from_client, out)
            return memoryview(rest)
        if mode == "body":
            take = view[: side.left]
            self._hash(side, take)
            side.left -= len(take)
            if side.left == 0:
                self._done(side, from_client, out)
            return view[len(take) :]
        if mode == "chunk-data":
            take = view[: side.chunk_left]
            self._hash(side, take)
            side.chunk_left -= len(take)
            if side.chunk_left == 0:
                side.mode = "chunk-crlf"
            return view[len(take) :]
        # chunk-size, chunk-crlf and trailer are lines
        side.buf += view
        end = side.buf.find(b"\r\n")
        if end < 0:
            if len(side.buf) > MAX_HEADER:
                raise ValueError("chunk line too long")
            return view[len(view) :]
        line, rest = bytes(side.buf[:end]), bytes(side.buf[end + 2 :])
        side.buf = bytearray()
        if mode == "chunk-crlf":
            if line:
                raise ValueError("chunk not followed by CRLF")
            side.mode = "chunk-size"
        elif mode == "chunk-size":
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                side.mode = "trailer"
            else:
                side.chunk_left, side.mode = size, "chunk-data"
        elif not line:  # the empty line that ends the trailer
            self._done(side, from_client, out)
        return memoryview(rest)

    def _headers(self, side: _Side, head: bytes, from_client: bool, out: list[Record]) -> None:
        if not side.headed:  # as protocols.http does on other ports: User-Agent / Server, once
            side.headed = True
            record = http.parse_head(head, from_client)
            if record.malformed is None:  # not HTTP: framing below stops quietly, as before
                out.append(record)
        lines = head.decode("latin-1").split("\r\n")
        start = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if from_client:
            if len(start) < 3 or not start[2].startswith("HTTP/1."):
                raise ValueError("not an HTTP request line")
            method, uri = start[0], start[1]
            self._requests.append((method, uri))
            no_body = False
        else:
            if not start[0].startswith("HTTP/1.") or len(start) < 2:
                raise ValueError("not an HTTP status line")
            status = int(start[1])
            method, uri = self._requests.popleft() if self._requests and status >= 200 else ("", "")
            if 100 <= status < 200:
                return  # interim response: the real one follows
            no_body = method == "HEAD" or status in (204, 304)
        side.info = {
            "method": method,
            "uri": uri[:512],
            "content_type": headers.get("content-type", "")[:128],
        }
        if not from_client:
            side.info["status"] = int(start[1])
        if no_body:
            return
        if "chunked" in headers.get("transfer-encoding", "").lower():
            side.mode, side.size, side.hash = "chunk-size", 0, hashlib.sha256()
        elif "content-length" in headers:
            length = int(headers["content-length"])
            if length < 0:
                raise ValueError("negative Content-Length")
            if length == 0:
                return
            side.mode, side.left, side.size = "body", length, 0
            side.hash = hashlib.sha256() if length <= MAX_BODY else None
        elif not from_client:
            side.mode = "skip"  # delimited by the connection's end: cannot tell where it stops

    def _hash(self, side: _Side, data: memoryview) -> None:
        side.size += len(data)
        if side.hash is not None:
            if side.size > MAX_BODY:
                side.hash = None
            else:
                side.hash.update(data)

    def _done(self, side: _Side, from_client: bool, out: list[Record]) -> None:
        if side.hash is not None and side.size > 0:
            fields = {**side.info, "sha256": side.hash.hexdigest(), "size": side.size}
            out.append(Record(PROTOCOL, "request" if from_client else "response", fields))
        side.mode, side.hash, side.left, side.size = "head", None, 0, 0


SPEC: Final = ProtocolSpec(
    name=PROTOCOL,
    transport="tcp",
    ports=PORTS,
    detect=http.detect,  # on port 80 only (PORTS); elsewhere protocols.http, listed first, claims HTTP
    dissector=HttpFiles,
    identity_from=http.identity_from,  # the header records; body records carry no identity
    ot=False,
)
