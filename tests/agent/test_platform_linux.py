"""The Linux platform layer: the kernel's tables as files, the installation lock across processes,
and the Windows installer's properties turned into pairing credentials."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from otwatch.agent import platform
from otwatch.agent.__main__ import app
from otwatch.agent.lifecycle import credentials_from_properties
from otwatch.agent.platform import LockHeld, Neighbour, linux

REPO = Path(__file__).resolve().parents[2]

ARP = """IP address       HW type     Flags       HW address            Mask     Device
10.1.2.3         0x1         0x2         00:80:f4:12:34:56     *        eth0
10.1.2.4         0x1         0x0         00:00:00:00:00:00     *        eth0
10.1.2.5         0x1         0x6         00:1b:1b:0a:0b:0c     *        eth1
"""
ROUTE = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t0102010A\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t0002010A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth1\t0000A8C0\t00000000\t0201\t0\t0\t0\t0000FFFF\t0\t0\t0
"""


def test_linux_is_selected_here() -> None:
    assert platform.current is linux and not platform.is_windows()


def test_neighbours_and_routes_from_the_kernel_files(tmp_path: Path) -> None:
    (tmp_path / "arp").write_text(ARP)
    (tmp_path / "route").write_text(ROUTE)
    got = linux.neighbours(tmp_path / "arp")
    assert [(n.ip, n.mac, n.state) for n in got] == [
        ("10.1.2.3", "00:80:f4:12:34:56", "reachable"),
        ("10.1.2.5", "00:1b:1b:0a:0b:0c", "permanent"),
    ]
    assert all(isinstance(n, Neighbour) for n in got)
    routes = linux.read_routes(tmp_path / "route")
    assert [(str(r.network), r.interface, r.on_link) for r in routes] == [
        ("0.0.0.0/0", "eth0", False),
        ("10.1.2.0/24", "eth0", True),
    ]  # the reject route on eth1 is left out


def test_loopback_interface_is_listed_with_its_address() -> None:
    lo = next(i for i in linux.interfaces() if i.loopback)
    assert lo.up and not lo.ethernet and ("127.0.0.1", 8) in lo.addresses


def test_installation_lock_keeps_a_second_process_out(tmp_path: Path) -> None:
    lock_file = tmp_path / "agent.lock"
    child = textwrap.dedent(
        f"""
        from pathlib import Path
        from otwatch.agent import platform
        try:
            platform.file_lock(Path({str(lock_file)!r})).acquire()
        except platform.LockHeld:
            print("held")
        else:
            print("acquired")
        """
    )

    def other_process() -> str:
        env = {"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"}
        out = subprocess.run(
            [sys.executable, "-c", child], capture_output=True, text=True, env=env, check=True
        )
        return out.stdout.strip()

    lock = platform.file_lock(lock_file)
    lock.acquire()
    try:
        assert other_process() == "held"
        with pytest.raises(LockHeld):
            platform.file_lock(lock_file).acquire()  # a second open file description in this process too
    finally:
        lock.release()
    assert other_process() == "acquired"


def test_installer_properties_become_credentials() -> None:
    creds = credentials_from_properties(
        ["PAIRING_KEY=", "ICP_ADDRESS=10.0.0.5", "ICP_APIKEY=k_1=", "ICP_FINGERPRINT=AB:CD", "ICP_USERNAME="]
    )
    assert (creds.pairing_key, creds.address, creds.api_key, creds.fingerprint, creds.username) == (
        None,
        "10.0.0.5",
        "k_1=",  # only the first '=' separates name and value
        "AB:CD",
        None,
    )
    with pytest.raises(typer.BadParameter, match="ICP_ADRESS"):
        credentials_from_properties(["ICP_ADRESS=10.0.0.5"])


def test_msi_configure_without_details_on_a_fresh_install_fails(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["msi-configure", "PAIRING_KEY=", "--install-base", str(tmp_path)])
    assert result.exit_code == 2
    assert "give PAIRING_KEY" in result.output


def test_service_install_off_windows_prints_and_runs_nothing(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "service",
            "install",
            "--install-base",
            str(tmp_path),
            "--python",
            "/usr/bin/python3",
            "--launcher",
            "/x/l.py",
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"service run --install-base {tmp_path}" in result.output
    assert "not on Windows" in result.output
