"""The check-in loop shared by agents and sensors.

- Long-polls the console; reconnects with jittered exponential back-off, and never sooner than a
  busy console's Retry-After.
- Command results go to an on-disk outbox first (fsync'd JSON lines) and leave it only once a
  check-in carrying them was answered, so nothing is lost across restarts or network loss.
- Results and reports ride on the long-poll itself: the console stores them when the check-in
  arrives and answers when the wait ends (or at once with work). Only while working (a scan, an
  update) or with more queued than one check-in carries does the node check in without waiting.
  A sensor's reports therefore cost no check-in of their own, which at 10,000 nodes was a sixth of
  all check-ins (docs/benchmarks.md, "Fleet"). A resend after a lost answer is harmless: the console
  applies results once per command id and reports as upserts.
- Commands are idempotent by id: an id already handled is never run twice.
- The newest configuration is kept on disk with its version.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from otwatch.wire.client import ConsoleLink, LinkError, NodeState, host_os, hostname, write_private
from otwatch.wire.messages import CheckinRequest, CommandMessage, CommandResult, Report

log = logging.getLogger("otwatch.node")

#: the status the console answers before an operator approved the node (console/fleet/status.py)
PENDING_APPROVAL = "Pending Approval"


M = TypeVar("M", CommandResult, Report)


class Outbox(Generic[M]):
    """Durable queue of messages (command results, reports) not yet acknowledged by the console."""

    def __init__(self, path: Path, model: type[M]) -> None:
        self.path = path
        self.model: type[M] = model
        self._lock = threading.Lock()

    def put(self, result: M) -> None:
        line = result.model_dump_json() + "\n"
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())

    def pending(self, limit: int | None = None) -> list[M]:
        with self._lock:
            if not self.path.exists():
                return []
            out: list[M] = []
            for line in self.path.read_text(encoding="utf-8").splitlines():
                if limit is not None and len(out) >= limit:
                    break
                try:
                    out.append(self.model.model_validate_json(line))
                except ValueError:
                    log.warning("skipping a damaged outbox line in %s", self.path)
            return out

    def ack(self, sent: list[M]) -> None:
        """Drop exactly the results that were sent (new ones may have arrived meanwhile)."""
        if not sent:
            return
        sent_lines = {r.model_dump_json() for r in sent}
        with self._lock:
            lines = self.path.read_text(encoding="utf-8").splitlines() if self.path.exists() else []
            keep = [ln for ln in lines if ln not in sent_lines]
            tmp = self.path.with_suffix(".tmp")
            write_private(tmp, "".join(f"{ln}\n" for ln in keep))
            tmp.replace(self.path)


Handler = Callable[[CommandMessage, "NodeRuntime"], dict[str, Any] | None]


@dataclass
class NodeRuntime:
    state: NodeState
    version: str
    engine_version: str = ""
    handlers: dict[str, Handler] = field(default_factory=dict)
    on_config: Callable[[dict[str, Any]], None] | None = None
    longpoll: float = 25.0
    max_backoff: float = 60.0
    reports_per_checkin: int = 20
    activity: str | None = None
    progress: dict[str, Any] = field(default_factory=dict)
    status: str = "unknown"
    last_error: str | None = None

    def __post_init__(self) -> None:
        self.outbox = Outbox(self.state.dir / "outbox.jsonl", CommandResult)
        self.report_box = Outbox(self.state.dir / "reports.jsonl", Report)
        self._seen_file = self.state.dir / "seen_commands.json"
        self._seen: set[str] = (
            set(json.loads(self._seen_file.read_text())) if self._seen_file.exists() else set()
        )
        self._config_file = self.state.dir / "config.json"
        saved = json.loads(self._config_file.read_text()) if self._config_file.exists() else {}
        self.config_version: int = int(saved.get("version", 0))
        self.config: dict[str, Any] = saved.get("config", {})
        self._stop = threading.Event()
        self._kick = threading.Event()
        self._workers: list[threading.Thread] = []

    # ------------------------------------------------------------ used by handlers
    def report(self, activity: str | None, progress: dict[str, Any] | None = None) -> None:
        self.activity, self.progress = activity, progress or {}
        self._kick.set()

    def finish(
        self, cmd_id: str, ok: bool, result: dict[str, Any] | None = None, error: str | None = None
    ) -> None:
        self.outbox.put(
            CommandResult(id=cmd_id, state="done" if ok else "failed", result=result or {}, error=error)
        )
        self._kick.set()

    def send_report(self, report: Report) -> None:
        """Queue data for the console (durably); it leaves the queue once a check-in carried it."""
        self.report_box.put(report)
        self._kick.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # ------------------------------------------------------------ loop
    def stop(self) -> None:
        self._stop.set()
        self._kick.set()

    def run(self) -> None:
        link = ConsoleLink(self.state)
        failures = 0
        try:
            while not self._stop.is_set():
                try:
                    self._once(link)
                    failures = 0
                    self.last_error = None
                except LinkError as exc:
                    failures += 1
                    self.last_error = str(exc)
                    delay = self.retry_delay(failures, exc)
                    log.warning("check-in failed (%s); retrying in %.1fs", exc, delay)
                    self._stop.wait(delay)
        finally:
            link.close()

    def retry_delay(self, failures: int, exc: LinkError) -> float:
        """Jittered exponential back-off, and never sooner than a busy console's Retry-After (a herd of
        nodes retrying within a second of a 503 would keep the console as busy as before)."""
        delay: float = min(self.max_backoff, 2.0 ** min(failures, 6)) * random.uniform(0.5, 1.0)
        if exc.retry_after is not None:
            delay = max(delay, min(exc.retry_after, self.max_backoff))
        return delay

    def _once(self, link: ConsoleLink) -> None:
        results = self.outbox.pending()
        # a node Pending Approval keeps its reports: the console takes none before approval
        pending_approval = self.status == PENDING_APPROVAL
        reports = [] if pending_approval else self.report_box.pending(limit=self.reports_per_checkin)
        # working: report progress about once a second; a backlog: send the rest at once
        busy = self.activity is not None or len(reports) >= self.reports_per_checkin
        self._kick.clear()
        req = CheckinRequest(
            client_time=datetime.now(UTC),
            version=self.version,
            engine_version=self.engine_version,
            host_os=host_os(),
            hostname=hostname(),
            config_version=self.config_version,
            activity=self.activity,
            progress=self.progress,
            results=results,
            reports=reports,
            wait=0.0 if busy else self.longpoll,
        )
        resp = link.checkin(req)
        self.outbox.ack(results)
        if resp.status != PENDING_APPROVAL:  # taken (nothing is stored before approval)
            self.report_box.ack(reports)
        self.status = resp.status
        if resp.config is not None:
            self.config, self.config_version = resp.config, resp.config_version
            tmp = self._config_file.with_suffix(".tmp")  # credentials inside: 0600
            write_private(tmp, json.dumps({"version": self.config_version, "config": self.config}))
            tmp.replace(self._config_file)
            if self.on_config:
                self.on_config(self.config)
        for cmd in resp.commands:
            self._dispatch(cmd)
        if busy or resp.commands or resp.config is not None:
            self._kick.wait(1.0)  # report progress about once a second while working

    def _dispatch(self, cmd: CommandMessage) -> None:
        if cmd.id in self._seen:
            return
        self._seen.add(cmd.id)
        write_private(self._seen_file, json.dumps(sorted(self._seen)[-5000:]))
        handler = self.handlers.get(cmd.type)
        if handler is None:
            self.finish(cmd.id, False, error=f"this node does not know the command {cmd.type!r}")
            return
        self.outbox.put(CommandResult(id=cmd.id, state="running"))

        def work() -> None:
            try:
                result = handler(cmd, self)
                if result is not None:
                    self.finish(cmd.id, True, result)
            except Exception as exc:  # a failing command must not stop the node
                log.exception("command %s failed", cmd.type)
                self.finish(cmd.id, False, error=str(exc))

        t = threading.Thread(target=work, name=f"cmd-{cmd.type}", daemon=True)
        self._workers.append(t)
        t.start()
