"""Wake-ups for long-polling nodes inside one console process.

A check-in waits on its node's event; queuing a command or a configuration sets it. Writers run in
worker threads, so `wake` hops onto the event loop thread-safely.
"""

from __future__ import annotations

import asyncio
import contextlib


class Notifier:
    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}
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

    async def wait(self, node_id: str, timeout: float) -> bool:
        """Wait until woken or timed out; True when woken."""
        ev = self._events.setdefault(node_id, asyncio.Event())
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ev.wait(), timeout)
            return ev.is_set()
        finally:
            ev.clear()
            if self._events.get(node_id) is ev:
                del self._events[node_id]
