"""No public capture raises a Protocol Violation alert of a protocol it does not carry.

tshark's protocol hierarchy of each capture is the independent answer: an alert of ours about
protocol P is allowed only where tshark also finds P (or the flow's port family, for protocols tshark
has no dissector for) in that file. This is what broke before identification by content: MMS read as
S7comm, MELSOFT read as Modbus, PROFINET IO read as EtherNet/IP.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from otwatch.inventory.vocabulary import Engine
from otwatch.sensor.pipeline.sensor import Sensor
from tests.sensor.replay import CAPTURES

#: our protocol name -> the names tshark's protocol hierarchy uses for it
TSHARK_NAMES: dict[str, set[str]] = {
    "modbus": {"mbtcp", "modbus"},
    "s7comm": {"s7comm", "s7comm-plus", "s7comm_plus"},
    "mms": {"mms", "pres", "ses"},
    "enip": {"enip", "cip", "cipcm", "cipio"},
    "dnp3": {"dnp3"},
    "iec104": {"104apci", "104asdu", "iec60870_104"},
    "bacnet": {"bvlc", "bacnet", "bacapp"},
    "opcua": {"opcua"},
    "ads": {"ams", "ads"},
    "hartip": {"hart_ip", "hart-ip"},
    "c37118": {"synphasor"},
    "fins": {"omron"},
    "goose": {"goose"},
    "sv": {"sv"},
    "profinet_io": {"dcerpc", "pn_io"},
    "profinet_dcp": {"pn_dcp"},
    "snmp": {"snmp"},
    "dhcp": {"dhcp", "bootp"},
    "dns": {"dns", "mdns", "llmnr"},
    "http": {"http"},
    "tls": {"tls", "ssl"},
}


def _captures() -> list[Path]:
    if not CAPTURES.exists():
        return []
    return sorted(p for p in CAPTURES.rglob("*") if p.suffix in (".pcap", ".pcapng", ".cap"))


def _hierarchy(path: Path) -> set[str]:
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark is not installed (apt-get install -y tshark); it is the reference")
    out = subprocess.run([tshark, "-n", "-r", str(path), "-q", "-z", "io,phs"], capture_output=True,
                         text=True, timeout=120).stdout  # fmt: skip
    return {line.split()[0] for line in out.splitlines() if line.startswith(" ") and line.split()}


@pytest.mark.slow
@pytest.mark.parametrize("path", _captures(), ids=lambda p: p.name)
def test_protocol_violations_only_for_protocols_the_capture_carries(path: Path) -> None:
    sensor = Sensor()
    sensor.process_capture(path)
    sensor.finish()
    violations = {
        a.protocol
        for a in sensor.alerts.alerts.values()
        if a.engine == Engine.PROTOCOL_VIOLATION and a.protocol
    }
    if not violations:
        return
    carried = _hierarchy(path)
    foreign = {p for p in violations if p in TSHARK_NAMES and not TSHARK_NAMES[p] & carried}
    assert foreign == set(), f"{path.name}: tshark finds {sorted(carried)}"
