"""The agent's own host as inventory assets: one per interface that is up and not loopback, with the
hostname, OS and the NIC's vendor; reported again only when it changed (or hourly), never while Paused."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from otwatch.agent import hostinfo
from otwatch.agent.node import AgentNode
from otwatch.agent.platform import Interface
from otwatch.wire.client import NodeState
from otwatch.wire.messages import AssetReport

FOUND = [
    Interface("lo", 1, None, True, False, True, (("127.0.0.1", 8),)),
    Interface("eth0", 2, "00:1B:1B:00:00:05", True, True, False, (("10.0.0.5", 24),)),  # Siemens OUI
    Interface("eth1", 3, "02:00:00:00:07:02", True, True, False, (("192.168.7.2", 24),)),
    Interface("ifb0", 4, "b6:c9:fa:b3:83:c0", False, False),  # down
    Interface("wlan0", 5, "00:00:00:00:00:00", True, True, False, (("169.254.3.4", 16),)),  # nothing usable
]


def test_interfaces_and_their_assets() -> None:
    assets = hostinfo.host_assets("hmi-7", "Windows 10", FOUND)
    assert [(a["ip"], a["mac"]) for a in assets] == [
        ("10.0.0.5", "00:1b:1b:00:00:05"),
        ("192.168.7.2", "02:00:00:00:07:02"),
    ]
    eth0 = assets[0]
    assert (eth0["name"], eth0["os"], eth0["vendor"]) == ("hmi-7", "Windows 10", "Siemens")
    assert eth0["sources"] == {"name": "agent host", "os": "agent host", "vendor": "oui"}
    assert eth0["identities"][0]["extra"] == {
        "interface": "eth0",
        "addresses": ["10.0.0.5"],
        "os": "Windows 10",
    }
    assert "vendor" not in assets[1]  # a locally administered MAC has no maker
    for a in assets:
        AssetReport.model_validate(a)  # what the console takes
    assert hostinfo.own_macs(FOUND) == {"10.0.0.5": "00:1b:1b:00:00:05", "192.168.7.2": "02:00:00:00:07:02"}


def test_a_windows_adapter() -> None:
    """The Windows platform layer names an adapter by its GUID and gives its friendly name."""
    nic = Interface(
        "{4D36E972-E325-11CE-BFC1-08002BE10318}", 12, "00-0C-29-3E-51-07", True, True, False,
        (("10.30.2.7", 24),), "Ethernet 2",
    )  # fmt: skip
    [asset] = hostinfo.host_assets("HMI-7", "Windows 10", [nic])
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
    first = hostinfo.host_assets("gw-1", "Linux 6.1", FOUND)
    assert node.host_tick(100.0, first)
    sent = box.pending()
    assert [r.kind for r in sent] == ["assets"] and [a.ip for a in sent[0].assets] == [
        "10.0.0.5",
        "192.168.7.2",
    ]
    box.ack(sent)
    assert not node.host_tick(200.0, first)  # unchanged: not again within the hour
    changed = hostinfo.host_assets("gw-1", "Linux 6.2", FOUND)
    assert node.host_tick(300.0, changed)  # an OS update
    assert not node.host_tick(301.0, changed)
    assert node.host_tick(300.0 + hostinfo.REPORT_EVERY_S, changed)  # hourly: "last seen" moves
    box.ack(box.pending())
    node.runtime.status = "Paused"
    assert not node.host_tick(10 * hostinfo.REPORT_EVERY_S, first) and box.pending() == []
