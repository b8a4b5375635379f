"""Sensor software versions side by side, switched by a pointer and rolled back by the supervisor.

Layout under the installation folder (INSTALLBASE)::

    state/                   pairing identity, outbox, pinned release keys (shared by every version)
    versions/<v>/            one installed version: the payload of sensor-secured-patcher-<v>.tar
        version.json         {"version": "<v>"}, must match the signed manifest
        lib/                 its Python code, built with ``pip install --target lib otwatch==<v>``
    current -> versions/<v>  symlink: the version the supervisor starts (absent: the pip-installed one)
    previous -> versions/<v> the version before the last switch (absent: the pip-installed one)
    update.json              a switch not yet confirmed healthy: command id, from, to, deadline
    update-result.json       the outcome of a rolled-back switch, for the console
    healthy.json             written by a running version once the console accepted its check-in
    logs/sensor.log          the running sensor's output (the source of the failure log)

``otwatch sensor supervise`` (what the service unit runs) starts ``otwatch sensor run`` with
``current/lib`` first on ``PYTHONPATH``. An update command verifies the package against the pinned
release keys, stages and pre-checks it, switches ``current`` and asks for a restart; the new version
confirms itself after its first accepted check-in. If it exits or stays unconfirmed past the time
limit, the supervisor points ``current`` back, keeps the log, and starts the previous version,
which reports the failed update (``rolled_back``) to the console.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from otwatch.wire import package
from otwatch.wire.client import ConsoleLink
from otwatch.wire.messages import CommandMessage
from otwatch.wire.runtime import NodeRuntime

log = logging.getLogger("otwatch.sensor.node.versions")

RESTART_EXIT = 75  # the sensor asks its supervisor to start the (new) current version
LOG_TAIL_BYTES = 64 * 1024  # of the failed version's output, sent up as the failure log
#: ``-P``: nothing is imported from the supervisor's working directory, which would come before the
#: installed code and the version's lib/ (finding 32, as finding 28 for the console's update).
RUN_COMMAND = (sys.executable, "-P", "-m", "otwatch", "sensor", "run")
STOP_GRACE = 15.0  # seconds a stopped sensor (and what it started) has after SIGTERM, before SIGKILL


class VersionError(RuntimeError):
    """An update that cannot be installed, with the reason in an operator's words."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class VersionStore:
    def __init__(self, install_base: Path) -> None:
        self.base = install_base
        self.versions = install_base / "versions"
        self.current = install_base / "current"
        self.previous = install_base / "previous"
        self.pending_file = install_base / "update.json"
        self.result_file = install_base / "update-result.json"
        self.healthy_file = install_base / "healthy.json"
        self.log_file = install_base / "logs" / "sensor.log"

    # ------------------------------------------------------------ pointers
    def _target(self, link: Path) -> str | None:
        return package.pointed_version(link)

    def _point(self, link: Path, version: str | None) -> None:
        package.repoint(link, Path("versions") / version if version else None)

    def current_version(self) -> str | None:
        """The staged version ``current`` points to (None: the pip-installed version runs)."""
        return self._target(self.current)

    def lib_path(self) -> Path | None:
        v = self.current_version()
        return self.versions / v / "lib" if v else None

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ, OTWATCH_SUPERVISED="1")
        lib = self.lib_path()
        if lib is not None:
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(lib), os.environ.get("PYTHONPATH")) if p)
        return env

    # ------------------------------------------------------------ install
    def stage(
        self,
        data: bytes,
        trusted: list[package.Ed25519PublicKey],
        running: str,
        progress: Callable[[int, str], None] | None = None,
    ) -> package.Manifest:
        """Verify (pinned keys), check the upgrade rule, unpack to versions/<v>, pre-check it.

        Nothing outside versions/<v> changes; a refused package leaves no staged directory.
        """
        try:
            pkg = package.verify(data, trusted)
            package.check_upgrade(pkg.manifest, "sensor", running)
            package.check_version_payload(pkg)
        except package.PackageError as exc:
            raise VersionError(f"package refused: {exc}") from exc
        version = pkg.manifest.version
        if progress:
            progress(40, "verified")
        if version in (self.current_version(), self._target(self.previous)):
            raise VersionError(f"version {version} is in use; refusing to overwrite it")
        try:
            package.install_version(pkg, self.versions, "otwatch.sensor.cli.service")
        except package.PackageError as exc:
            raise VersionError(str(exc)) from exc
        if progress:
            progress(60, "staged")
        return pkg.manifest

    def switch(self, command_id: str, running: str, version: str) -> None:
        """Make ``version`` current; until it confirms itself, the supervisor may roll it back."""
        pending = {
            "command_id": command_id,
            "from": running,
            "to": version,
            "from_dir": self.current_version(),
            "switched_at": _now(),
        }
        tmp = self.pending_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(pending, indent=2))
        tmp.replace(self.pending_file)
        self._point(self.previous, self.current_version())
        self._point(self.current, version)

    def pending(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(self.pending_file.read_text())
            return data
        except (OSError, ValueError):
            return None

    # ------------------------------------------------------------ health and rollback
    def confirm(self, version: str) -> dict[str, Any] | None:
        """The running ``version`` was accepted by the console: mark it healthy; return the pending
        switch it completes (for the update's result), if any."""
        self.healthy_file.write_text(json.dumps({"version": version, "at": _now()}))
        pending = self.pending()
        if pending is None or pending.get("to") != version:
            return None
        self.pending_file.unlink(missing_ok=True)
        return pending

    def healthy_version(self) -> str | None:
        try:
            return str(json.loads(self.healthy_file.read_text())["version"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def rollback(self, reason: str, output: str) -> dict[str, Any]:
        """Point ``current`` back to the version before the switch; keep the outcome for the console."""
        pending = self.pending() or {}
        failed = self.current_version()
        self._point(self.current, pending.get("from_dir"))
        self._point(self.previous, None)
        outcome = {
            "command_id": pending.get("command_id"),
            "from": pending.get("from"),
            "to": pending.get("to"),
            "error": f"{reason}; rolled back to {pending.get('from')}",
            "log": output[-LOG_TAIL_BYTES:],
            "at": _now(),
        }
        tmp = self.result_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(outcome, indent=2))
        tmp.replace(self.result_file)
        self.pending_file.unlink(missing_ok=True)
        if failed and failed != pending.get("from_dir"):
            shutil.rmtree(self.versions / failed, ignore_errors=True)
        log.error("version update rolled back: %s", outcome["error"])
        return outcome

    def take_outcome(self) -> dict[str, Any] | None:
        """The rolled-back update to report (once: the file goes once its result is queued)."""
        try:
            data: dict[str, Any] = json.loads(self.result_file.read_text())
        except (OSError, ValueError):
            return None
        self.result_file.unlink(missing_ok=True)
        return data


def _signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` (0: none, just look) to process group ``pgid``; False when none of it is left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member we may not signal (it changed its user): the group is not gone
        return True
    return True


def _group_alive(pgid: int) -> bool:
    """Whether process group ``pgid`` has a member left that is not a zombie. Zombies are left out:
    an orphan waits for init (or a container's PID 1, maybe this supervisor) to reap it, which may
    take seconds or never come, and it is gone all the same."""
    if not _signal_group(pgid, 0):
        return False
    states: list[str] = []
    with suppress(OSError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                with suppress(OSError, ValueError, IndexError):
                    fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
                    if int(fields[2]) == pgid:  # state, ppid, pgrp, ...
                        states.append(fields[0])
    return not states or any(state != "Z" for state in states)  # no /proc to look in: believe the signal


class Supervisor:
    """Runs the current sensor version; restarts it on request; rolls a new version back when it
    does not confirm itself within its time limit.

    Each sensor runs in a process group (a session) of its own, and whenever one ends (it exited,
    it is replaced, rolled back, or the supervisor stops, is signalled or fails) the whole group is
    ended: SIGTERM, up to ``stop_grace`` seconds, then SIGKILL. Nothing the sensor started outlives
    its supervisor (short of the supervisor being SIGKILLed itself).
    """

    def __init__(
        self,
        store: VersionStore,
        run_args: Sequence[str],
        *,
        command: Sequence[str] = RUN_COMMAND,
        health_timeout: float = 120.0,
        poll: float = 0.2,
        stop_grace: float = STOP_GRACE,
    ) -> None:
        self.store, self.run_args, self.command = store, list(run_args), list(command)
        self.health_timeout, self.poll, self.stop_grace = health_timeout, poll, stop_grace
        self.child: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask the running sensor's group to stop (SIGTERM); :meth:`run` then ends it within the grace
        time and returns. Safe in a signal handler: it does not wait."""
        self._stop.set()
        child = self.child
        if child is not None and child.returncode is None:
            _signal_group(child.pid, signal.SIGTERM)

    def _end(self, child: subprocess.Popen[bytes]) -> None:
        """End ``child``'s whole process group: SIGTERM, wait up to ``stop_grace``, SIGKILL what is
        left; reaps the child. Also for a child that exited by itself: what it started goes too."""
        deadline = time.monotonic() + self.stop_grace
        if _signal_group(child.pid, signal.SIGTERM):
            with suppress(subprocess.TimeoutExpired):
                child.wait(self.stop_grace)
            # A group's id (the child's pid) is not reused while the group has members.
            while _group_alive(child.pid):
                if time.monotonic() >= deadline:
                    _signal_group(child.pid, signal.SIGKILL)
                    break
                time.sleep(0.05)
        child.wait()
        if self.child is child:
            self.child = None  # ended and reaped: its pid is no longer ours to signal

    def _start(self) -> tuple[subprocess.Popen[bytes], int]:
        self.store.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.store.healthy_file.unlink(missing_ok=True)
        with open(self.store.log_file, "ab") as f:
            f.write(
                f"---- {_now()} starting {self.store.current_version() or 'installed version'}\n".encode()
            )
            offset = f.tell()
            child = subprocess.Popen(
                [*self.command, *self.run_args],
                env=self.store.child_env(),
                stdout=f,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group, ended as a whole (see _end)
            )
        self.child = child
        return child, offset

    def _output_since(self, offset: int) -> str:
        with open(self.store.log_file, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    def _await_health(self, child: subprocess.Popen[bytes], pending: dict[str, Any]) -> str | None:
        """None once the new version confirmed itself; otherwise why it failed."""
        limit = self.health_timeout
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.store.pending() is None and self.store.healthy_version() == pending.get("to"):
                return None
            code = child.poll()
            if code is not None:
                return f"version {pending.get('to')} exited (code {code}) before checking in healthy"
            if self._stop.wait(self.poll):
                return "the sensor was stopped before the new version checked in healthy"
        return f"version {pending.get('to')} did not check in healthy within {limit:g} s"

    def run(self) -> int:
        try:
            while not self._stop.is_set():
                pending = self.store.pending()
                child, offset = self._start()
                if pending is not None:
                    failure = self._await_health(child, pending)
                    if self._stop.is_set():  # stopped mid-check: the next start checks the version again
                        failure = None
                    if failure is not None:
                        self._end(child)
                        self.store.rollback(failure, self._output_since(offset))
                        continue
                while child.poll() is None and not self._stop.wait(self.poll):
                    pass
                self._end(child)  # stopped: the whole group; exited: whatever it left behind
                if child.returncode != RESTART_EXIT or self._stop.is_set():
                    return child.returncode
            return 0
        finally:  # an exception (KeyboardInterrupt included) must not leave the sensor running
            if self.child is not None:
                self._end(self.child)


class VersionUpdater:
    """The sensor's side of a version update, attached to its check-in runtime: the ``update``
    command handler, the health confirmation after the first accepted check-in, and the report of
    a rollback the supervisor made.

    ``store`` is None when the sensor does not run under ``otwatch sensor supervise``: it then
    refuses updates with a clear error rather than switching versions nobody would restart.
    """

    def __init__(
        self,
        store: VersionStore | None,
        runtime: NodeRuntime,
        stop: Callable[[], None],
    ) -> None:
        self.store, self.runtime, self._stop_node = store, runtime, stop
        self.restart_requested = False
        runtime.handlers["update"] = self.handle

    def start(self) -> None:
        if self.store is None:
            return
        outcome = self.store.take_outcome()
        if outcome is not None and outcome.get("command_id"):
            self.runtime.finish(
                str(outcome["command_id"]),
                False,
                {
                    "rolled_back": True,
                    "from": outcome.get("from"),
                    "to": outcome.get("to"),
                    "log": outcome["log"],
                },
                error=str(outcome["error"]),
            )
        pending = self.store.pending()
        if pending is not None and pending.get("to") == self.runtime.version:
            self.runtime.report(
                "updating", {"percent": 90, "phase": "health check", "version": pending["to"]}
            )
        threading.Thread(target=self._confirm, name="version-health", daemon=True).start()

    def _confirm(self) -> None:
        """Healthy = the console accepted a check-in from this version (its status came back)."""
        rt, store = self.runtime, self.store
        assert store is not None
        while not rt.stopping and (rt.status == "unknown" or rt.last_error is not None):
            time.sleep(0.2)
        if rt.stopping:
            return
        done = store.confirm(rt.version)
        if done is not None:
            rt.report(None)
            rt.finish(
                str(done["command_id"]),
                True,
                {"from": done.get("from"), "to": done["to"], "rolled_back": False},
            )
            log.info("version %s checked in healthy; update complete", done["to"])

    def handle(self, cmd: CommandMessage, rt: NodeRuntime) -> dict[str, Any] | None:
        """Download, verify against the pinned keys, stage, switch and restart into the new version.
        The result comes from the new version (done) or, after a rollback, from this one (failed)."""
        if self.store is None:
            raise RuntimeError(
                "this sensor does not run under `otwatch sensor supervise`, so it cannot switch versions"
            )
        if cmd.args.get("kind") != "sensor":
            raise RuntimeError(f"a sensor takes sensor version packages, not {cmd.args.get('kind')!r}")
        target = str(cmd.args.get("version", ""))

        def progress(percent: int, phase: str) -> None:
            rt.report("updating", {"percent": percent, "phase": phase, "version": target})

        progress(5, "downloading")
        try:
            with ConsoleLink(rt.state) as link:
                data = link.download_package(str(cmd.args.get("package_id", "")))
            progress(30, "verifying")
            trusted = package.load_trusted(rt.state.dir / "release-keys")
            manifest = self.store.stage(data, trusted, rt.version, progress)
            if manifest.version != target:
                raise VersionError(f"the console announced {target}, the package is {manifest.version}")
        except Exception:
            rt.report(None)
            raise
        progress(80, "restarting")
        self.store.switch(cmd.id, rt.version, manifest.version)
        self.restart_requested = True
        self._stop_node()
        return None
