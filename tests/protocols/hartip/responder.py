"""A HART-IP test responder (TCP and UDP) built from the package's own messages: a WirelessHART gateway
that answers Session Initiate/Close, Keep Alive and the HART commands 0, 13, 20 and any write with
success. It records every request it received, as wire bytes, for the dissector to read back."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from otwatch.protocols.hartip.messages import (
    HEADER,
    HEADER_SIZE,
    Header,
    Pdu,
    UniqueIdentifier,
    message,
    pack_ascii,
)

DEVICE = UniqueIdentifier(0x264E, 7, 4, 1, 1, 0x0000D2, 0x26, 0x26, 132, 2)
UNIQUE = bytes.fromhex("264e0000d2")
LONG_TAG = b"wihartgw".ljust(32, b"\x00")


@dataclass(slots=True)
class Recorded:
    requests: list[bytes] = field(default_factory=list)
    replies: list[bytes] = field(default_factory=list)


def answer(frame: bytes, recorded: Recorded) -> bytes:
    head = Header.decode(frame)
    body = frame[HEADER_SIZE : head.byte_count]
    recorded.requests.append(frame[: head.byte_count])
    if head.message_id == 3:
        pdu = Pdu.decode(body)
        address = pdu.address if pdu.long_address else bytes((pdu.address[0] & 0x3F,))
        if pdu.command == 0:
            data = DEVICE.encode()
        elif pdu.command == 13:
            data = pack_ascii("TT-101") + pack_ascii("BOILER FEED".ljust(16)) + bytes((6, 12, 124))
        elif pdu.command == 20:
            data = LONG_TAG
        else:
            data = pdu.data  # writes echo what they wrote
        reply_body = Pdu(0x86 if pdu.long_address else 0x06, address, pdu.command, data, 0, 0).encode()
    else:
        reply_body = body  # session initiate echoes master type and timer; close and keep alive are empty
    reply = message(1, head.message_id, head.sequence, reply_body)
    recorded.replies.append(reply)
    return reply


@contextlib.contextmanager
def responder(host: str = "127.0.0.1") -> Iterator[tuple[int, int, Recorded]]:
    """(tcp port, udp port, recorded) of a running responder; stopped on exit."""
    recorded = Recorded()

    class Tcp(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            sock: socket.socket = self.request
            buf = b""
            while True:
                data = sock.recv(4096)
                if not data:
                    return
                buf += data
                while len(buf) >= HEADER_SIZE and len(buf) >= HEADER.unpack_from(buf)[5]:
                    count = HEADER.unpack_from(buf)[5]
                    sock.sendall(answer(buf[:count], recorded))
                    buf = buf[count:]

    class Udp(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data, sock = self.request
            sock.sendto(answer(data, recorded), self.client_address)

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    tcp = socketserver.ThreadingTCPServer((host, 0), Tcp)
    udp = socketserver.UDPServer((host, 0), Udp)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (tcp, udp)]
    for t in threads:
        t.start()
    try:
        yield tcp.server_address[1], udp.server_address[1], recorded
    finally:
        for s in (tcp, udp):
            s.shutdown()
            s.server_close()
