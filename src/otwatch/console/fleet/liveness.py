"""Liveness (``nodes.last_seen``) of idle check-ins, written for many nodes in one statement.

A node long-polls every ``longpoll_seconds`` (25 s), more than the 15 s ``last_seen`` may lag
(``checkins.last_seen_slack``), so nearly every idle check-in had one write to make: an ``UPDATE`` and
a commit of its own, which on SQLite also takes the single writer's lock. At 10,000 nodes that is
400 small write transactions a second. Instead, a check-in that has nothing else to write and whose
node is well inside ``offline_after`` notes the time here; the notes are written in one executemany
``UPDATE`` at most once a second (by the next check-in after that second, and by the background
monitor and shutdown when check-ins stop). Losing a second of notes in a crash costs nothing: the
node's next check-in writes again. A node coming back from Disconnected is written at once.

A sensor's statistics (an absolute snapshot, sent on every long-poll: `checkins.idle_checkin`) go
the same way, with its liveness. Those are data the sensor drops once answered, so the check-in
is not answered before they are written (`settle`); as the answer comes when the long-poll ends,
25 s later, the flush has nearly always happened by then.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import Any, cast

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
_STATS = (
    update(_nodes)
    .where(_nodes.c.id == bindparam("b_id"))
    .values(stats=bindparam("b_stats", type_=_nodes.c.stats.type))
)


class NotWritten(Exception):
    """The database refused the batch; the notes are kept for the next flush."""


class LivenessWriter:
    def __init__(self, db: Database, every: float = FLUSH_EVERY) -> None:
        self.db, self.every = db, every
        self._pending: dict[str, datetime] = {}
        self._stats: dict[str, dict[str, Any]] = {}
        self._writing: set[str] = set()  # statistics of the flush under way (not committed yet)
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._last = time.monotonic()

    def note(
        self, node_id: str, seen: datetime, flush: bool = True, stats: dict[str, Any] | None = None
    ) -> bool:
        """Record that ``node_id`` checked in at ``seen`` (with a sensor's newest ``stats``); called
        after the check-in's own commit. Flushes when a flush is due, unless ``flush`` is False (on the
        event loop, where the write must not wait for SQLite's writer): then returns whether one is
        due, for the caller to run."""
        with self._lock:
            self._pending[node_id] = seen
            if stats is not None:
                self._stats[node_id] = stats
            due = time.monotonic() - self._last >= self.every
        if due and flush:
            self.flush()
            return False
        return due

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def holds(self, node_id: str) -> bool:
        """Whether statistics of ``node_id`` are noted and not yet committed."""
        with self._lock:
            return node_id in self._stats or node_id in self._writing

    def settle(self, node_id: str) -> None:
        """Return once the noted statistics of ``node_id`` are committed (waiting for a flush under
        way, flushing now if need be); `NotWritten` when the database refused them."""
        if not self.holds(node_id):
            return
        self.flush(wait=True)
        if self.holds(node_id):
            raise NotWritten(f"the statistics of {node_id} could not be written yet")

    def flush(self, wait: bool = False) -> int:
        """Write every pending note; returns how many. One flush at a time: the others return 0, or
        with ``wait`` wait for it and then write what is left."""
        if not self._flushing.acquire(blocking=wait):
            return 0
        try:
            with self._lock:
                batch, self._pending = self._pending, {}
                stats, self._stats = self._stats, {}
                self._writing = set(stats)
                self._last = time.monotonic()
            if not batch and not stats:
                return 0
            try:
                with self.db.engine.begin() as conn:
                    if batch:
                        conn.execute(_UPDATE, [{"b_id": k, "b_seen": v} for k, v in batch.items()])
                    if stats:
                        conn.execute(_STATS, [{"b_id": k, "b_stats": v} for k, v in stats.items()])
            except SQLAlchemyError as exc:  # the database is away: keep them for the next flush
                log.warning("could not write the liveness of %d nodes (kept for later): %s", len(batch), exc)
                with self._lock:
                    for k, v in batch.items():
                        if k not in self._pending or self._pending[k] < v:
                            self._pending[k] = v
                    for k, st in stats.items():
                        self._stats.setdefault(k, st)  # a newer one noted meanwhile wins
                return 0
            finally:
                with self._lock:
                    self._writing = set()
            return len(batch)
        finally:
            self._flushing.release()
