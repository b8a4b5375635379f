"""A node told to come back later (503 + Retry-After from a console over its check-in budget) waits
at least that long instead of its usual one-to-two-second first retry."""

from __future__ import annotations

from pathlib import Path

import pytest

from otwatch.wire.client import ConsoleLink, LinkError
from otwatch.wire.runtime import NodeRuntime
from tests.e2e.conftest import LiveConsole


def test_busy_console_retry_after_reaches_the_node_and_sets_its_back_off(
    live_console: LiveConsole, tmp_path: Path
) -> None:
    state, _ = live_console.enrolled(tmp_path / "agent", "agent")
    budget = live_console.ctx.checkin_budget
    taken = 0
    while budget.acquire(blocking=False):  # every check-in slot busy
        taken += 1
    runtime = NodeRuntime(state, version="0.1.0", longpoll=0.5, max_backoff=60.0)
    try:
        with ConsoleLink(state) as link, pytest.raises(LinkError) as caught:
            runtime._once(link)
    finally:
        for _ in range(taken):
            budget.release()
    exc = caught.value
    assert exc.status == 503 and exc.code == "busy"
    assert exc.retry_after is not None and 2 <= exc.retry_after <= 10
    delays = [runtime.retry_delay(1, exc) for _ in range(50)]
    assert min(delays) >= exc.retry_after  # never sooner than asked
    plain = LinkError("console unreachable", "unreachable")
    assert max(runtime.retry_delay(1, plain) for _ in range(50)) <= 2.0  # the usual first retry
    assert (
        max(NodeRuntime(state, version="0.1.0", max_backoff=1.0).retry_delay(1, exc) for _ in range(5)) <= 1.0
    )
