"""Liveness (``nodes.last_seen``) of idle check-ins, written for many nodes in one statement.

A node long-polls every ``longpoll_seconds`` (25 s), more than the 15 s ``last_seen`` may lag
(``service.last_seen_slack``), so nearly every idle check-in had one write to make: an ``UPDATE`` and
a commit of its own, which on SQLite also takes the single writer's lock. At 10,000 nodes that is
400 small write transactions a second. Instead, a check-in that has nothing else to write and whose
node is well inside ``offline_after`` notes the time here; the notes are written in one executemany
``UPDATE`` at most once a second (by the next check-in after that second, and by the background
monitor and shutdown when check-ins stop). Losing a second of notes in a crash costs nothing: the
node's next check-in writes again. A node coming back from Disconnected is written at once.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, or_, update
from sqlalchemy.exc import SQLAlchemyError

from otwatch.console.db import Database
from otwatch.console.fleet.models import Node

log = logging.getLogger(__name__)

FLUSH_EVERY = 1.0  # seconds

_nodes = cast(Table, Node.__table__)
_UPDATE = (
    update(_nodes)
    .where(
        _nodes.c.id == bindparam("b_id"),
        or_(_nodes.c.last_seen.is_(None), _nodes.c.last_seen < bindparam("b_seen")),
    )
    .values(last_seen=bindparam("b_seen"))
)


class LivenessWriter:
    def __init__(self, db: Database, every: float = FLUSH_EVERY) -> None:
        self.db, self.every = db, every
        self._pending: dict[str, datetime] = {}
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._last = time.monotonic()

    def note(self, node_id: str, seen: datetime, flush: bool = True) -> bool:
        """Record that ``node_id`` checked in at ``seen``; called after the check-in's own commit.
        Flushes when a flush is due, unless ``flush`` is False (on the event loop, where the write
        must not wait for SQLite's writer): then returns whether one is due, for the caller to run."""
        with self._lock:
            self._pending[node_id] = seen
            due = time.monotonic() - self._last >= self.every
        if due and flush:
            self.flush()
            return False
        return due

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self) -> int:
        """Write every pending note; returns how many. One flush at a time; the others return 0."""
        if not self._flushing.acquire(blocking=False):
            return 0
        try:
            with self._lock:
                batch, self._pending = self._pending, {}
                self._last = time.monotonic()
            if not batch:
                return 0
            try:
                with self.db.engine.begin() as conn:
                    conn.execute(_UPDATE, [{"b_id": k, "b_seen": v} for k, v in batch.items()])
            except SQLAlchemyError as exc:  # the database is away: keep them for the next flush
                log.warning("could not write the liveness of %d nodes (kept for later): %s", len(batch), exc)
                with self._lock:
                    for k, v in batch.items():
                        if k not in self._pending or self._pending[k] < v:
                            self._pending[k] = v
                return 0
            return len(batch)
        finally:
            self._flushing.release()
