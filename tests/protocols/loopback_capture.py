"""Record real traffic on the loopback interface with dumpcap, for dissector tests with real peers.

The peers run on 127.0.0.x; ``record(bpf)`` starts Debian's dumpcap on ``lo`` with a capture filter,
waits until it is capturing, and hands back the file once the test's exchange is over. Tests skip
when dumpcap is missing or may not capture (not root and no capture capability).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

START_TIMEOUT = 10.0


@contextlib.contextmanager
def record(path: Path, bpf: str) -> Iterator[Path]:
    """Capture loopback packets matching ``bpf`` into ``path`` (pcapng) while the block runs."""
    dumpcap = shutil.which("dumpcap")
    if dumpcap is None:
        pytest.skip("dumpcap is not installed (apt-get install -y tshark)")
    proc = subprocess.Popen(
        [dumpcap, "-q", "-i", "lo", "-f", bpf, "-w", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + START_TIMEOUT
    started = False
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        if line.startswith("Capturing on"):
            started = True
            break
    if not started:
        proc.kill()
        proc.wait()
        pytest.skip("dumpcap could not capture on lo (needs root or CAP_NET_RAW)")
    # "Capturing on" comes as the socket opens; libpcap then sets the filter and flushes what it already
    # holds, so packets sent in that instant are lost. Give it a moment before the exchange starts.
    time.sleep(0.5)
    try:
        yield path
    finally:
        time.sleep(0.3)  # let the last packets reach the capture buffer
        proc.terminate()
        proc.wait(timeout=10)
