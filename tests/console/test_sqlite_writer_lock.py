"""The console's SQLite writers queue on a process lock instead of SQLite's sleeping busy handler."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import text

from otwatch.console.db import make_engine


def _engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    with engine.begin() as c:
        c.execute(text("CREATE TABLE t (n INTEGER)"))
    return engine


def test_second_writer_waits_for_the_first_without_sqlite_busy(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    first_wrote, second_done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def second() -> None:
        first_wrote.wait(5)
        try:
            with engine.connect() as c:
                c.exec_driver_sql("PRAGMA busy_timeout=0")  # SQLite's own wait would fail at once
                c.execute(text("INSERT INTO t VALUES (2)"))
                c.commit()
        except BaseException as exc:
            errors.append(exc)
        second_done.set()

    worker = threading.Thread(target=second)
    worker.start()
    with engine.connect() as c:
        c.exec_driver_sql("PRAGMA busy_timeout=0")
        c.execute(text("INSERT INTO t VALUES (1)"))
        first_wrote.set()
        time.sleep(0.3)
        assert not second_done.is_set()  # queued behind this open write transaction
        c.commit()
    worker.join(5)
    assert not errors, errors
    with engine.connect() as c:
        assert sorted(c.execute(text("SELECT n FROM t")).scalars()) == [1, 2]


def test_lock_is_given_back_on_rollback_error_and_close(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    with engine.connect() as c:
        c.execute(text("INSERT INTO t VALUES (1)"))
        c.rollback()
    try:
        with engine.begin() as c:
            c.execute(text("INSERT INTO t VALUES (2)"))
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    with engine.connect() as c:  # returned to the pool without commit or rollback
        c.execute(text("INSERT INTO t VALUES (3)"))
    done = threading.Event()

    def writer() -> None:
        with engine.begin() as c:
            c.execute(text("INSERT INTO t VALUES (4)"))
        done.set()

    t = threading.Thread(target=writer)
    t.start()
    t.join(5)
    assert done.is_set()  # another thread could take the lock: nothing above kept it
    with engine.connect() as c:
        assert list(c.execute(text("SELECT n FROM t")).scalars()) == [4]


def test_reads_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    with engine.begin() as c:
        c.execute(text("INSERT INTO t VALUES (1)"))
    with engine.connect() as w:
        w.execute(text("INSERT INTO t VALUES (2)"))  # holds the writer lock, uncommitted
        got: list[int] = []
        t = threading.Thread(
            target=lambda: got.extend(engine.connect().execute(text("SELECT n FROM t")).scalars())
        )
        t.start()
        t.join(5)
        assert got == [1]  # WAL: the reader sees the committed row and is not blocked
        w.commit()
