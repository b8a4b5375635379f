"""Review of the Windows agent (finding 30): the state folder (the agent's private key) is closed to
SYSTEM and Administrators however the agent is paired.

``msi-configure`` (the MSI's custom action) ran ``icacls`` on INSTALLBASE\\state; ``otwatch-agent.py
install`` and ``repair``, which the launcher offers too, did not, and on Windows ``write_private``
leaves file modes to the folder's ACL — under Program Files that ACL lets every user read, so any
local user could copy the agent's key and speak for it to the console. ``icacls`` is a stand-in here
(a script on PATH that records its arguments): there is no Windows in CI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from otwatch.agent import platform
from otwatch.agent.__main__ import app


@pytest.fixture
def icacls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in ``icacls`` that appends its arguments to a file; the agent believes it is on Windows."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "icacls-calls"
    script = bin_dir / "icacls"
    script.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(platform, "is_windows", lambda: True)
    return calls


@pytest.mark.parametrize("command", ["install", "repair", "msi-configure"])
def test_state_folder_is_secured_before_pairing(command: str, icacls: Path, tmp_path: Path) -> None:
    base = tmp_path / "OT Agent"
    key = ["PAIRING_KEY=not-a-key"] if command == "msi-configure" else ["--pairing-key", "not-a-key"]
    result = CliRunner().invoke(app, [command, "--install-base", str(base), *key])
    assert result.exit_code != 0  # the pairing itself fails: the folder was secured before it
    calls = icacls.read_text().splitlines() if icacls.exists() else []
    assert calls, f"{command}: the state folder's ACL was left as inherited"
    assert calls[0].startswith(f"{base / 'state'} /inheritance:r /grant:r *S-1-5-18:(OI)(CI)F")
