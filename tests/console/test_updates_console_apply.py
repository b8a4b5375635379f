"""Apply a console version from the Updates page: who may, what is refused before anything starts,
the status the page follows (kept on disk), and the console version at the bottom left of every page.
The handover itself, with real processes, is tests/e2e/test_console_update_e2e.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import otwatch
from otwatch.console import handover
from otwatch.console.context import ConsoleContext
from tests.console.test_updates_selfupdate import console_pkg
from tests.console.test_web_pages import _as
from tests.sensor.node.test_versions import PUB

PAGES = ("/dashboard", "/inventory", "/alerts", "/agents", "/sensors", "/settings/updates", "/settings/audit")


@pytest.fixture
def keys(ctx: ConsoleContext) -> None:
    d = ctx.settings.data_dir / "release-keys"
    d.mkdir()
    (d / "release.pub").write_bytes(PUB)


def _upload(admin: TestClient, data: bytes) -> str:
    r = admin.post("/api/v1/updates", files={"file": ("p.tar", data, "application/x-tar")})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_version_at_the_bottom_left_of_every_page(admin: TestClient) -> None:
    for path in PAGES:
        html = admin.get(path).text
        m = re.search(
            r'<p class="nav-version" data-testid="version-footer">([^<]*)<span>([^<]+)</span>', html
        )
        assert m and m.group(2) == otwatch.__version__, path
        assert html.index("nav-version") > html.index('<nav class="sidenav"'), path  # in the side menu


def test_apply_refusals(
    admin: TestClient, ctx: ConsoleContext, keys: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert admin.get("/api/v1/updates/console").json() == {
        "running_version": otwatch.__version__,
        "update": None,
    }
    good = _upload(admin, console_pkg("0.2.0", "0.1.0", []))
    far = _upload(admin, console_pkg("0.5.0", "0.4.0", []))  # upgrades from 0.4.0 only

    def apply(package_id: str) -> tuple[int, str]:
        r = admin.post("/api/v1/updates/console/apply", json={"package_id": package_id})
        return r.status_code, r.json()["error"]["message"] if r.status_code >= 400 else ""

    # the embedded console (TestClient, demo) has no command line to start again
    code, message = apply(good)
    assert code == 409 and "not started with `otwatch console run`" in message
    admin.app.state.restart_command = [sys.executable, "-m", "otwatch", "console", "run"]  # type: ignore[attr-defined]
    try:
        assert apply(far)[0] == 409 and "upgrades from 0.4.0 or later" in apply(far)[1]
        assert apply("nope")[0] == 404
        assert handover.current(ctx.settings) is None  # nothing was started
        monkeypatch.setenv("INVOCATION_ID", "0123")  # under systemd without a supervisor unit: refused
        code, message = apply(good)
        assert code == 409 and "systemd service" in message and "otwatch console update" in message
        # with one, but the service manager refuses to start it (no polkit rule): said, nothing runs
        denied = tmp_path / "bin"
        denied.mkdir()
        (denied / "systemctl").write_text('#!/bin/sh\necho "Access denied" >&2\nexit 4\n')
        (denied / "systemctl").chmod(0o755)
        monkeypatch.setenv("PATH", f"{denied}:{os.environ['PATH']}")
        monkeypatch.setenv("OTWATCH_CONSOLE_UNIT", "otwatch-console@8443.service")
        monkeypatch.setenv("OTWATCH_UPDATE_UNIT", "otwatch-console-update@8443.service")
        code, message = apply(good)
        assert code == 409
        assert message == "systemctl could not start otwatch-console-update@8443.service: Access denied"
        u = admin.get("/api/v1/updates/console").json()["update"]
        assert u["state"] == "failed" and u["reason"] == message
    finally:
        del admin.app.state.restart_command  # type: ignore[attr-defined]

    ro = _as(admin, "vera", "Read Only")
    assert ro.post("/api/v1/updates/console/apply", json={"package_id": good}).status_code == 403
    assert ro.get("/api/v1/updates/console").status_code == 200
    assert "data-apply=" not in ro.get("/settings/updates").text  # no Apply button for a Read Only user


def test_apply_button_only_for_applicable_versions(admin: TestClient, keys: None) -> None:
    good = _upload(admin, console_pkg("0.2.0", "0.1.0", []))
    far = _upload(admin, console_pkg("0.5.0", "0.4.0", []))
    html = admin.get("/settings/updates").text
    assert f'data-apply="{good}"' in html and f'data-apply="{far}"' not in html
    assert '<dialog id="apply-dialog"' in html and 'data-testid="console-update-steps"' in html


def test_status_kept_on_disk_and_a_dead_supervisor_is_reported(
    admin: TestClient, ctx: ConsoleContext
) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    d = handover.folder(ctx.settings)
    d.mkdir(parents=True)
    st = handover.Status(d)
    st.data = {
        "id": "u1", "state": "running", "package": "management-secured-patcher-0.2.0.tar",
        "from_version": "0.1.0", "to_version": "0.2.0", "requested_by": "admin",
        "started_at": "2026-01-01T00:00:00+00:00", "finished_at": None, "reason": None,
        "steps": [{"key": k, "label": label, "state": "pending", "detail": None} for k, label in handover.STEPS],
        "supervisor_pid": gone.pid,
    }  # fmt: skip
    st.step("verify", "done", "signed")
    st.step("install", "running")
    u = admin.get("/api/v1/updates/console").json()["update"]
    assert u["state"] == "failed" and "supervisor stopped without finishing" in u["reason"]
    assert [s["state"] for s in u["steps"][:3]] == ["done", "running", "pending"] and u["percent"] == 12

    st.data["supervisor_pid"] = None  # the page renders what is on disk, and polls while it runs
    st.save()
    html = admin.get("/settings/updates").text
    assert 'data-state="running"' in html and "Unpack and check the new version: running" in html
    assert 'value="12"' in html
    st.finish("rolled_back", "health check of 0.2.0 failed: boom")
    u = admin.get("/api/v1/updates/console").json()["update"]
    assert u["percent"] == 100 and u["finished_at"] and u["reason"] == "health check of 0.2.0 failed: boom"
    assert [s["state"] for s in u["steps"][1:3]] == ["failed", "skipped"]
    assert "Failed and rolled back: health check of 0.2.0 failed: boom" in admin.get("/settings/updates").text
    with pytest.raises(handover.HandoverError):  # a second update is refused while one runs
        st.data["state"] = "running"
        st.data["supervisor_pid"] = None
        st.save()
        handover.start(ctx.settings, d / "x.tar", "x.tar", "0.2.0", "admin", ["true"])


POLKIT_HARNESS = """
const fs = require("fs");
let rule = null;
const polkit = { Result: { YES: "yes", NOT_HANDLED: "not_handled" }, addRule: (f) => { rule = f; } };
eval(fs.readFileSync(process.argv[2], "utf8"));
const cases = JSON.parse(process.argv[3]);
console.log(JSON.stringify(cases.map(([id, user, unit, verb]) =>
  rule({ id: id, lookup: (k) => ({ unit: unit, verb: verb })[k] }, { user: user }))));
