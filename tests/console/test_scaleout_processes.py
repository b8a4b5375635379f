"""Two console processes on one PostgreSQL: a command created through A wakes the node on B.

Both share the data directory (CA, vault key, session secret), as docs/deployment.md describes; the
wake-up crosses processes through PostgreSQL LISTEN/NOTIFY (console/fleet/notify.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.faults.procs import ConsoleProc, connected_agent
from tests.pg import fresh_pg_database

pytestmark = [pytest.mark.network, pytest.mark.postgres, pytest.mark.timeout(120)]


@pytest.fixture
def two_consoles(tmp_path: Path, pg_base_url: str) -> Iterator[tuple[ConsoleProc, ConsoleProc]]:
    with fresh_pg_database(pg_base_url) as url:
        data = tmp_path / "console"
        a = ConsoleProc(data, url, background_workers="false")
        b = ConsoleProc(data, url, background_workers="false")
        try:
            a.start()  # A migrates and creates the CA; B starts on what A made
            b.start()
            yield a, b
        finally:
            b.stop()
            a.stop()


def test_command_through_a_wakes_long_poll_on_b(
    two_consoles: tuple[ConsoleProc, ConsoleProc], tmp_path: Path
) -> None:
    a, b = two_consoles
    with closing(a.admin()) as admin:
        agent = connected_agent(admin, b, tmp_path / "agent")  # the agent talks to B only
        agent.checkin(b)  # B has now cached its certificate and marked it idle: no command open
        got: dict[str, Any] = {}

        def long_poll() -> None:
            t0 = time.monotonic()
            got["resp"] = agent.checkin(b, wait=15)
            got["after"] = time.monotonic() - t0

        poller = threading.Thread(target=long_poll)
        poller.start()
        time.sleep(1.0)  # the long-poll is waiting on B
        created = time.monotonic()
        r = admin.post(f"/api/v1/agents/{agent.node_id}/scan")
        assert r.status_code == 202, r.text
        poller.join(timeout=20)
        woke_after = time.monotonic() - created
        assert [c["type"] for c in got["resp"]["commands"]] == ["scan"], got
        assert woke_after < 3.0, (
            f"woken {woke_after:.2f} s after the command (long-poll {got['after']:.1f} s)"
        )

        # and the other way round: an operator on B pauses, the agent long-polling on A hears it
        agent.checkin(a, results=[{"id": got["resp"]["commands"][0]["id"], "state": "running"}])
        poller = threading.Thread(target=lambda: got.update(resp=agent.checkin(a, wait=15)))
        poller.start()
        time.sleep(1.0)
        created = time.monotonic()
        with closing(b.admin()) as admin_b:
            assert admin_b.post(f"/api/v1/agents/{agent.node_id}/pause").status_code == 200
        poller.join(timeout=20)
        assert time.monotonic() - created < 3.0
        assert got["resp"]["status"] == "Paused"
        agent.close()
