"""Packet sources for a running sensor: replayed capture files and a live interface.

Live capture uses a Linux AF_PACKET socket (standard library, no libpcap binding to build): the
sensor sees every frame of a SPAN/mirror port in promiscuous mode. It needs root (CAP_NET_RAW).
"""

from __future__ import annotations

import errno
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
    """Replay capture files (the sensor console's "Play PCAP", ``sensor run --pcap``); optionally in a
    loop and paced.

    One rule for time (``sensor analyze``, which keeps a capture's own dates, is the exception): a
    replayed packet is current traffic, and its time is **never ahead of now**.

    * ``speed`` > 0: a packet's time is the moment it is played. At 1.0 that is the capture's own
      timing shifted to now; at 20 the capture's intervals are 20 times shorter (the plant "runs" 20
      times faster), so what the engines measure per second follows what the user asked for.
    * ``speed`` 0 (as fast as possible): the capture's own intervals, shifted so that each pass over a
      file ends at the moment it started (the whole file lies in the recent past). Two files, or two
      passes, may then overlap in time: keeping their intervals and never being ahead of now leaves
      no other choice short of waiting for the clock, which "as fast as possible" must not do.

    ``after``: the time of the last frame an earlier source gave the same sensor (one file after
    another in the sensor console): a paced replay starts no earlier.
    """

    def __init__(
        self, files: list[Path], *, loop: bool = False, speed: float = 0.0, after: float | None = None
    ) -> None:
        self.files, self.loop, self.speed = files, loop, speed
        self.warnings: list[str] = []
        self.stopped = False
        self.last_time = after if after is not None else float("-inf")  # of the last frame given

    def __iter__(self) -> Iterator[Frame]:
        while not self.stopped:
            played = False
            for f in self.files:
                try:  # a file that is not a capture (or is gone) is skipped, not the end of the replay
                    bounds = None if self.speed > 0 else _bounds(f)
                    reader = CaptureReader(f)
                except (PcapError, OSError) as exc:
                    self.warnings.append(f"skipped {f}: {exc}")
                    continue
                start = max(time.time(), self.last_time)
                first_ts: float | None = None
                offset = 0.0
                for ts, linktype, data in reader:
                    if self.stopped:
                        return
                    if first_ts is None:
                        first_ts = ts
                        if bounds is not None:  # the pass ends now
                            offset = time.time() - bounds[1]
                    if self.speed > 0:
                        at = start + max(0.0, ts - first_ts) / self.speed
                        self._wait_until(at)
                        if self.stopped:
                            return
                    else:
                        at = min(ts + offset, time.time())  # a stamp past the file's last: not ahead
                    played = True
                    self.last_time = at
                    yield (at, linktype, data)
                self.warnings.extend(reader.warnings)
            if not self.loop or not played:  # looping over files without a packet would only spin
                return

    def _wait_until(self, at: float) -> None:
        """Sleep (in steps, so stop() is heard) until ``at`` is not in the future."""
        while not self.stopped:
            delay = at - time.time()
            if delay <= 0:
                return
            time.sleep(min(delay, 0.5))


def _bounds(path: Path) -> tuple[float, float]:
    """A capture's first and last timestamps (a cheap pass: the records are not decoded)."""
    first = last = None
    for ts, _linktype, _data in CaptureReader(path):
        if first is None:
            first = ts
        last = ts if last is None else max(last, ts)
    if first is None or last is None:
        return (0.0, 0.0)
    return (first, last)


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
            except OSError as exc:
                if self.stopped:
                    return
                if exc.errno == errno.ENETDOWN:  # the link went down: capture resumes when it is up
                    time.sleep(0.5)
                    continue
                raise
            yield (time.time(), LINKTYPE_ETHERNET, data)

    def close(self) -> None:
        self.stopped = True
        self.sock.close()
