"""The one-shot CLI in-process: progress bars and the asset table (the JSON path runs as a
subprocess in test_peers_scan.py)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from otwatch.agent.cli import app
from tests.peers import free_port

pytestmark = pytest.mark.network
HOST = "127.0.3.70"


@pytest.fixture
def ssh_like() -> Iterator[int]:
    """A listener that greets like an SSH server and closes, in a thread (the CLI owns its loop)."""
    port = free_port(HOST)
    server = socket.create_server((HOST, port))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"SSH-2.0-OpenSSH_8.4p1 Raspbian-5+deb11u1\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        thread.join(5)
        server.close()


def test_table_output_with_progress(ssh_like: int) -> None:
    result = CliRunner().invoke(
        app, ["scan", HOST, "--ports", str(ssh_like), "--port-map", f"ssh={ssh_like}", "--no-icmp"]
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "1 assets — Completed" in out
    assert HOST in out and str(ssh_like) in out and "IT Host" in out
    for phase in ("Discovery", "Open ports check", "Initial Enrichment", "OT Queries", "IT Queries"):
        assert phase in result.stderr


def test_bad_options_exit_with_usage_error() -> None:
    result = CliRunner().invoke(app, ["scan", HOST, "--port-map", "modbus"])
    assert result.exit_code == 2
    result = CliRunner().invoke(app, ["scan", HOST, "--snmp-version", "3", "--snmp-community", "x"])
    assert result.exit_code == 2
