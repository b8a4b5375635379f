"""kill -9 of the console during a burst of agent results loses nothing that was acknowledged.

A real agent runtime (wire/runtime.py: durable outbox, mTLS, back-off) sends scheduled-scan results
while the console process (SQLite) is killed with SIGKILL. Every result whose check-in was answered
must already be in the database right after the kill; after a restart on the same port the outbox
re-sends the rest and the console stores each result exactly once (idempotent by command id).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from otwatch.wire.client import Credentials, NodeState, enroll
from otwatch.wire.messages import CommandResult
from otwatch.wire.runtime import NodeRuntime
from tests.faults.procs import ConsoleProc, pairing_key

pytestmark = [pytest.mark.network, pytest.mark.timeout(90)]

RESULTS = 150


def _result(i: int) -> CommandResult:
    asset = {"ip": f"10.20.{i // 250}.{i % 250 + 1}", "vendor": "Siemens", "protocols": ["s7comm"]}
    return CommandResult(
        id=f"sched-kill-{i:04d}",
        state="done",
        result={"scheduled": True, "assets": [asset], "asset_count": 1, "duration": 1.0},
    )


def _stored(db: Path) -> set[str]:
    with closing(sqlite3.connect(db, timeout=30)) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return {
            r[0]
            for r in c.execute("SELECT id FROM node_commands WHERE id LIKE 'sched-kill-%' AND state='done'")
        }


def test_kill9_during_result_burst_loses_no_acknowledged_result(tmp_path: Path) -> None:
    console = ConsoleProc(tmp_path / "console", background_workers="false").start()
    runtime: NodeRuntime | None = None
    loop: threading.Thread | None = None
    try:
        with closing(console.admin()) as admin:
            admin.patch("/api/v1/fleet/settings", json={"auto_approve": True}).raise_for_status()
            key = pairing_key(admin)
        state = NodeState(tmp_path / "agent")
        enroll(state, "agent", Credentials(pairing_key=key), version="0.1.0")
        runtime = NodeRuntime(state, version="0.1.0", longpoll=1.0, max_backoff=1.0)
        acked: list[str] = []
        ack = runtime.outbox.ack

        def recording_ack(sent: list[CommandResult]) -> None:  # called once the console answered
            ack(sent)
            acked.extend(r.id for r in sent if r.id.startswith("sched-kill-"))

        runtime.outbox.ack = recording_ack  # type: ignore[method-assign]
        loop = threading.Thread(target=runtime.run, daemon=True)
        loop.start()

        def burst() -> None:
            for i in range(RESULTS):
                runtime.outbox.put(_result(i))
                runtime._kick.set()
                time.sleep(0.01)

        writer = threading.Thread(target=burst)
        writer.start()
        deadline = time.monotonic() + 30
        while len(acked) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert acked, f"no result acknowledged before the kill:\n{console.tail()}"
        console.kill9()  # mid-burst: the writer keeps queueing into the outbox
        acked_before_kill = set(acked)
        stored = _stored(console.data_dir / "otwatch.db")
        assert acked_before_kill <= stored, f"acknowledged but lost: {sorted(acked_before_kill - stored)}"
        writer.join()
        assert len(acked_before_kill) < RESULTS, "the burst ended before the kill: nothing was tested"

        console.start()  # same port and data directory; the runtime reconnects by itself
        deadline = time.monotonic() + 45
        while runtime.outbox.pending() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not runtime.outbox.pending(), f"outbox not drained:\n{console.tail()}"
        stored = _stored(console.data_dir / "otwatch.db")
        assert stored == {f"sched-kill-{i:04d}" for i in range(RESULTS)}
        with closing(sqlite3.connect(console.data_dir / "otwatch.db")) as c:
            (count,) = c.execute("SELECT count(*) FROM node_commands WHERE id LIKE 'sched-kill-%'").fetchone()
        assert count == RESULTS  # each exactly once
    finally:
        if runtime is not None:
            runtime.stop()
        if loop is not None:
            loop.join(timeout=15)
        console.stop()
