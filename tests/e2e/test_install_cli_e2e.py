"""`otwatch agent install / repair / uninstall` as an operator runs them, against a live console."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from otwatch.cli import app
from tests.e2e.conftest import LiveConsole

runner = CliRunner()


def test_install_repair_uninstall(live_console: LiveConsole, tmp_path: Path) -> None:
    admin = live_console.admin()
    key = admin.post("/api/v1/pairing-keys", json={"max_uses": 20, "description": "cli"}).json()[
        "pairing_key"
    ]
    base = str(tmp_path / "agent")
    r = runner.invoke(app, ["agent", "install", "--install-base", base, "--pairing-key", key])
    assert r.exit_code == 0, r.output
    assert "Pending Approval" in r.output
    unit = (tmp_path / "agent" / "otwatch-agent.service").read_text()
    assert f"agent run --install-base {base}" in unit
    again = runner.invoke(app, ["agent", "install", "--install-base", base, "--pairing-key", key])
    assert again.exit_code == 1 and "already installed" in again.output
    fp = admin.get("/api/v1/certificates").json()["fingerprint_sha256"]
    r = runner.invoke(
        app,
        ["agent", "repair", "--install-base", base, "--icp-address", live_console.address,
         "--icp-username", "admin", "--icp-password", "admin-password-1", "--icp-fingerprint", fp],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    agents = admin.get("/api/v1/agents").json()
    assert agents["total"] == 1  # repaired, not duplicated
    node_id = agents["items"][0]["id"]
    admin.post(f"/api/v1/agents/{node_id}/approve").raise_for_status()
    assert runner.invoke(app, ["agent", "uninstall", "--install-base", base]).exit_code == 0
    view = admin.get(f"/api/v1/agents/{node_id}").json()
    assert view["status"] == "Disconnected" and view["disconnect_reason"] == "Uninstalled"
    assert not (tmp_path / "agent" / "state").exists()
    bad = runner.invoke(
        app, ["agent", "install", "--install-base", str(tmp_path / "b"), "--pairing-key", "OTW1-garbage"]
    )
    assert bad.exit_code == 2 and "pairing failed" in bad.output
    wrong_pin = ":".join(["AB"] * 32)
    bad = runner.invoke(
        app,
        ["agent", "install", "--install-base", str(tmp_path / "c"), "--icp-address", live_console.address,
         "--icp-apikey", "otw_x_y", "--icp-fingerprint", wrong_pin],
    )  # fmt: skip
    assert bad.exit_code == 2 and "does not match" in bad.output


def test_sensor_install_writes_a_unit_that_runs_under_the_supervisor(
    live_console: LiveConsole, tmp_path: Path
) -> None:
    """The sensor's service runs `sensor supervise`, which is what takes version updates and rolls them back."""
    admin = live_console.admin()
    key = admin.post("/api/v1/pairing-keys", json={"max_uses": 20, "description": "cli"}).json()[
        "pairing_key"
    ]
    base = str(tmp_path / "sensor")
    r = runner.invoke(app, ["sensor", "install", "--install-base", base, "--pairing-key", key])
    assert r.exit_code == 0, r.output
    unit = (tmp_path / "sensor" / "otwatch-sensor.service").read_text()
    assert f"sensor supervise --install-base {base}" in unit
    help_text = runner.invoke(app, ["sensor", "supervise", "--help"]).output
    assert "--health-timeout" in help_text


def test_install_with_a_sha1_fingerprint_warns_and_pairs(live_console: LiveConsole, tmp_path: Path) -> None:
    """Seed 000's example pins the console with 20 octets: accepted, with a warning; SHA-256 stays the default."""
    from otwatch.wire.pki import fingerprint_sha1

    sha1 = fingerprint_sha1(live_console.ctx.pki.server_cert)
    r = runner.invoke(
        app,
        ["agent", "install", "--install-base", str(tmp_path / "a"), "--icp-address", live_console.address,
         "--icp-username", "admin", "--icp-password", "admin-password-1", "--icp-fingerprint", sha1],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "SHA-1 certificate fingerprint" in r.output and "prefer the SHA-256 fingerprint" in r.output
    assert "Pending Approval" in r.output
    wrong = ":".join(["AB"] * 20)
    bad = runner.invoke(
        app,
        ["agent", "install", "--install-base", str(tmp_path / "b"), "--icp-address", live_console.address,
         "--icp-apikey", "otw_x_y", "--icp-fingerprint", wrong],
    )  # fmt: skip
    assert bad.exit_code == 2 and "does not match" in bad.output
    sha256 = live_console.ctx.pki.fingerprint
    ok = runner.invoke(
        app,
        ["agent", "install", "--install-base", str(tmp_path / "c"), "--icp-address", live_console.address,
         "--icp-username", "admin", "--icp-password", "admin-password-1", "--icp-fingerprint", sha256],
    )  # fmt: skip
    assert ok.exit_code == 0 and "SHA-1" not in ok.output
