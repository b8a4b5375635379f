"""Wake-ups for long-polling nodes inside one console process.

A check-in waits on its node's event; queuing a command or a configuration sets it. Writers run in
worker threads, so `wake` hops onto the event loop thread-safely.
"""

from __future__ import annotations

import asyncio
import contextlib
import time


class Notifier:
    """Also remembers a wake-up that came while its node was not waiting (between two long-polls), so
    the next wait returns at once instead of sleeping through it."""

    MISSED_TTL = 60.0

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}
        self._missed: dict[str, float] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def wake(self, node_id: str) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._set, node_id)

    def _set(self, node_id: str) -> None:
        ev = self._events.get(node_id)
        if ev is not None:
            ev.set()
            return
        now = time.monotonic()
        self._missed[node_id] = now
        if len(self._missed) > 10_000:  # bounded: forget old ones
            self._missed = {k: t for k, t in self._missed.items() if now - t < self.MISSED_TTL}

    async def wait(self, node_id: str, timeout: float) -> bool:
        """Wait until woken or timed out; True when woken."""
        missed = self._missed.pop(node_id, None)
        if missed is not None and time.monotonic() - missed < self.MISSED_TTL:
            return True
        ev = self._events.setdefault(node_id, asyncio.Event())
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ev.wait(), timeout)
            return ev.is_set()
        finally:
            ev.clear()
            if self._events.get(node_id) is ev:
                del self._events[node_id]
