"""A test MELSEC CPU: answers SLMP 3E/4E binary requests on TCP, keeping every frame it received.

Read CPU Model answers the configured model; device reads answer zeros; writes, remote operations
and passwords answer "normal". Enough for real clients (pymcprotocol) and for the agent's query.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from otwatch.protocols.melsec.codes import READ_CPU_MODEL, READ_DEVICE
from otwatch.protocols.melsec.messages import (
    CpuModel,
    DeviceRange,
    MelsecDecodeError,
    Request,
    Response,
    frame_info,
)


class Responder:
    def __init__(self, model: str = "Q03UDVCPU", code: int = 0x0268, ascii: bool = False) -> None:
        self.model = CpuModel(model, code)
        self.ascii = ascii
        self.received: list[bytes] = []
        self.sent: list[bytes] = []
        self.connections = 0

    def answer(self, frame: bytes) -> bytes:
        request = Request.decode(frame)
        data = b""
        if request.command == READ_CPU_MODEL:
            data = self.model.encode(request.ascii)
        elif request.command == READ_DEVICE:
            rng = DeviceRange.decode(request.data, request.subcommand, request.ascii)
            size = (rng.points + 1) // 2 if request.subcommand & 1 else rng.points * 2
            data = b"0" * (size * 2) if request.ascii else bytes(size)
        reply = Response(0, data, request.route, request.serial, request.ascii)
        return reply.encode()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        buf = b""
        try:
            while True:
                chunk = await reader.read(4096)
                if not chunk:
                    break
                buf += chunk
                while True:
                    info = frame_info(buf)
                    if info is None or len(buf) < info.size:
                        break
                    frame, buf = buf[: info.size], buf[info.size :]
                    self.received.append(frame)
                    reply = self.answer(frame)
                    self.sent.append(reply)
                    writer.write(reply)
                    await writer.drain()
        except (MelsecDecodeError, ConnectionError):
            pass
        finally:
            writer.close()

    @contextlib.asynccontextmanager
    async def running(self, host: str = "127.0.0.1") -> AsyncIterator[int]:
        server = await asyncio.start_server(self._serve, host, 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            yield port
