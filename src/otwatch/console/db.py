"""Database engine and session handling (SQLAlchemy 2, SQLite by default, PostgreSQL at scale)."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
import weakref
from collections import namedtuple
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    MetaData,
    Select,
    String,
    TypeDecorator,
    create_engine,
    event,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on both SQLite (which drops tzinfo) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


ID = String(32)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = _sqlite_engine(url)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
WRITE_LOCK_TIMEOUT = 30.0  # as SQLite's busy_timeout: past it, SQLite's own locking decides


class _WriterLock:
    """One writing transaction at a time per process, handed over the moment it ends.

    SQLite allows one writer per database; a second thread's write waits in SQLite's busy handler,
    which polls with sleeps growing to 100 ms, so under a burst of writing check-ins (scan results,
    alerts) waiters slept through most releases: 503 "busy" and p99s of several hundred ms at 60
    check-ins/s and 18 % CPU (docs/benchmarks.md, "Fleet"). Taking this lock before the
    transaction's first write, and giving it back once SQLite's commit or rollback has returned
    (``_LockingConnection``), makes the waiters queue on a lock instead. A thread that already writes
    through another connection is not made to wait for itself. Other processes (the CLI) still meet
    SQLite's busy handler."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None

    def before_execute(self, conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        dbapi = conn.connection.dbapi_connection
        if not isinstance(dbapi, _LockingConnection) or dbapi.otwatch_writer:
            return
        if not statement.lstrip()[:7].upper().startswith(_WRITES):
            return
        me = threading.get_ident()
        if self._owner == me:
            return
        if self._lock.acquire(timeout=WRITE_LOCK_TIMEOUT):
            self._owner = me
            dbapi.otwatch_writer = True

    def end(self, dbapi: _LockingConnection) -> None:
        if dbapi.otwatch_writer:
            dbapi.otwatch_writer = False
            self._owner = None
            self._lock.release()


class _LockingConnection(sqlite3.Connection):
    """sqlite3's connection, giving the process's writer lock back after each commit and rollback."""

    writer_lock: _WriterLock
    otwatch_writer = False

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.writer_lock.end(self)

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.writer_lock.end(self)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.writer_lock.end(self)


def _sqlite_engine(url: str) -> Engine:
    lock = _WriterLock()
    factory = type("OTWatchSQLiteConnection", (_LockingConnection,), {"writer_lock": lock})
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30, "factory": factory})
    event.listen(engine, "before_cursor_execute", lock.before_execute)
    return engine


class FixedRead:
    """A SELECT compiled once per dialect and run straight on the DBAPI cursor, its row converted by
    SQLAlchemy's own result processors (the column types' ``result_processor``).

    Hand-rolled for the hottest read only (an idle check-in: one row, every node every 25 s): of an
    ``execute`` through SQLAlchemy Core, the cache key, execution context and result set were three
    quarters of the cost (py-spy of ``bench/fleet.py``, docs/benchmarks.md "Fleet"). Bound values are
    passed as they are: use it only with parameters needing no bind processing (strings, integers).
    It starts no transaction of its own on SQLite (a SELECT autocommits in sqlite3's default mode);
    on PostgreSQL the caller's connection ends it as usual.
    """

    def __init__(self, stmt: Select[*tuple[Any, ...]]) -> None:
        self.stmt = stmt
        self.row_type = namedtuple("Row", [c.key for c in stmt.selected_columns])  # type: ignore[misc]
        self._sql: dict[tuple[str, str, str], tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}
        self._procs: dict[tuple[str, str, str], list[Any]] = {}

    def _compiled(self, dialect: Dialect) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        """SQL, the order of positional parameters, and the values of the statement's own literals."""
        key = (dialect.name, dialect.driver, dialect.paramstyle)
        hit = self._sql.get(key)
        if hit is None:
            compiled = self.stmt.compile(dialect=dialect)
            order = tuple(compiled.positiontup or ()) if compiled.positional else None
            hit = self._sql[key] = (compiled.string, order, dict(compiled.params))
        return hit

    def _processors(self, dialect: Dialect, description: Any) -> list[Any]:
        """The columns' result processors; PostgreSQL's need the driver's type codes (numerics)."""
        key = (dialect.name, dialect.driver, dialect.paramstyle)
        procs = self._procs.get(key)
        if procs is None:
            procs = self._procs[key] = [
                c.type.dialect_impl(dialect).result_processor(dialect, d[1])
                for c, d in zip(self.stmt.selected_columns, description, strict=True)
            ]
        return procs

    def one_or_none(self, conn: Connection, **params: Any) -> Any:
        """The one row (attributes named like the selected columns), or None; more than one raises."""
        sql, order, literals = self._compiled(conn.dialect)
        params = {**literals, **params}
        args: Any = tuple(params[k] for k in order) if order is not None else params
        dbapi = conn.connection.driver_connection
        assert dbapi is not None
        with closing(dbapi.cursor()) as cur:
            cur.execute(sql, args)
            rows = cur.fetchmany(2)
            description = cur.description
        if not rows:
            return None
        if len(rows) > 1:
            raise ValueError("FixedRead.one_or_none: more than one row")
        procs = self._processors(conn.dialect, description)
        return self.row_type(*(v if p is None else p(v) for p, v in zip(procs, rows[0], strict=True)))


class EngineCache:
    """Values for hot paths (every check-in), read at most every ``ttl`` seconds per process and
    database. A change made in this process is seen at once where its writer calls `forget`; one
    made by another console process sharing the database within ``ttl``."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._values: weakref.WeakKeyDictionary[Engine, dict[str, tuple[float, Any]]] = (
            weakref.WeakKeyDictionary()
        )

    def get(self, engine: Engine, key: str, read: Callable[[], Any]) -> Any:
        per_engine = self._values.setdefault(engine, {})
        hit = per_engine.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        value = read()
        per_engine[key] = (now, value)
        return value

    def forget(self, engine: Engine) -> None:
        self._values.pop(engine, None)


def after_commit(session: Session, fn: Callable[[], None]) -> None:
    """Run ``fn`` after the session's current transaction commits (dropped on rollback)."""
    session.info.setdefault("after_commit", []).append(fn)


def _run_after_commit(session: Session) -> None:
    for fn in session.info.pop("after_commit", []):
        fn()


def _drop_after_commit(session: Session) -> None:
    session.info.pop("after_commit", None)


class Database:
    """Owns the engine and the session factory for one console process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        event.listen(self.sessions, "after_commit", _run_after_commit)
        event.listen(self.sessions, "after_soft_rollback", lambda s, _prev: _drop_after_commit(s))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on any error."""
        s = self.sessions()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def dispose(self) -> None:
        self.engine.dispose()
