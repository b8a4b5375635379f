"""A ROC Plus test responder (TCP) built from the package's own messages: a ROC800 at station 240
group 240 that answers System Configuration (opcode 6) and Read Real-time Clock (opcode 7), and every
other opcode with an Error Indicator (opcode 255, "Invalid Opcode Request"). Frames to another station
or with a bad CRC get no answer. It records every request it received, as wire bytes."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from otwatch.protocols.roc_plus.messages import HEADER_SIZE, MIN_FRAME, Clock, Frame, SystemConfig

STATION = (240, 240)
CONFIG = SystemConfig(system_mode=1, port=4000, security_access_mode=0, compatibility_status=2, opcode_revision=1,
                      subtype=1, roc_type=6, point_counts=bytes(range(196)))  # fmt: skip
CLOCK = Clock(2026, 12, 6, 20, 15, 0, day_of_week=1)


@dataclass(slots=True)
class Recorded:
    requests: list[bytes] = field(default_factory=list)


def answer(wire: bytes, recorded: Recorded) -> bytes | None:
    recorded.requests.append(wire)
    frame = Frame.decode(wire)
    if not frame.crc_ok or (frame.destination.unit, frame.destination.group) != STATION:
        return None
    if frame.opcode == 6:
        data = CONFIG.encode()
    elif frame.opcode == 7:
        data = CLOCK.encode()
    else:
        return Frame(255, frame.source, frame.destination, bytes((1, 0))).encode()
    return Frame(frame.opcode, frame.source, frame.destination, data).encode()


@contextlib.contextmanager
def responder(host: str = "127.0.0.1") -> Iterator[tuple[int, Recorded]]:
    """(tcp port, recorded) of a running responder; stopped on exit."""
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
                while len(buf) >= HEADER_SIZE and len(buf) >= MIN_FRAME + buf[5]:
                    size = MIN_FRAME + buf[5]
                    reply = answer(buf[:size], recorded)
                    buf = buf[size:]
                    if reply is not None:
                        sock.sendall(reply)

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    tcp = socketserver.ThreadingTCPServer((host, 0), Tcp)
    thread = threading.Thread(target=tcp.serve_forever, daemon=True)
    thread.start()
    try:
        yield tcp.server_address[1], recorded
    finally:
        tcp.shutdown()
        tcp.server_close()
