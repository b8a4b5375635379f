"""Test helpers: locate the public captures, replay them through the sensor, ask tshark and Zeek logs.

Captures live beside the repository (``../shared/captures``); tests skip with the reason when they
are absent, and tshark-based cross-checks skip only when tshark itself is not installed.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from otwatch.protocols.base import ProtocolSpec, Record
from otwatch.sensor.capture.pcapfile import CaptureReader
from otwatch.sensor.tracking.flows import Flow, FlowTable

REPO = Path(__file__).resolve().parents[2]
CAPTURES = REPO.parent / "shared" / "captures"


def capture(relative: str) -> Path:
    """Path of one public capture file or folder, or skip the test saying what is missing."""
    path = CAPTURES / relative
    if not path.exists():
        pytest.skip(f"public capture {path} is absent (expected ../shared/captures/{relative})")
    return path


@dataclass(slots=True)
class Replayed:
    frame: int  # 1-based, like tshark's frame.number
    flow: Flow
    record: Record


def replay(path: Path, specs: tuple[ProtocolSpec, ...] | None = None) -> list[Replayed]:
    """pcap -> decode -> flows -> dissectors, keeping the frame each record was completed in."""
    table = FlowTable(specs)
    out: list[Replayed] = []
    reader = CaptureReader(path)
    for number, (ts, linktype, data) in enumerate(reader, start=1):
        for flow, record in table.process(ts, linktype, data):
            out.append(Replayed(number, flow, record))
    assert not reader.warnings, reader.warnings
    return out


def tshark_fields(path: Path, display_filter: str, fields: list[str]) -> list[list[str]]:
    """One row per displayed frame, ``frame.number`` first; skip when tshark is not installed."""
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark is not installed (apt-get install -y tshark); it is the cross-check reference")
    cmd = [tshark, "-n", "-r", str(path), "-Y", display_filter, "-T", "fields", "-E", "occurrence=a"]
    for name in ["frame.number", *fields]:
        cmd += ["-e", name]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)
    return [line.split("\t") for line in result.stdout.splitlines()]


def zeek_log(path: Path, fields: list[str] | None = None) -> list[dict[str, str]]:
    """Rows of a Zeek TSV log; ``fields`` names the columns when the baseline lacks its header."""
    rows: list[dict[str, str]] = []
    names = fields
    for line in path.read_text().splitlines():
        if line.startswith("#fields"):
            names = line.split("\t")[1:]
            continue
        if line.startswith("#") or not line.strip():
            continue
        assert names is not None, f"{path} has no #fields header"
        rows.append(dict(zip(names, line.split("\t"), strict=True)))
    return rows
