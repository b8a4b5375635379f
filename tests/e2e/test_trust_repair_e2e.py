"""Issue 17, item 5 over real TLS: `agent repair` presents the node's current certificate, so an
approved agent stays approved; a repair from another installation directory (no certificate) resets it."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from otwatch.cli import app
from tests.e2e.conftest import LiveConsole

runner = CliRunner()


def test_repair_keeps_approval_only_with_the_current_certificate(
    live_console: LiveConsole, tmp_path: Path
) -> None:
    admin = live_console.admin()
    fp = admin.get("/api/v1/certificates").json()["fingerprint_sha256"]
    key = admin.post("/api/v1/pairing-keys", json={"description": "cli"}).json()["pairing_key"]
    base = tmp_path / "agent"
    assert (
        runner.invoke(app, ["agent", "install", "--install-base", str(base), "--pairing-key", key]).exit_code
        == 0
    )
    node_id = admin.get("/api/v1/agents").json()["items"][0]["id"]
    admin.post(f"/api/v1/agents/{node_id}/approve").raise_for_status()
    repair = ["--icp-address", live_console.address, "--icp-username", "admin",
              "--icp-password", "admin-password-1", "--icp-fingerprint", fp]  # fmt: skip
    r = runner.invoke(app, ["agent", "repair", "--install-base", str(base), *repair])
    assert r.exit_code == 0, r.output
    assert admin.get(f"/api/v1/agents/{node_id}").json()["approved_at"] is not None
    # someone who copied only the install id (no certificate) and repairs: approval is reset
    other = tmp_path / "copy"
    (other / "state").mkdir(parents=True)
    shutil.copy(base / "state" / "install_id", other / "state" / "install_id")
    r = runner.invoke(app, ["agent", "repair", "--install-base", str(other), *repair])
    assert r.exit_code == 0, r.output
    view = admin.get(f"/api/v1/agents/{node_id}").json()
    assert view["approved_at"] is None and view["status"] == "Pending Approval"
