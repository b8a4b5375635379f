"""Console version update from the Updates page, with real processes: a console started with
``python -m otwatch console run`` hands over to the update supervisor, which stops it, backs up,
migrates, starts the new version and checks its health; a version that fails its health check
before or after the restart is rolled back and the previous version answers again, data intact."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import closing, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, inspect, text

from otwatch.console.handover import alive
from tests.console.test_updates_selfupdate import BROKEN_APP, console_pkg
from tests.faults.procs import ConsoleProc
from tests.sensor.node.test_versions import PUB

pytestmark = [pytest.mark.network, pytest.mark.timeout(600)]

#: a version whose web app works in the offline check but whose server exits at start: the failure
#: is only seen after the restart, by the health check of the started console
EXITS_AT_START = """

def _exit_at_start(self, sockets=None):
    raise SystemExit("broken build: the server does not start")


ConsoleServer.run = _exit_at_start  # type: ignore[method-assign]
"""


@pytest.fixture
def console(tmp_path: Path) -> Iterator[ConsoleProc]:
    data = tmp_path / "console"
    (data / "release-keys").mkdir(parents=True)
    (data / "release-keys" / "release.pub").write_bytes(PUB)
    proc = ConsoleProc(data, background_workers="false")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
        _stop_started(data)


def _stop_started(data: Path) -> None:
    """The supervisor and the console it started, if still running: stopped by their pid."""
    status = data / "console-update" / "status.json"
    if not status.exists():
        return
    found = json.loads(status.read_text())
    for key in ("supervisor_pid", "new_console_pid"):
        pid = found.get(key)
        if isinstance(pid, int) and alive(pid):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            end = time.monotonic() + 15
            while alive(pid) and time.monotonic() < end:
                time.sleep(0.1)


def _upload(console: ConsoleProc, data: bytes, name: str) -> str:
    with closing(console.admin()) as admin:
        r = admin.post("/api/v1/updates", files={"file": (name, data, "application/x-tar")})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


def _follow(console: ConsoleProc, update_id: str, timeout: float = 300) -> tuple[dict[str, Any], int]:
    """Poll as the page does until the update is over; also counts the polls the console missed."""
    end = time.monotonic() + timeout
    missed = 0
    while time.monotonic() < end:
        try:
            with closing(console.admin()) as admin:
                r = admin.get("/api/v1/updates/console")
            if r.status_code == 200:
                body: dict[str, Any] = r.json()
                u = body["update"]
                if u is not None and u["id"] == update_id and u["state"] != "running":
                    return body, missed
        except (httpx.HTTPError, OSError):
            missed += 1  # stopped or starting: the page says "reconnecting"
        time.sleep(0.5)
    raise AssertionError(f"update not finished in {timeout} s:\n{console.tail()}")


def _apply(console: ConsoleProc, package_id: str) -> dict[str, Any]:
    with closing(console.admin()) as admin:
        r = admin.post("/api/v1/updates/console/apply", json={"package_id": package_id})
    assert r.status_code == 202, r.text
    update: dict[str, Any] = r.json()["update"]
    assert update["state"] == "running" and update["steps"][0]["key"] == "verify"
    return update


def _health(console: ConsoleProc) -> str:
    r = httpx.get(f"{console.url}/api/v1/health", verify=console.verify(), timeout=10)
    return str(r.json()["version"])


def _db(console: ConsoleProc, url: str | None = None) -> tuple[list[str], set[str], list[tuple[str, str]]]:
    engine = create_engine(url or f"sqlite:///{console.data_dir / 'otwatch.db'}")
    try:
        with engine.connect() as c:
            nets = [r[0] for r in c.execute(text("SELECT cidr FROM monitored_networks"))]
            probes = {t for t in inspect(c).get_table_names() if t.startswith("selfupdate_probe")}
            audit = [
                (r[0], r[1])
                for r in c.execute(
                    text(
                        "SELECT actor, action FROM audit_log WHERE action LIKE 'console.update%' ORDER BY at"
                    )
                )
            ]
    finally:
        engine.dispose()
    return nets, probes, audit


def test_apply_from_the_page_then_two_rollbacks(console: ConsoleProc) -> None:
    with closing(console.admin()) as admin:
        assert admin.post("/api/v1/networks", json={"cidr": "10.1.0.0/16"}).status_code == 201
        assert admin.get("/api/v1/updates/console").json() == {"running_version": "0.1.0", "update": None}
    first_pid = console.pid

    good = _upload(console, console_pkg("0.2.0", "0.1.0", ["0901"]), "management-secured-patcher-0.2.0.tar")
    started = time.monotonic()
    update = _apply(console, good)
    body, missed = _follow(console, update["id"])
    took = time.monotonic() - started
    u = body["update"]
    assert u["state"] == "succeeded", u
    assert body["running_version"] == "0.2.0" and _health(console) == "0.2.0"
    assert [s["state"] for s in u["steps"]] == ["done"] * 8 and u["percent"] == 100
    assert missed > 0  # the console really was down in between
    assert not alive(first_pid)
    nets, probes, audit = _db(console)
    assert nets == ["10.1.0.0/16"] and probes == {"selfupdate_probe_0901"}
    assert ("admin", "console.update_started") in audit
    print(f"\nconsole update 0.1.0 -> 0.2.0 applied in {took:.1f} s ({missed} polls missed)")

    with closing(console.admin()) as admin:  # a busy supervisor refuses a second Apply
        assert admin.post("/api/v1/updates/console/apply", json={"package_id": good}).status_code == 409

    # a version whose web app fails: seen by the check before the restart, rolled back
    broken = _upload(
        console,
        console_pkg("0.3.0", "0.2.0", ["0901", "0902"], BROKEN_APP),
        "management-secured-patcher-0.3.0.tar",
    )
    update = _apply(console, broken)
    body, _ = _follow(console, update["id"])
    u = body["update"]
    assert u["state"] == "rolled_back", u
    steps = {s["key"]: s for s in u["steps"]}
    assert steps["migrate"]["state"] == "done" and steps["check"]["state"] == "failed"
    assert "broken build: the web app does not start" in u["reason"]
    assert steps["start"]["state"] == "skipped" and steps["rollback"]["state"] == "done"
    assert body["running_version"] == "0.2.0" and _health(console) == "0.2.0"
    nets, probes, _ = _db(console)
    assert nets == ["10.1.0.0/16"] and probes == {"selfupdate_probe_0901"}  # 0902 went with the restore
    assert not (console.data_dir / "console-versions" / "0.3.0").exists()

    # a version that passes the offline check but does not start: seen after the restart
    late = _upload(
        console,
        console_pkg("0.3.1", "0.2.0", ["0901", "0903"], server_extra=EXITS_AT_START),
        "management-secured-patcher-0.3.1.tar",
    )
    update = _apply(console, late)
    body, _ = _follow(console, update["id"])
    u = body["update"]
    assert u["state"] == "rolled_back", u
    steps = {s["key"]: s for s in u["steps"]}
    assert steps["start"]["state"] == "done" and steps["health"]["state"] == "failed"
    assert "broken build: the server does not start" in u["reason"]
    assert body["running_version"] == "0.2.0" and _health(console) == "0.2.0"
    nets, probes, audit = _db(console)
    assert nets == ["10.1.0.0/16"] and probes == {"selfupdate_probe_0901"}
    started, updated, failed = "console.update_started", "console.updated", "console.update_failed"
    assert audit == [("admin", a) for a in (started, updated, started, failed, started, failed)]
    versions = console.data_dir / "console-current"
    assert os.readlink(versions).endswith("0.2.0")


#: A stand-in for systemctl (there is no systemd in the test machine): each unit is a process with a
#: pid file, started detached the way systemd would, so the supervisor's service path runs for real
#: against real console processes; only the service manager is simulated.
FAKE_SYSTEMCTL = r"""#!/bin/sh
echo "$*" >> "$FAKE/calls.log"
gone() { [ ! -e "/proc/$1" ] || [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" = Z ]; }
case "$1" in
  start)
    if [ "$2" = "--no-block" ]; then
      setsid "$FAKE_PY" -m otwatch console supervise-update --data-dir "$FAKE_DATA" \
        >>"$FAKE/supervisor.log" 2>&1 </dev/null &
      echo $! > "$FAKE/supervisor.pid"
    else
      setsid "$FAKE_PY" -m otwatch console run --data-dir "$FAKE_DATA" --host 127.0.0.1 --port "$FAKE_PORT" \
        >>"$FAKE/console.log" 2>&1 </dev/null &
      echo $! > "$FAKE/console.pid"
    fi ;;
  stop)
    pid=$(cat "$FAKE/console.pid")
    kill -INT "$pid" 2>/dev/null
    while ! gone "$pid"; do sleep 0.1; done ;;
  show) echo active ;;
  is-active) echo active ;;
