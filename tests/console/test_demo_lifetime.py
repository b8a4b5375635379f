"""``make run``'s demo: a busy port is a one-line error that creates nothing, a second demo runs
beside the first on other ports, and nothing the demo started outlives it, however it is stopped."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from otwatch.console.cli import app
from otwatch.console.demo import MODBUS, S7, _device_ports, _sensor_password_hint
from otwatch.console.devsim import is_bound
from tests.pg import free_port


def test_busy_port_is_one_line_and_creates_no_credentials(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for command in (["demo"], ["run"]):
            data = tmp_path / command[0]
            result = CliRunner().invoke(app, [*command, "--host", "127.0.0.1", "--port", str(port),
                                              "--data-dir", str(data)])  # fmt: skip
            assert result.exit_code == 2, result.output
            lines = [line for line in result.output.splitlines() if line.strip()]
            assert len(lines) == 1 and f"port {port}" in lines[0] and "in use" in lines[0]
            assert "PORT=" in lines[0] if command == ["demo"] else "--port" in lines[0]
            assert not list(data.rglob("*.db")), "a database (and an admin password) was created"


def test_a_second_demo_gets_its_own_device_ports() -> None:
    assert _device_ports(8443) == (MODBUS[1], S7[1])
    second = _device_ports(8444)
    assert second != (MODBUS[1], S7[1]) and len(set(second) | {MODBUS[1], S7[1]}) == 4
    assert _device_ports(9443) != _device_ports(8443)


def test_a_first_run_names_the_sensors_password_file_once_written(tmp_path: Path) -> None:
    """The banner was printed before the new sensor wrote its password, so a first run was told
    "password from the first run"."""
    import threading

    first = tmp_path / "generated-password-admin"
    threading.Timer(0.5, first.write_text, args=("pw\n",)).start()
    assert _sensor_password_hint(first, True, lambda: True) == f"its first password is in {first})"
    first.unlink()
    started = time.monotonic()  # a sensor that ran before: its password was shown then, no waiting
    assert _sensor_password_hint(first, False, lambda: True) == "password from the first run)"
    assert _sensor_password_hint(first, True, lambda: False) == "password from the first run)"
    assert time.monotonic() - started < 1


@pytest.mark.slow
def test_killing_the_demos_parent_stops_every_process_it_started(tmp_path: Path) -> None:
    """``kill`` of ``make run`` (the demo's parent): the demo, its agent, sensor and simulated PLCs go."""
    port = free_port()
    modbus_port, s7_port = _device_ports(port)
    if is_bound(MODBUS[0], modbus_port) or is_bound(S7[0], s7_port):
        pytest.skip("the simulators' ports are in use on this machine")
    log = (tmp_path / "demo.log").open("wb")
    argv = [sys.executable, "-m", "otwatch", "console", "demo", "--host", "127.0.0.1", "--port", str(port),
            "--data-dir", str(tmp_path / "demo")]  # fmt: skip
    # A parent that is not the test: a shell, like make, which we kill with SIGKILL.
    parent = subprocess.Popen(["sh", "-c", " ".join(argv) + "; sleep 300"], stdout=log, stderr=log,
                              start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while not (is_bound(MODBUS[0], modbus_port) and is_bound(S7[0], s7_port)):
            assert time.monotonic() < deadline, (tmp_path / "demo.log").read_text()
            assert parent.poll() is None
            time.sleep(0.5)
        while "the sensor's own console" not in (tmp_path / "demo.log").read_text():
            assert time.monotonic() < deadline, (tmp_path / "demo.log").read_text()
            time.sleep(0.5)
        found = re.search(
            r"the sensor's own console: https://127\.0\.0\.1:(\d+)/", (tmp_path / "demo.log").read_text()
        )
        assert found, (tmp_path / "demo.log").read_text()
        sensor_console = int(found.group(1))
        assert "its first password is in" in (tmp_path / "demo.log").read_text()  # a first run
        while not is_bound("127.0.0.1", sensor_console):  # the demo starts the sensor's own console too
            assert time.monotonic() < deadline, (tmp_path / "demo" / "sensor" / "sensor.log").read_text()
            time.sleep(0.5)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 30
        while any(is_bound(h, p) for h, p in ((MODBUS[0], modbus_port), (S7[0], s7_port), ("127.0.0.1", port),
                                              ("127.0.0.1", sensor_console))):  # fmt: skip
            assert time.monotonic() < deadline, "the demo's processes outlived its parent"
            time.sleep(0.5)
        left = subprocess.run(["pgrep", "-f", str(tmp_path / "demo")], capture_output=True, text=True)
        assert left.stdout.split() == [], "processes of this demo are still running"
    finally:
        subprocess.run(["pkill", "-f", str(tmp_path / "demo")], check=False)
        log.close()
