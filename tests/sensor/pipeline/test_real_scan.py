"""A real scan through the sensor: nmap probing 15 ports on two "PLCs" (listeners on 502 and 102 at
two loopback addresses), captured with dumpcap, gives one Port Scan alert listing both hosts and the
15 ports, and one Unauthorized Communication Behavior alert instead of one per probed port.

Needs nmap, dumpcap (Debian's tshark packages) and root for raw sockets and capturing on ``lo``;
skipped otherwise.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from otwatch.sensor.config.settings import SensorSettings
from otwatch.sensor.pipeline.sensor import Sensor

NMAP, DUMPCAP = shutil.which("nmap"), shutil.which("dumpcap")
pytestmark = pytest.mark.skipif(
    NMAP is None or DUMPCAP is None or not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="needs nmap, dumpcap and root (raw sockets, capture on lo)",
)
PLCS = ("127.0.0.121", "127.0.0.122")
PORTS = (21, 22, 23, 25, 80, 102, 135, 139, 443, 445, 502, 2404, 20000, 44818, 47808)


class _Listeners:
    """Two hosts with ports 502 and 102 open: accept and close, like a PLC refusing a session."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []
        for ip in PLCS:
            for port in (502, 102):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((ip, port))
                s.listen(16)
                s.settimeout(0.2)
                self.sockets.append(s)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            for s in self.sockets:
                try:
                    conn, _peer = s.accept()
                except OSError:
                    continue
                conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        for s in self.sockets:
            s.close()


def _capture_scan(path: Path, technique: str) -> None:
    assert NMAP is not None and DUMPCAP is not None
    filt = " or ".join(f"host {ip}" for ip in PLCS)
    dump = subprocess.Popen(
        [DUMPCAP, "-q", "-P", "-i", "lo", "-f", filt, "-w", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not (path.exists() and path.stat().st_size >= 24) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the capture filter is in place once the file header is written; a margin
        ports = ",".join(map(str, PORTS))
        subprocess.run(
            [NMAP, technique, "-Pn", "-n", "--max-retries", "0", "-p", ports, *PLCS],
            check=True,
            capture_output=True,
            timeout=120,
        )
        time.sleep(0.5)
    finally:
        dump.terminate()
        dump.wait(10)


@pytest.mark.parametrize("technique", ["-sS", "-sT"])
def test_nmap_scan_of_two_plcs_is_one_alert(tmp_path: Path, technique: str) -> None:
    listeners = _Listeners()
    try:
        capture = tmp_path / "scan.pcap"
        _capture_scan(capture, technique)
    finally:
        listeners.close()
    sensor = Sensor(SensorSettings(learning=False))  # detection mode: every conversation is new
    sensor.process_capture(capture)
    sensor.finish()
    assert sensor.errors == 0, sensor.last_error
    scans = [
        a for a in sensor.alerts.alerts.values() if a.type.code in ("PORT_SCAN", "ADDRESS_SCAN", "PLC_SCAN")
    ]
    assert [a.type.code for a in scans] == ["PORT_SCAN"]
    (scan,) = scans
    assert (scan.details["hosts"], scan.details["ports"], scan.details["probes"]) == (2, 15, 30)
    assert sorted(scan.details["targets"].split(", ")) == list(PLCS)
    assert scan.source_label is not None and scan.source_label.startswith("127.0.0.1")
    assert scan.pcap is not None and scan.count == 30
    (conversations,) = sensor.alerts.by_code("NEW_CONVERSATION")
    assert conversations.details["conversation_count"] >= 26  # web ports are left to smart IT learning
