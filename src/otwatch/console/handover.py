"""Applying a console version from the Updates page: the console hands over to a supervisor process.

A console cannot replace its own code and database schema while it serves, so "Apply" writes the
request and starts ``otwatch console supervise-update`` in a session of its own (it outlives the
console it stops). The supervisor, step by step:

    verify   the package's signature against the pinned release keys, and that it is an upgrade
    install  unpack it into console-versions/<v> and import-check its code (the console still serves)
    stop     SIGTERM to the console (it ends its long-polls first), SIGKILL after STOP_GRACE seconds
    backup   the database (SQLite: the backup API; PostgreSQL: pg_dump) — selfupdate.ConsoleVersions
    migrate  the new version's migrations, run with its own code
    check    the new code opens the database at its head revision and answers /api/v1/health
    start    console-current -> the new version; the console's own command line started again
    health   the started console answers https://host:port/api/v1/health with the new version

Any failure after ``stop`` restores the backup and the version pointers and starts the previous
version again (a ``rollback`` step), whose health is checked the same way. Every step is written to
``console-update/status.json`` in the data directory (on disk, so the page that started the update
finds it again from the restarted console). Only a console started with ``otwatch console run``
can hand over: its command line is what the supervisor starts again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from otwatch.console.config import Settings
from otwatch.console.selfupdate import ConsoleVersions, UpdateError

STEPS: tuple[tuple[str, str], ...] = (
    ("verify", "Verify the package signature"),
    ("install", "Unpack and check the new version"),
    ("stop", "Stop the console"),
    ("backup", "Back up the database"),
    ("migrate", "Migrate the database"),
    ("check", "Check the new version"),
    ("start", "Start the new version"),
    ("health", "Health check of the new version"),
)
ROLLBACK = ("rollback", "Roll back to the previous version")
FINAL = ("succeeded", "failed", "rolled_back")
STOP_GRACE = 30.0  # seconds the console has to stop after SIGTERM before SIGKILL
HEALTH_TIMEOUT = 120.0  # seconds a started console has to answer its health check


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def folder(settings: Settings) -> Path:
    return settings.data_dir / "console-update"


class HandoverError(RuntimeError):
    """Apply refused before anything was started (the message says why)."""


# ---------------------------------------------------------------- status on disk


class Status:
    """status.json: written by the console (the request) and the supervisor (each step), read by
    the page through the console; replaced atomically so a reader never sees half a file."""

    def __init__(self, directory: Path) -> None:
        self.file = directory / "status.json"
        self.data: dict[str, Any] = {}
        #: run with the final data just before it is written: whoever sees the final state (the page,
        #: a script following it) then also finds what this hook recorded (the audit entry)
        self.before_final: Callable[[dict[str, Any]], None] | None = None

    @classmethod
    def load(cls, directory: Path) -> Status | None:
        s = cls(directory)
        try:
            s.data = json.loads(s.file.read_text())
        except (OSError, ValueError):
            return None
        return s

    def save(self) -> None:
        tmp = self.file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.data, f, indent=1)
        tmp.replace(self.file)

    def step(self, key: str, state: str, detail: str | None = None) -> None:
        for s in self.data["steps"]:
            if s["key"] == key:
                s["state"] = state
                if detail is not None:
                    s["detail"] = detail
        self.save()

    def finish(self, state: str, reason: str | None = None) -> None:
        for s in self.data["steps"]:
            if s["state"] in ("pending", "running"):
                s["state"] = "skipped" if s["state"] == "pending" else "failed"
        self.data.update(state=state, reason=reason, finished_at=_now())
        if self.before_final is not None:
            self.before_final(self.data)
        self.save()

    def _quiet(self, seconds: float = 15.0) -> bool:
        """Nothing written for a while (only then is systemd asked whether the supervisor lives)."""
        try:
            return time.time() - self.file.stat().st_mtime > seconds
        except OSError:
            return False

    def view(self) -> dict[str, Any]:
        """What the page shows: the steps, a percentage, and whether the supervisor still lives."""
        data = dict(self.data)
        steps = data.get("steps", [])
        done = sum(1 for s in steps if s["state"] in ("done", "skipped"))
        data["percent"] = 100 if data.get("state") in FINAL else int(100 * done / max(1, len(steps)))
        pid = data.get("supervisor_pid")
        unit = data.get("supervisor_unit")
        gone = isinstance(pid, int) and pid > 0 and not alive(pid)
        if isinstance(unit, str) and unit and data.get("state") == "running" and self._quiet():
            gone = systemctl("is-active", unit).stdout.strip() not in ("active", "activating")
        if data.get("state") == "running" and gone:
            data["state"] = "failed"
            data["reason"] = (
                "the update supervisor stopped without finishing (see console-update/supervisor.log "
                f"in the data directory{f', or journalctl -u {unit}' if unit else ''})"
            )
        return data


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (a stopped console its parent has not reaped yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def current(settings: Settings) -> dict[str, Any] | None:
    s = Status.load(folder(settings))
    return s.view() if s else None


# ---------------------------------------------------------------- consoles sharing the data directory


class Presence:
    """A shared lock on ``consoles.lock`` in the data directory that every serving console holds.

    Why: Apply stops and restarts only the process that received it; another console on the same
    data directory (the systemd layout runs several) would serve the old code on a migrated database
    and see a rollback restore the backup under it. Apply asks :meth:`others_present` and refuses."""

    def __init__(self, settings: Settings) -> None:
        self.path = settings.data_dir / "consoles.lock"
        self.fd: int | None = None

    def hold(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_SH)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # ends the lock
            self.fd = None

    def others_present(self) -> bool:
        """Another process holds the lock: try to make ours exclusive, then share it again."""
        if self.fd is None:
            self.hold()
        assert self.fd is not None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_SH)  # a failed conversion may have dropped ours
        return False


# ---------------------------------------------------------------- the console's side: Apply


def service_units() -> tuple[str, str] | None:
    """Under systemd: (this console's unit, the update supervisor's unit), else None.

    The console's unit is read from /proc/self/cgroup (``OTWATCH_CONSOLE_UNIT`` overrides it); the
    supervisor's is ``OTWATCH_UPDATE_UNIT``, set in the console's unit file
    (docs/deploy/systemd/otwatch-console@.service)."""
    if not os.environ.get("INVOCATION_ID"):
        return None
    unit = os.environ.get("OTWATCH_CONSOLE_UNIT", "")
    if not unit:
        try:
            lines = Path("/proc/self/cgroup").read_text().splitlines()
        except OSError:
            lines = []
        for line in lines:
            last = line.rsplit("/", 1)[-1]
            if last.endswith(".service"):
                unit = last
    return (unit, os.environ.get("OTWATCH_UPDATE_UNIT", ""))


def unsupported() -> str | None:
    """Why this console cannot hand over, or None. Under systemd, stopping the console's unit ends
    every process in it, so the supervisor must run in a unit of its own, started by systemctl."""
    units = service_units()
    if units is not None and not (units[0] and units[1]):
        return (
            "this console runs as a systemd service without an update supervisor unit "
            "(OTWATCH_UPDATE_UNIT, docs/deployment.md, Console updates): stop the service, run "
            "`otwatch console update` with the package, start the service"
        )
    return None


def systemctl(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=180, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(["systemctl", *args], 127, "", str(exc))


def start(
    settings: Settings,
    package_file: Path,
    file_name: str,
    to_version: str,
    actor: str,
    restart: list[str],
) -> dict[str, Any]:
    """Write the request and start the supervisor in a session of its own; the first status."""
    d = folder(settings)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(d, 0o700)
    with open(d / "apply.lock", "a") as lock:  # two Apply at once: one starts, the other is refused
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise HandoverError("a console update is being started") from None
        return _start_locked(settings, d, package_file, file_name, to_version, actor, restart)


def _start_locked(
    settings: Settings,
    d: Path,
    package_file: Path,
    file_name: str,
    to_version: str,
    actor: str,
    restart: list[str],
) -> dict[str, Any]:
    running = current(settings)
    if running is not None and running.get("state") == "running":
        raise HandoverError(f"a console update to {running.get('to_version')} is already in progress")
    versions = ConsoleVersions(settings)
    status = Status(d)
    status.data = {
        "id": uuid.uuid4().hex,
        "state": "running",
        "package": file_name,
        "from_version": versions.installed_version(),
        "to_version": to_version,
        "requested_by": actor,
        "started_at": _now(),
        "finished_at": None,
        "reason": None,
        "steps": [{"key": k, "label": label, "state": "pending", "detail": None} for k, label in STEPS],
        "console_pid": os.getpid(),
        "supervisor_pid": None,
        "new_console_pid": None,
    }
    request = {
        "id": status.data["id"],
        "package_file": str(package_file),
        "actor": actor,
        "console_pid": os.getpid(),
        "restart": restart,
        "cwd": os.getcwd(),
        "host": settings.host,
        "port": settings.port,
    }
    units = service_units()
    if units is not None:
        request["service"] = units[0]
        status.data["supervisor_unit"] = units[1]
    fd = os.open(d / "request.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(request, f)
    status.save()
    if units is not None:  # the supervisor's own unit: stopping the console's does not end it
        r = systemctl("start", "--no-block", units[1])
        if r.returncode != 0:
            reason = f"systemctl could not start {units[1]}: {(r.stderr or r.stdout).strip()[-300:]}"
            status.finish("failed", reason)
            raise HandoverError(reason)
        return status.view()
    with open(d / "supervisor.log", "ab") as log:
        proc = subprocess.Popen(
            supervisor_argv(settings),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # no signal for the console's process group reaches it
            env=_clean_env(versions),
        )
    status.data["supervisor_pid"] = proc.pid
    status.save()
    return status.view()


def supervisor_argv(settings: Settings) -> list[str]:
    """``otwatch console supervise-update``; ``-P``: nothing is imported from the working directory
    (the console's, which may be anyone's: /tmp, a shared folder)."""
    return [
        sys.executable,
        "-P",
        "-m",
        "otwatch",
        "console",
        "supervise-update",
        "--data-dir",
        str(settings.data_dir),
    ]


def _clean_env(versions: ConsoleVersions) -> dict[str, str]:
    """The console's environment without the PYTHONPATH entries of installed versions: a started
    ``otwatch console run`` puts console-current/lib first itself."""
    env = dict(os.environ)
    root = str(versions.root.resolve())
    kept = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and not p.startswith(root)]
    if kept:
        env["PYTHONPATH"] = os.pathsep.join(kept)
    else:
        env.pop("PYTHONPATH", None)
    return env


# ---------------------------------------------------------------- the supervisor


class Supervisor:
    """One handover, from the request the console wrote to a console answering again."""

    def __init__(self, settings: Settings, say: Callable[[str], None] = print) -> None:
        self.settings = settings
        self.dir = folder(settings)
        self.request: dict[str, Any] = json.loads((self.dir / "request.json").read_text())
        loaded = Status.load(self.dir)
        if loaded is None or loaded.data.get("id") != self.request["id"]:
            raise UpdateError("status.json does not belong to this request")
        self.status = loaded
        self.versions = ConsoleVersions(settings)
        self.say = say
        self.started: subprocess.Popen[bytes] | None = None
        self.running_pid: int | None = int(self.request["console_pid"])  # process mode: what to stop

    # ---- process control
    @property
    def service(self) -> str | None:
        """The console's systemd unit, when it runs as one (then systemctl stops and starts it)."""
        unit = self.request.get("service")
        return str(unit) if unit else None

    def _stop_console(self) -> None:
        """Stop whichever console runs now: the one that asked, else the one started here."""
        if self.service is not None:
            r = systemctl("stop", self.service)
            if r.returncode != 0:
                raise UpdateError(
                    f"systemctl stop {self.service} failed: {(r.stderr or r.stdout).strip()[-300:]}"
                )
        elif self.running_pid is not None:  # never signalled twice: the number may be reused
            self._stop(self.running_pid)
            self.running_pid = None
        if not _wait(lambda: _port_free(self.request["host"], self.request["port"]), 15.0):
            raise UpdateError(f"port {self.request['port']} is still in use after the console stopped")

    def _stop(self, pid: int) -> None:
        """SIGTERM (a graceful stop), SIGKILL past STOP_GRACE."""
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        if not _wait(lambda: not alive(pid), STOP_GRACE):
            self.say(f"console {pid} still running after {STOP_GRACE:.0f} s: SIGKILL")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _wait(lambda: not alive(pid), 10.0)

    def _start(self) -> str:
        """The console's own command line (or its unit) again; console-current says which code runs."""
        if self.service is not None:
            systemctl("reset-failed", self.service)  # a crash-looping new version hit the start limit
            r = systemctl("start", self.service)
            if r.returncode != 0:
                raise UpdateError(
                    f"systemctl start {self.service} failed: {(r.stderr or r.stdout).strip()[-300:]}"
                )
            return f"{self.service} started"
        with open(self.dir / "console.log", "ab") as log:
            self.started = subprocess.Popen(
                self.request["restart"],
                cwd=self.request["cwd"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=_clean_env(self.versions),
            )
        self.running_pid = self.started.pid
        self.status.data["new_console_pid"] = self.started.pid
        self.status.save()
        return f"console process {self.started.pid} started"

    def _exited(self) -> str | None:
        """Why the started console is no longer running, while the health check waits for it."""
        if self.service is not None:
            state = systemctl("show", "--property=ActiveState", "--value", self.service).stdout.strip()
            return (
                f"the service {self.service} is {state} (journalctl -u {self.service})"
                if state == "failed"
                else None
            )
        if self.started is not None and self.started.poll() is not None:
            tail = _tail(self.dir / "console.log")
            return f"the console exited with code {self.started.returncode}: {tail}"
        return None

    def _health(self, version: str) -> str | None:
        """None once the started console answers with ``version``; else why not."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.request["host"], self.request["host"])
        host = f"[{host}]" if ":" in host else host
        url = f"https://{host}:{self.request['port']}/api/v1/health"
        tls = ssl.create_default_context(cafile=str(self.settings.data_dir / "pki" / "ca.crt"))
        tls.check_hostname = False  # the console's own CA; the name is whatever it listens on
        last = "no answer"
        end = time.monotonic() + HEALTH_TIMEOUT
        while time.monotonic() < end:
            exited = self._exited()
            if exited is not None:
                return exited
            try:
                r = httpx.get(url, verify=tls, timeout=5)
                got = r.json().get("version") if r.status_code == 200 else None
                if got == version:
                    return None
                last = f"{url} answered {r.status_code}, version {got}"
            except (httpx.HTTPError, ssl.SSLError, OSError, ValueError) as exc:
                last = f"{url}: {exc.__class__.__name__}"
            time.sleep(0.5)
        return f"no healthy answer within {HEALTH_TIMEOUT:.0f} s ({last})"

    # ---- the steps
    def run(self) -> str:
        st = self.status
        from_version = st.data["from_version"]

        def fail(key: str, reason: str) -> str:
            st.step(key, "failed", reason)
            st.finish("failed", reason)
            return "failed"

        st.step("verify", "running")
        try:
            pkg = self.versions.verify(Path(self.request["package_file"]).read_bytes(), from_version)
        except (UpdateError, OSError) as exc:
            return fail("verify", str(exc))
        version = pkg.manifest.version
        st.step("verify", "done", f"{pkg.manifest.file_name}, signed by key {pkg.key_id}")
        st.step("install", "running")
        try:
            target = self.versions.unpack(pkg)
        except UpdateError as exc:
            return fail("install", str(exc))
        st.step("install", "done", f"unpacked to {target}")
        st.step("stop", "running")
        try:
            self._stop_console()
        except UpdateError as exc:
            return self._abort("stop", str(exc), target)
        st.step(
            "stop", "done", f"{self.service or 'console process ' + str(self.request['console_pid'])} stopped"
        )
        st.step("backup", "running")
        try:
            backup = self.versions.backup_or_discard(from_version, target)
        except UpdateError as exc:
            return self._abort("backup", str(exc), None)
        st.data["backup"] = str(backup)
        st.step("backup", "done", str(backup))
        pointers = self.versions.pointers()
        for key, work in (("migrate", self.versions.migrate), ("check", self.versions.check)):
            st.step(key, "running")
            failure = work(version)
            if failure is not None:
                return self._rollback(key, failure, version, backup, pointers)
            st.step(key, "done")
        st.step("start", "running")
        self.versions.switch(version)
        try:
            started = self._start()
        except UpdateError as exc:
            return self._rollback("start", str(exc), version, backup, pointers)
        st.step("start", "done", f"{started} with {version}")
        st.step("health", "running")
        failure = self._health(version)
        if failure is not None:
            return self._rollback("health", failure, version, backup, pointers)
        st.step("health", "done", f"{version} answers /api/v1/health")
        st.finish("succeeded")
        return "succeeded"

    def _abort(self, key: str, reason: str, target: Path | None) -> str:
        """Nothing was changed: the unpacked version goes, the same console starts again."""
        if target is not None:
            shutil.rmtree(target, ignore_errors=True)
        self.status.step(key, "failed", reason)
        restarted = self._restart_previous(self.status.data["from_version"])
        self.status.finish("failed", reason if restarted is None else f"{reason}; {restarted}")
        return "failed"

    def _rollback(
        self, key: str, failure: str, version: str, backup: Path, pointers: tuple[str | None, str | None]
    ) -> str:
        st = self.status
        st.step(key, "failed", failure)
        st.data["steps"].append(
            {"key": ROLLBACK[0], "label": ROLLBACK[1], "state": "running", "detail": None}
        )
        st.save()
        try:
            self._stop_console()
            self.versions.undo(version, backup, pointers)
        except (OSError, UpdateError, sqlite3.Error) as exc:
            reason = f"{failure}; rolling back failed ({exc}): the console is stopped, the backup is {backup}"
            st.step(ROLLBACK[0], "failed", reason)
            st.finish("failed", reason)
            return "failed"
        previous = st.data["from_version"]
        problem = self._restart_previous(previous)
        if problem is not None:
            st.step(ROLLBACK[0], "failed", problem)
            st.finish("failed", f"{failure}; {problem}")
            return "failed"
        st.step(ROLLBACK[0], "done", f"database restored from {backup}; {previous} answers again")
        st.finish("rolled_back", failure)
        return "rolled_back"

    def _restart_previous(self, version: str) -> str | None:
        try:
            self._start()
        except UpdateError as exc:
            return f"the previous version {version} did not start again: {exc}"
        problem = self._health(version)
        return None if problem is None else f"the previous version {version} did not start again: {problem}"


def _wait(done: Callable[[], bool], seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if done():
            return True
        time.sleep(0.1)
    return done()


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _tail(path: Path, lines: int = 1) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no output"
    return " | ".join(text[-lines:]) if text else "no output"


def supervise(settings: Settings) -> str:
    """``otwatch console supervise-update``: run the handover the console asked for, and record it in
    the audit log after any restore (so the entry survives it) and before the final state is written
    (so whoever sees that state finds the entry); returns the final state."""
    from otwatch.console.audit import service as audit
    from otwatch.console.db import Database

    sup = Supervisor(settings)

    def record(data: dict[str, Any]) -> None:
        state = data["state"]
        action = "console.updated" if state == "succeeded" else "console.update_failed"
        db = Database(settings.resolved_database_url)
        try:
            with db.session() as s:
                audit.record(
                    s, sup.request["actor"], action, data.get("package"),
                    **{"from": data["from_version"], "to": data["to_version"], "state": state,
                       "reason": data.get("reason"), "via": "Updates page"},
                )  # fmt: skip
                s.commit()
        except Exception as exc:  # the final state must be written whatever the database says
            data["reason"] = f"{data.get('reason') or state}; not recorded in the audit log: {exc}"
        finally:
            db.dispose()

    sup.status.before_final = record
    try:
        return sup.run()
    except Exception as exc:  # the page must learn it; the console may be stopped, nothing guessed
        reason = (
            f"the update supervisor failed: {exc.__class__.__name__}: {exc} (console-update/supervisor.log)"
        )
        sup.status.finish("failed", reason)
        raise
