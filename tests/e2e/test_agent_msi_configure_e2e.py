"""What the Windows installer runs, against a live console: ``msi-configure`` with the seed's msiexec
properties as the MSI passes them (every property, the unset ones empty), Repair with other details,
and the installation lock that keeps a second agent off the same installation."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from otwatch.agent import platform
from otwatch.agent.__main__ import app
from otwatch.agent.lifecycle import LOCK_NAME
from tests.e2e.conftest import LiveConsole

runner = CliRunner()


def props(**given: str) -> list[str]:
    names = ("PAIRING_KEY", "ICP_ADDRESS", "ICP_USERNAME", "ICP_PASSWORD", "ICP_APIKEY", "ICP_FINGERPRINT")
    return [f"{name}={given.get(name, '')}" for name in names]


def test_msi_configure_pairs_repairs_and_the_lock_holds(live_console: LiveConsole, tmp_path: Path) -> None:
    admin = live_console.admin()
    key = admin.post("/api/v1/pairing-keys", json={"max_uses": 5, "description": "msi"}).json()["pairing_key"]
    base = tmp_path / "OT Agent"
    r = runner.invoke(app, ["msi-configure", "--install-base", str(base), *props(PAIRING_KEY=key)])
    assert r.exit_code == 0, r.output
    assert "Pending Approval" in r.output
    assert (base / "state" / "identity.json").exists()

    # a plain Repair (no pairing details) keeps the pairing
    r = runner.invoke(app, ["msi-configure", "--install-base", str(base), *props()])
    assert r.exit_code == 0 and "nothing to do" in r.output

    # Repair with the console's address and credentials pairs the same installation again
    fp = admin.get("/api/v1/certificates").json()["fingerprint_sha256"]
    again = props(
        ICP_ADDRESS=live_console.address,
        ICP_USERNAME="admin",
        ICP_PASSWORD="admin-password-1",
        ICP_FINGERPRINT=fp,
    )
    r = runner.invoke(app, ["msi-configure", "--install-base", str(base), *again])
    assert r.exit_code == 0, r.output
    assert admin.get("/api/v1/agents").json()["total"] == 1  # repaired, not duplicated

    lock = platform.file_lock(base / "state" / LOCK_NAME)
    lock.acquire()  # as the running service holds it
    try:
        r = runner.invoke(app, ["run", "--install-base", str(base)])
    finally:
        lock.release()
    assert r.exit_code == 1 and "another agent runs" in r.output
