"""Wake-ups for long-polling nodes, and a "nothing pending" marker that spares check-ins a query.

A check-in waits on its node's event; queuing a command or a configuration sets it. Writers run in
worker threads, so `wake` hops onto the event loop thread-safely.

With one console process (SQLite) everything stays in this process. With several console processes
sharing PostgreSQL, `PgNotifier` also sends every wake-up as a ``NOTIFY`` inside the writer's
transaction (delivered on commit, dropped on rollback) and listens for the other processes' ones, so a
command created through process A wakes the node long-polling on process B.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import secrets
import threading
import time

import psycopg
from sqlalchemy import make_url, text
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

CHANNEL = "otwatch_wake"


class IdleState(enum.Enum):
    """What the idle marker knows of a node's open commands."""

    IDLE = "idle"  # none, as of a recent query: skip it
    UNSURE = "unsure"  # not known (console start, an aged marker): one small read decides
    WOKEN = "woken"  # a wake-up since the last query: something was queued, take the full path


class Notifier:
    """Also remembers a wake-up that came while its node was not waiting (between two long-polls), so
    the next wait returns at once instead of sleeping through it.

    The idle marker: after a check-in found no open command for a node, `mark_idle` records that, and
    later check-ins skip the commands query (`maybe_pending` is False) until the next wake-up of that
    node — every writer of commands wakes the node after its commit, in this process or (PostgreSQL)
    through ``NOTIFY`` from another. A marker older than IDLE_TTL is not trusted, which bounds the cost
    of a writer that forgot to wake: the check-in then reads whether an open command exists
    (`idle_state` UNSURE, `checkins.idle_checkin`) instead of taking the full path, which at 12,000
    nodes and a 60 s TTL was 200 full check-ins a second. `idle_token` / `mark_idle` compare a per-node generation so that a
    wake-up racing with the query (committed after the query's snapshot) is never lost.
    """

    MISSED_TTL = 60.0
    IDLE_TTL = 60.0

    def __init__(self) -> None:
        self._waiters: dict[str, list[asyncio.Future[bool]]] = {}  # long-polls waiting, per node
        self._missed: dict[str, float] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._gen: dict[str, int] = {}
        self._idle: dict[str, tuple[int, float]] = {}

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def close(self) -> None:
        """Stop background work (nothing in-process)."""

    def publish(self, db: Session, node_id: str) -> None:
        """Tell other console processes, in ``db``'s transaction (nothing to do with one process)."""

    # ------------------------------------------------ idle marker

    def idle_token(self, node_id: str) -> int:
        with self._lock:
            return self._gen.get(node_id, 0)

    def mark_idle(self, node_id: str, token: int) -> None:
        """No open command for the node as of a query started at ``token`` (from `idle_token`)."""
        with self._lock:
            if self._gen.get(node_id, 0) == token:
                self._idle[node_id] = (token, time.monotonic())

    def maybe_pending(self, node_id: str) -> bool:
        return self.idle_state(node_id) is not IdleState.IDLE

    def idle_state(self, node_id: str) -> IdleState:
        with self._lock:
            mark = self._idle.get(node_id)
            gen = self._gen.get(node_id, 0)
        if mark is not None and mark[0] == gen:
            return IdleState.IDLE if time.monotonic() - mark[1] <= self.IDLE_TTL else IdleState.UNSURE
        return IdleState.WOKEN if gen else IdleState.UNSURE

    def touch(self, node_id: str) -> None:
        """Forget the node's idle marker now (a writer is about to queue something for it, maybe in
        the very check-in that asks): at worst one query too many, never one too few."""
        self._touch(node_id)

    def _touch(self, node_id: str) -> None:
        with self._lock:
            self._gen[node_id] = self._gen.get(node_id, 0) + 1
            self._idle.pop(node_id, None)

    def _forget_idle(self) -> None:
        with self._lock:
            self._idle.clear()

    # ------------------------------------------------ wake-ups

    def wake(self, node_id: str) -> None:
        self._touch(node_id)
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._set, node_id)

    #: set when the console is told to stop: long-polls end at once and check-ins are answered 503
    draining: bool = False

    def drain(self) -> None:
        """The console is stopping (SIGTERM): every waiting long-poll returns now, and the check-in
        answers 503 with Retry-After (wire_routes.serve_checkin) rather than being cut off (a 500)."""
        self.draining = True
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._set_all)

    def _wake_all(self) -> None:
        """Every waiting long-poll re-reads its node (after wake-ups may have been missed)."""
        self._forget_idle()
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._set_all)

    def _set_all(self) -> None:
        for waiters in list(self._waiters.values()):
            for fut in waiters:
                _resolve(fut, True)

    def _set(self, node_id: str) -> None:
        waiters = self._waiters.get(node_id)
        if waiters:
            for fut in waiters:
                _resolve(fut, True)
            return
        now = time.monotonic()
        self._missed[node_id] = now
        if len(self._missed) > 10_000:  # bounded: forget old ones
            self._missed = {k: t for k, t in self._missed.items() if now - t < self.MISSED_TTL}

    def forget_missed(self, node_id: str) -> None:
        """A check-in is about to read the node: wake-ups committed before are seen by that read
        (call on the event loop, before the read)."""
        self._missed.pop(node_id, None)

    async def wait(self, node_id: str, timeout: float) -> bool:
        """Wait until woken or timed out; True when woken.

        A bare future and a timer, not ``asyncio.wait_for`` on an ``Event``: that wraps each wait in a
        task of its own and, on time-out, cancels it and waits for the cancellation, which was a
        tenth of the event loop's time at 12,000 nodes (docs/benchmarks.md, "Fleet")."""
        missed = self._missed.pop(node_id, None)
        if missed is not None and time.monotonic() - missed < self.MISSED_TTL:
            return True
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bool] = loop.create_future()
        waiters = self._waiters.setdefault(node_id, [])
        waiters.append(fut)
        timer = loop.call_later(timeout, _resolve, fut, False)
        try:
            return await fut
        finally:
            timer.cancel()
            waiters.remove(fut)
            if not waiters and self._waiters.get(node_id) is waiters:
                del self._waiters[node_id]