esac
"""


def test_apply_under_a_service_manager(tmp_path: Path) -> None:
    """Under systemd the supervisor runs in a unit of its own (started with systemctl, so stopping
    the console's unit does not end it) and stops and starts the console's unit with systemctl."""
    fake = tmp_path / "fake-systemd"
    fake.mkdir()
    (fake / "systemctl").write_text(FAKE_SYSTEMCTL)
    (fake / "systemctl").chmod(0o755)
    data = tmp_path / "console"
    (data / "release-keys").mkdir(parents=True)
    (data / "release-keys" / "release.pub").write_bytes(PUB)
    console = ConsoleProc(data, background_workers="false")
    unit, update_unit = (
        f"otwatch-console@{console.port}.service",
        f"otwatch-console-update@{console.port}.service",
    )
    console.env.update(
        PATH=f"{fake}:{os.environ['PATH']}", INVOCATION_ID="0f" * 16, FAKE=str(fake), FAKE_PY=sys.executable,
        FAKE_DATA=str(data), FAKE_PORT=str(console.port), OTWATCH_CONSOLE_UNIT=unit,
        OTWATCH_UPDATE_UNIT=update_unit,
    )  # fmt: skip
    console.start()
    (fake / "console.pid").write_text(str(console.pid))
    try:
        good = _upload(
            console, console_pkg("0.2.0", "0.1.0", ["0901"]), "management-secured-patcher-0.2.0.tar"
        )
        update = _apply(console, good)
        body, missed = _follow(console, update["id"])
        u = body["update"]
        assert u["state"] == "succeeded", (u, (fake / "supervisor.log").read_text()[-2000:])
        assert body["running_version"] == "0.2.0" and _health(console) == "0.2.0" and missed > 0
        calls = (fake / "calls.log").read_text().splitlines()
        assert calls[:4] == [
            f"start --no-block {update_unit}", f"stop {unit}", f"reset-failed {unit}", f"start {unit}"
        ]  # fmt: skip
        assert set(calls[4:]) <= {f"show --property=ActiveState --value {unit}"}  # watched while it starts
        steps = {s["key"]: s["detail"] for s in u["steps"]}
        assert steps["stop"] == f"{unit} stopped" and steps["start"] == f"{unit} started with 0.2.0"
        assert not alive(console.pid)
    finally:
        console.stop()
        for name in ("supervisor.pid", "console.pid"):
            with suppress(OSError, ValueError, ProcessLookupError):
                pid = int((fake / name).read_text())
                if alive(pid):
                    os.kill(pid, signal.SIGTERM)
                    end = time.monotonic() + 15
                    while alive(pid) and time.monotonic() < end:
                        time.sleep(0.1)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_update_then_rollback_after_the_restart(db_url: str, tmp_path: Path) -> None:
    """PostgreSQL: pg_dump before the migrations, pg_restore when the started version fails."""
    data = tmp_path / "console"
    (data / "release-keys").mkdir(parents=True)
    (data / "release-keys" / "release.pub").write_bytes(PUB)
    console = ConsoleProc(data, db_url=db_url, background_workers="false").start()
    try:
        with closing(console.admin()) as admin:
            assert admin.post("/api/v1/networks", json={"cidr": "10.1.0.0/16"}).status_code == 201
        good = _upload(
            console, console_pkg("0.2.0", "0.1.0", ["0901"]), "management-secured-patcher-0.2.0.tar"
        )
        body, _ = _follow(console, _apply(console, good)["id"])
        assert body["update"]["state"] == "succeeded", body
        assert body["update"]["steps"][3]["detail"].endswith("-0.1.0.pgdump")
        late = _upload(
            console,
            console_pkg("0.3.1", "0.2.0", ["0901", "0903"], server_extra=EXITS_AT_START),
            "management-secured-patcher-0.3.1.tar",
        )
        body, _ = _follow(console, _apply(console, late)["id"])
        u = body["update"]
        assert u["state"] == "rolled_back" and "the server does not start" in u["reason"], u
        assert _health(console) == "0.2.0"
        nets, probes, _ = _db(console, db_url)
        assert nets == ["10.1.0.0/16"] and probes == {"selfupdate_probe_0901"}  # 0903 went with the restore
    finally:
        console.stop()
        _stop_started(data)
