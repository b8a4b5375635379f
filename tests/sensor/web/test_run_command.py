"""``otwatch sensor run --console-port``: the sensor process serves its own console over HTTPS."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from otwatch.wire import pki
from otwatch.wire.tls import fetch_certificate
from tests.conftest import form_login

pytestmark = pytest.mark.network


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _paired_state(base: Path) -> None:
    """A sensor paired with a console that is not there (port 1 refuses connections)."""
    state = base / "state"
    state.mkdir(parents=True)
    ca_key, ca = pki.create_ca()
    key = pki.generate_key()
    (state / "ca.pem").write_bytes(pki.cert_pem(ca))
    (state / "cert.pem").write_bytes(pki.cert_pem(pki.issue(ca_key, ca, key.public_key(), "sensor:t")))
    (state / "key.pem").write_bytes(pki.key_pem(key))
    ident = {
        "node_id": "n",
        "install_id": "i",
        "kind": "sensor",
        "address": "127.0.0.1:1",
        "enrolled_at": datetime.now(UTC).isoformat(),
    }
    (state / "identity.json").write_text(json.dumps(ident))


def test_run_serves_the_sensor_console(tmp_path: Path, plant_capture: Path) -> None:
    base = tmp_path / "install"
    _paired_state(base)
    port = _free_port()
    env = {**os.environ, "OTWATCH_SENSOR_ADMIN_PASSWORD": "run-admin-1"}
    cmd = [
        sys.executable,
        "-m",
        "otwatch",
        "sensor",
        "run",
        "--install-base",
        str(base),
        "--pcap",
        str(plant_capture),
        "--speed",
        "0",
        "--console-port",
        str(port),
        "--network-root",
        str(tmp_path / "host"),
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"https://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        with httpx.Client(verify=False, base_url=url, follow_redirects=True, timeout=5) as c:
            while True:
                try:
                    c.get("/login")
                    break
                except httpx.TransportError:
                    assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                    assert time.monotonic() < deadline, "the sensor console did not come up"
                    time.sleep(0.2)
            der = fetch_certificate("127.0.0.1", port)
            assert pki.fingerprint_der(der) == pki.fingerprint(
                pki.load_cert((base / "state/local/tls/self-signed.crt").read_bytes())
            )
            form_login(c, "admin", "run-admin-1")
            deadline = time.monotonic() + 30
            while True:  # the capture replays and the link to the absent console fails
                html = c.get("/overview").text
                if "Service connection error" in html and 'href="/devices">0<' not in html:
                    break
                assert time.monotonic() < deadline, html
                time.sleep(0.3)
            assert "Managed by the console at 127.0.0.1:1" in html
            assert "console unreachable" in html
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    # generated: not a terminal here, so written to a 0600 file (named), never printed to a log
    assert "sensor console user support: generated password written to" in out
    written = base / "state/local/generated-password-support"
    assert written.stat().st_mode & 0o777 == 0o600 and written.read_text().strip() not in out
    assert "sensor console user admin" not in out  # from the environment: not printed
    assert f"sensor console: https://127.0.0.1:{port}/" in out


def test_run_refuses_an_unpaired_sensor(tmp_path: Path, plant_capture: Path) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "otwatch",
            "sensor",
            "run",
            "--install-base",
            str(tmp_path),
            "--pcap",
            str(plant_capture),
            "--console-port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1 and "not paired (run `otwatch sensor install` first)" in r.stderr
