"""A node's reports and results ride on its long-poll: stored when the check-in arrives, acknowledged
when the wait ends; only a backlog (more than one check-in carries) goes without waiting."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from otwatch.console.fleet.models import Node
from otwatch.wire.client import ConsoleLink
from otwatch.wire.messages import CheckinRequest, CheckinResponse, Report
from otwatch.wire.runtime import NodeRuntime
from tests.e2e.conftest import LiveConsole

HELD = 2.0  # the live console's longpoll_seconds


def _stats(ctx: LiveConsole, node_id: str) -> dict[str, object]:
    with ctx.ctx.db.session() as db:
        node = db.get(Node, node_id)
        assert node is not None
        return dict(node.stats)


def _stats_report(n: int) -> Report:
    return Report(id=uuid.uuid4().hex, kind="stats", stats={"packets": n})


def test_reports_are_stored_on_arrival_and_acknowledged_after_the_long_poll(
    live_console: LiveConsole, tmp_path: Path
) -> None:
    state, ident = live_console.enrolled(tmp_path / "sensor", "sensor")
    # approved: the console takes no report of a node Pending Approval (docs/security.md)
    live_console.admin().post(f"/api/v1/sensors/{ident.node_id}/approve").raise_for_status()
    runtime = NodeRuntime(state, version="0.1.0", longpoll=30.0)
    with ConsoleLink(state) as link:
        link.checkin(CheckinRequest(client_time=datetime.now(UTC), wait=1))  # consumes the approval's wake-up
        runtime.report_box.put(_stats_report(1))
        node_id = ident.node_id
        took: list[float] = []

        def once() -> None:
            t0 = time.monotonic()
            runtime._once(link)
            took.append(time.monotonic() - t0)

        t = threading.Thread(target=once)
        t.start()
        deadline = time.monotonic() + HELD / 2
        while _stats(live_console, node_id) != {"packets": 1} and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _stats(live_console, node_id) == {"packets": 1}  # stored while the long-poll is held ...
        assert t.is_alive() and runtime.report_box.pending()  # ... and not yet acknowledged
        t.join(timeout=HELD + 10)
        assert took and took[0] >= HELD - 0.2  # the check-in carrying the report waited
        assert runtime.report_box.pending() == []  # acknowledged by the answer

        # a backlog: the first check-in carries a full load without waiting, the rest waits
        waits: list[float] = []
        checkin = link.checkin

        def recorded(req: CheckinRequest) -> CheckinResponse:
            waits.append(req.wait)
            return checkin(req)

        link.checkin = recorded  # type: ignore[method-assign]
        for i in range(runtime.reports_per_checkin + 3):
            runtime.report_box.put(_stats_report(100 + i))
        runtime._once(link)
        assert waits == [0.0] and len(runtime.report_box.pending()) == 3
        assert _stats(live_console, node_id) == {"packets": 100 + runtime.reports_per_checkin - 1}
        runtime._once(link)
        assert waits == [0.0, 30.0] and runtime.report_box.pending() == []
        assert _stats(live_console, node_id) == {"packets": 100 + runtime.reports_per_checkin + 2}
