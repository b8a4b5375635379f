"""The agent's own host as inventory assets: one per interface that is up and not loopback, with the
hostname, OS and the NIC's vendor; reported again only when it changed (or hourly), never while Paused."""

from __future__ import annotations

import socket
from pathlib import Path

import psutil
import pytest

from otwatch.agent import hostinfo
from otwatch.agent.hostinfo import Interface
from otwatch.agent.node import AgentNode
from otwatch.wire.client import NodeState
from otwatch.wire.messages import AssetReport

AF_LINK = psutil.AF_LINK


def _addr(family: int, address: str) -> object:
    return psutil._ntuples.snicaddr(family, address, None, None, None)  # type: ignore[attr-defined]


def _stat(up: bool, flags: str) -> object:
    return psutil._ntuples.snicstats(up, 0, 0, 1500, flags)  # type: ignore[attr-defined]


ADDRS = {
    "lo": [
        _addr(socket.AF_INET, "127.0.0.1"),
        _addr(socket.AF_INET6, "::1"),
        _addr(AF_LINK, "00:00:00:00:00:00"),
    ],
    "eth0": [
        _addr(socket.AF_INET, "10.0.0.5"),
        _addr(socket.AF_INET6, "fe80::21b:1bff:fe00:5%eth0"),  # link-local: never an asset's address
        _addr(socket.AF_INET6, "fd00::5"),
        _addr(AF_LINK, "00:1B:1B:00:00:05"),  # Siemens OUI
    ],
    "eth1": [_addr(socket.AF_INET, "192.168.7.2"), _addr(AF_LINK, "02:00:00:00:07:02")],
    "ifb0": [_addr(AF_LINK, "b6:c9:fa:b3:83:c0")],  # down
}
STATS = {
    "lo": _stat(True, "up,loopback,running"),
    "eth0": _stat(True, "up,broadcast,running,multicast"),
    "eth1": _stat(True, "up,broadcast,running"),
    "ifb0": _stat(False, "broadcast,noarp"),
}


def test_interfaces_and_their_assets() -> None:
    found = hostinfo.interfaces(ADDRS, STATS)
    by_name = {i.name: i for i in found}
    assert by_name["lo"].loopback and not by_name["eth0"].loopback
    assert by_name["eth0"] == Interface("eth0", True, False, "00:1b:1b:00:00:05", ("10.0.0.5", "fd00::5"))
    assets = hostinfo.host_assets("hmi-7", "Windows 10", found)
    assert [(a["ip"], a["mac"]) for a in assets] == [
        ("10.0.0.5", "00:1b:1b:00:00:05"),
        ("192.168.7.2", "02:00:00:00:07:02"),
    ]
    eth0 = assets[0]
    assert (eth0["name"], eth0["os"], eth0["vendor"]) == ("hmi-7", "Windows 10", "Siemens")
    assert eth0["sources"] == {"name": "agent host", "os": "agent host", "vendor": "oui"}
    assert eth0["identities"][0]["extra"] == {
        "interface": "eth0",
        "addresses": ["10.0.0.5", "fd00::5"],
        "os": "Windows 10",
    }
    assert "vendor" not in assets[1]  # a locally administered MAC has no maker
    for a in assets:
        AssetReport.model_validate(a)  # what the console takes
    assert hostinfo.own_macs(found) == {
        "10.0.0.5": "00:1b:1b:00:00:05", "fd00::5": "00:1b:1b:00:00:05", "192.168.7.2": "02:00:00:00:07:02"
    }  # fmt: skip


def test_a_windows_interface_list() -> None:
    """psutil on Windows: link addresses spelt with dashes, interface names with spaces."""
    addrs = {"Ethernet 2": [_addr(AF_LINK, "00-0C-29-3E-51-07"), _addr(socket.AF_INET, "10.30.2.7")]}
    [asset] = hostinfo.host_assets(
        "HMI-7", "Windows 10", hostinfo.interfaces(addrs, {"Ethernet 2": _stat(True, "")})
    )
    assert (asset["mac"], asset["ip"], asset["vendor"]) == ("00:0c:29:3e:51:07", "10.30.2.7", "VMware")
    assert asset["identities"][0]["extra"]["interface"] == "Ethernet 2"


def test_this_hosts_interfaces_as_the_kernel_lists_them() -> None:
    """On this machine: every reported interface is up, not loopback, and its MAC is the kernel's."""
    assets = hostinfo.host_assets()
    net = Path("/sys/class/net")
    if not net.is_dir():
        pytest.skip("no /sys/class/net to compare with")
    up = {
        p.name: (p / "address").read_text().strip()
        for p in net.iterdir()
        if (p / "operstate").read_text().strip() in ("up", "unknown") and p.name != "lo"
    }
    reported = {a["identities"][0]["extra"]["interface"]: a["mac"] for a in assets}
    assert reported, "no interface reported"
    for name, mac in reported.items():
        assert name in up and up[name] == mac, (name, mac)
    assert all(a["name"] == socket.gethostname() for a in assets)


def test_the_node_reports_its_host_when_it_changed(tmp_path: Path) -> None:
    node = AgentNode(NodeState(tmp_path))
    node.runtime.status = "Connected"
    box = node.runtime.report_box
    first = hostinfo.host_assets("gw-1", "Linux 6.1", hostinfo.interfaces(ADDRS, STATS))
    assert node.host_tick(100.0, first)
    sent = box.pending()
    assert [r.kind for r in sent] == ["assets"] and [a.ip for a in sent[0].assets] == [
        "10.0.0.5",
        "192.168.7.2",
    ]
    box.ack(sent)
    assert not node.host_tick(200.0, first)  # unchanged: not again within the hour
    changed = hostinfo.host_assets("gw-1", "Linux 6.2", hostinfo.interfaces(ADDRS, STATS))
    assert node.host_tick(300.0, changed)  # an OS update
    assert not node.host_tick(301.0, changed)
    assert node.host_tick(300.0 + hostinfo.REPORT_EVERY_S, changed)  # hourly: "last seen" moves
    box.ack(box.pending())
    node.runtime.status = "Paused"
    assert not node.host_tick(10 * hostinfo.REPORT_EVERY_S, first) and box.pending() == []
