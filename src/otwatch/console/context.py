"""Everything one console process holds: settings, database, CA, vault, wake-ups."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection

from otwatch.console.config import Settings
from otwatch.console.credentials.vault import Vault
from otwatch.console.db import Database
from otwatch.console.fleet.liveness import LivenessWriter
from otwatch.console.fleet.notify import Notifier, notifier_for
from otwatch.console.pki import ConsolePKI
from otwatch.ui.signin import ADDRESS_FAILURES, LOCKOUT_SECONDS, MemoryThrottle
from otwatch.wire.tls import split_address


def _secret_file(path: Path) -> str:
    """The secret in ``path``, created 0600 (never readable by others, not even for a moment)."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    os.chmod(path, 0o600)
    return path.read_text().strip()


@dataclass
class ConsoleContext:
    settings: Settings
    db: Database
    pki: ConsolePKI
    vault: Vault
    session_secret: str
    notifier: Notifier = field(default_factory=Notifier)
    checkin_budget: threading.BoundedSemaphore = field(init=False)
    liveness: LivenessWriter = field(init=False)
    # The check-ins' database work runs on a few threads of its own, not on the 40 of the framework's
    # pool: more threads than the database can use only take turns at the GIL with the event loop,
    # and at 12,000 nodes those hand-offs were much of a saturated console's time.
    checkin_pool: ThreadPoolExecutor = field(init=False)
    # failed sign-ins per client address (this process): past ADDRESS_FAILURES an address is refused
    # without another audit row, so anonymous guessing cannot flood the audit log
    sign_in_addresses: MemoryThrottle = field(
        default_factory=lambda: MemoryThrottle(limit=ADDRESS_FAILURES, window=LOCKOUT_SECONDS)
    )

    _loop_conn: Connection | None = field(init=False, default=None)
    _loop_lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.checkin_budget = threading.BoundedSemaphore(max(1, self.settings.checkin_concurrency))
        self.liveness = LivenessWriter(self.db)
        self.checkin_pool = ThreadPoolExecutor(
            max_workers=max(1, self.settings.checkin_threads), thread_name_prefix="otwatch-checkin"
        )

    @contextmanager
    def loop_reader(self) -> Iterator[Connection | None]:
        """A connection kept for short reads on the event loop's thread (SQLite only), or None: on
        PostgreSQL a read may wait on the network or a restarting server, which must not stall the
        loop, and when another event loop (tests run several) is using it. Its own connection, so a
        pool emptied by the thread pool's transactions never makes the loop wait."""
        if self.db.engine.dialect.name != "sqlite" or not self._loop_lock.acquire(blocking=False):
            yield None
            return
        try:
            if self._loop_conn is None:
                self._loop_conn = self.db.engine.connect()
            yield self._loop_conn
        finally:
            if self._loop_conn is not None:
                self._loop_conn.rollback()  # ends the read transaction: WAL checkpoints may pass it
            self._loop_lock.release()

    def close_loop_reader(self) -> None:
        with self._loop_lock:
            if self._loop_conn is not None:
                self._loop_conn.close()
                self._loop_conn = None

    @classmethod
    def create(cls, settings: Settings) -> ConsoleContext:
        settings.ensure_dirs()
        host, _ = split_address(settings.address)
        url = settings.resolved_database_url
        return cls(
            settings=settings,
            db=Database(url),
            notifier=notifier_for(url),  # wake-ups cross console processes on PostgreSQL
            pki=ConsolePKI.load_or_create(settings.data_dir / "pki", [host, settings.host]),
            vault=Vault.load_or_create(settings.data_dir / "vault.key"),
            session_secret=_secret_file(settings.data_dir / "session.secret"),
        )
