"""A PostgreSQL restart is survived: check-ins fail for a moment (503 + Retry-After), then succeed,
the console processes stay up, and cross-process wake-ups work again (the LISTEN connection is
re-established by console/fleet/notify.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.faults.procs import ConsoleProc, connected_agent
from tests.pg import PostgresServer

pytestmark = [pytest.mark.network, pytest.mark.postgres, pytest.mark.timeout(120)]


@pytest.fixture
def own_postgres() -> Iterator[tuple[PostgresServer, str]]:
    """A server of this test's own: restarting the session's shared one would disturb other tests."""
    server = PostgresServer()
    base = server.start()
    admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text('CREATE DATABASE "otwatch"'))
    admin.dispose()
    try:
        yield server, f"{base}/otwatch"
    finally:
        server.stop()


def _pg_ctl(server: PostgresServer, *args: str) -> None:
    opts = f"-h 127.0.0.1 -p {server.port} -k {server.dir} -c fsync=off -c max_connections=300"
    data = str(server.dir / "data")
    server._run(
        str(server.bin / "pg_ctl"), "-D", data, "-o", opts, "-l", str(server.dir / "log"), "-w", *args
    )


def test_postgres_restart_is_survived(own_postgres: tuple[PostgresServer, str], tmp_path: Path) -> None:
    server, url = own_postgres
    data = tmp_path / "console"
    a = ConsoleProc(data, url, background_workers="false").start()
    b = ConsoleProc(data, url, background_workers="false").start()
    try:
        with closing(a.admin()) as admin:
            agent = connected_agent(admin, b, tmp_path / "agent")

        _pg_ctl(server, "-m", "fast", "stop")
        down = agent.checkin_raw(b)
        assert down.status_code == 503, down.text
        assert down.json()["error"]["code"] == "database_unavailable"
        assert int(down.headers["retry-after"]) > 0
        _pg_ctl(server, "start")

        deadline = time.monotonic() + 30
        while True:  # the pool's pre-ping replaces the dead connections: check-ins succeed again
            r = agent.checkin_raw(b)
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            assert r.status_code == 503, r.text
            time.sleep(0.5)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "Connected"
        assert a.proc is not None and a.proc.poll() is None and b.proc is not None and b.proc.poll() is None

        # B's wake-up listener is back: a command through A reaches the agent long-polling on B
        deadline = time.monotonic() + 20
        while "listener reconnected" not in b.tail(200) and time.monotonic() < deadline:
            time.sleep(0.2)
        got: dict[str, Any] = {}
        poller = threading.Thread(target=lambda: got.update(resp=agent.checkin(b, wait=15)))
        poller.start()
        time.sleep(1.0)
        created = time.monotonic()
        with closing(a.admin()) as admin:
            assert admin.post(f"/api/v1/agents/{agent.node_id}/scan").status_code == 202
        poller.join(timeout=20)
        assert [c["type"] for c in got["resp"]["commands"]] == ["scan"]
        assert time.monotonic() - created < 3.0
        agent.close()
    finally:
        b.stop()
        a.stop()
