"""Background work of one console process: the sensor monitor, the delivery worker and the CSAF
provider sync.

Both are plain functions over the database (``scan_fleet``, ``deliver_due``) run in worker threads on
a timer, so any number of console processes can run them side by side; tests call them directly
with ``Settings.background_workers = False``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from otwatch.console.context import ConsoleContext
from otwatch.console.forwarding.worker import deliver_due
from otwatch.console.notifications.service import scan_fleet, scan_ports
from otwatch.console.vulnerabilities.provider import sync_configured
from otwatch.console.vulnerabilities.service import catalog

log = logging.getLogger("otwatch.console.background")


def monitor_once(ctx: ConsoleContext) -> None:
    ctx.liveness.flush()  # before judging who is Disconnected (and in case check-ins stopped)
    with ctx.db.session() as db:
        scan_fleet(db, ctx)
        scan_ports(db)  # SPAN monitoring-port failures the sensors report


def deliver_once(ctx: ConsoleContext) -> None:
    deliver_due(ctx)


def advisories_once(ctx: ConsoleContext) -> None:
    """A CSAF provider sync when one is configured and due (see vulnerabilities/provider.py); the
    matcher is built here too, so the first check-in that changes an asset does not wait for it."""
    with ctx.db.session() as db:
        sync_configured(db)
        catalog(db)


class BackgroundWorkers:
    def __init__(self, ctx: ConsoleContext) -> None:
        self.ctx = ctx
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        s = self.ctx.settings
        self._tasks = [
            # The monitor's first scan waits offline_after: after a console outage, sensors need that
            # long to check in again, and their silence was the console's, not theirs.
            asyncio.create_task(
                self._every("sensor monitor", s.monitor_interval, monitor_once, first_after=s.offline_after)
            ),
            asyncio.create_task(self._every("delivery worker", s.delivery_interval, deliver_once)),
            asyncio.create_task(
                self._every("advisories sync", s.advisories_check_interval, advisories_once, first_after=30.0)
            ),
        ]

    async def _every(
        self, name: str, interval: float, fn: Callable[[ConsoleContext], None], first_after: float = 0.0
    ) -> None:
        if first_after > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), first_after)
        while not self._stop.is_set():
            try:
                await asyncio.to_thread(fn, self.ctx)
            except Exception:
                log.exception("%s failed; trying again in %g s", name, interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval)

    async def stop(self, timeout: float = 15.0) -> None:
        """Let a round in progress finish (a send is never cut in half), then end."""
        self._stop.set()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=timeout)
        for t in pending:
            t.cancel()
        self._tasks = []
