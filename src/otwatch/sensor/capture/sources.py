"""Packet sources for a running sensor: replayed capture files and a live interface.

Live capture uses a Linux AF_PACKET socket (standard library, no libpcap binding to build): the
sensor sees every frame of a SPAN/mirror port in promiscuous mode. It needs root (CAP_NET_RAW).
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

from otwatch.sensor.capture.pcapfile import CaptureReader, PcapError

LINKTYPE_ETHERNET = 1
ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1

Frame = tuple[float, int, bytes]


class PcapReplay:
    """Replay capture files (the sensor console's "Play PCAP"); optionally in a loop and paced.

    ``speed`` 0 replays as fast as possible; 1.0 keeps the capture's own timing. Timestamps are shifted
    to now, so a replayed capture shows up as current traffic.
    """

    def __init__(self, files: list[Path], *, loop: bool = False, speed: float = 0.0) -> None:
        self.files, self.loop, self.speed = files, loop, speed
        self.warnings: list[str] = []
        self.stopped = False

    def __iter__(self) -> Iterator[Frame]:
        while not self.stopped:
            played = False
            for f in self.files:
                try:  # a file that is not a capture (or is gone) is skipped, not the end of the replay
                    reader = CaptureReader(f)
                except (PcapError, OSError) as exc:
                    self.warnings.append(f"skipped {f}: {exc}")
                    continue
                offset: float | None = None
                start = time.time()
                first_ts: float | None = None
                for ts, linktype, data in reader:
                    if self.stopped:
                        return
                    if first_ts is None:
                        first_ts = ts
                        offset = start - ts
                    if self.speed > 0:
                        due = start + (ts - first_ts) / self.speed
                        delay = due - time.time()
                        if delay > 0:
                            time.sleep(min(delay, 1.0))
                    played = True
                    yield (ts + (offset or 0.0), linktype, data)
                self.warnings.extend(reader.warnings)
            if not self.loop or not played:  # looping over files without a packet would only spin
                return


class LiveInterface:
    """Frames from a live interface (Linux AF_PACKET, promiscuous)."""

    def __init__(self, name: str, snaplen: int = 65535) -> None:
        self.name, self.snaplen = name, snaplen
        self.stopped = False
        try:
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        except PermissionError as exc:
            raise PermissionError(f"live capture on {name} needs root (CAP_NET_RAW)") from exc
        self.sock.bind((name, 0))
        ifindex = socket.if_nametoindex(name)
        mreq = struct.pack("iHH8s", ifindex, PACKET_MR_PROMISC, 0, b"")
        self.sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
        self.sock.settimeout(0.5)

    def __iter__(self) -> Iterator[Frame]:
        recv = self.sock.recv
        while not self.stopped:
            try:
                data = recv(self.snaplen)
            except TimeoutError:
                continue
            except OSError:
                if self.stopped:
                    return
                raise
            yield (time.time(), LINKTYPE_ETHERNET, data)

    def close(self) -> None:
        self.stopped = True
        self.sock.close()