"""


def test_polkit_rule_allows_only_the_consoles_own_units(tmp_path: Path) -> None:
    """The rule shipped for systemd deployments, evaluated by a JavaScript engine (polkit's rules
    are JavaScript): the console's user may start its supervisor and stop/start its own units only."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    rule = Path(__file__).resolve().parents[2] / "docs/deploy/polkit/50-otwatch-console-update.rules"
    harness = tmp_path / "harness.js"
    harness.write_text(POLKIT_HARNESS)
    manage = "org.freedesktop.systemd1.manage-units"
    cases = [
        (manage, "otwatch", "otwatch-console-update@8441.service", "start"),
        (manage, "otwatch", "otwatch-console@8441.service", "stop"),
        (manage, "otwatch", "otwatch-console@8441.service", "start"),
        (manage, "otwatch", "otwatch-console@8441.service", "reset-failed"),
        (manage, "otwatch", "otwatch-console-update@8441.service", "stop"),
        (manage, "otwatch", "ssh.service", "stop"),
        (manage, "otwatch", "", ""),  # StartTransientUnit carries no unit: never allowed
        (manage, "nobody", "otwatch-console@8441.service", "stop"),
        ("org.freedesktop.systemd1.manage-unit-files", "otwatch", "otwatch-console@8441.service", "enable"),
    ]
    r = subprocess.run(
        [node, str(harness), str(rule), json.dumps(cases)], capture_output=True, text=True, check=True
    )
    assert json.loads(r.stdout) == ["yes"] * 4 + ["not_handled"] * 5


def test_the_audit_hook_runs_before_the_final_state_is_written(tmp_path: Path) -> None:
    """Whoever follows the status to its final state must find the audit entry already written (the
    e2e test once read the audit log between the two and missed the last console.update_failed)."""
    st = handover.Status(tmp_path)
    st.data = {"state": "running", "steps": [{"key": "health", "state": "running", "detail": None}]}
    st.save()
    seen_on_disk: list[str] = []

    def hook(data: dict[str, object]) -> None:
        seen_on_disk.append(json.loads(st.file.read_text())["state"])
        assert data["state"] == "rolled_back"  # the hook is told the final state

    st.before_final = hook
    st.finish("rolled_back", "broken build")
    assert seen_on_disk == ["running"]  # the hook ran while the file still said running
    assert json.loads(st.file.read_text())["state"] == "rolled_back"