def _resolve(fut: asyncio.Future[bool], woken: bool) -> None:
    if not fut.done():
        fut.set_result(woken)


def libpq_url(sqlalchemy_url: str) -> str:
    """``postgresql+psycopg://u@h:p/db`` as a URL libpq (psycopg.connect) accepts."""
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


class PgNotifier(Notifier):
    """Wake-ups across console processes sharing one PostgreSQL (``LISTEN``/``NOTIFY``).

    A listener thread holds one autocommit connection with ``LISTEN otwatch_wake``. When it loses
    the server (PostgreSQL restart) it reconnects with back-off and then wakes every waiting long-poll
    and forgets all idle markers, since notifications sent meanwhile were lost.
    """

    RETRY_MAX = 5.0

    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = libpq_url(url)
        self._token = secrets.token_hex(8)  # this process, to skip our own notifications
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.listening = threading.Event()  # set while LISTEN is active (tests wait on it)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        super().bind(loop)
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._listen, name="otwatch-pg-listen", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def publish(self, db: Session, node_id: str) -> None:
        db.execute(text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": f"{self._token}:{node_id}"})

    def _listen(self) -> None:
        delay = 0.2
        first = True
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    if not first:
                        log.warning("wake-up listener reconnected to PostgreSQL")
                        self._wake_all()
                    first, delay = False, 0.2
                    while not self._stop.is_set():
                        for n in conn.notifies(timeout=1.0):
                            token, _, node_id = n.payload.partition(":")
                            if token != self._token and node_id:
                                self.wake(node_id)
            except psycopg.Error as exc:
                self.listening.clear()
                if self._stop.is_set():
                    break
                log.warning("wake-up listener lost PostgreSQL (%s); retrying in %.1f s", exc, delay)
                first = False
                self._stop.wait(delay)
                delay = min(delay * 2, self.RETRY_MAX)
        self.listening.clear()


def notifier_for(url: str) -> Notifier:
    """The notifier for a console's database: cross-process on PostgreSQL, in-process otherwise."""
    return PgNotifier(url) if url.startswith("postgresql") else Notifier()
