"""`FixedRead` (the idle check-in's hand-run SELECT) reads exactly what SQLAlchemy reads, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import bindparam, select

from otwatch.console.context import ConsoleContext
from otwatch.console.db import FixedRead, utcnow
from otwatch.console.fleet import checkins
from otwatch.console.fleet.models import Node


def _nodes(ctx: ConsoleContext) -> tuple[str, str]:
    now = utcnow()
    with ctx.db.session() as db:
        full = Node(
            kind="sensor",
            install_id="full",
            hostname="plc-gw-01",
            version="1.2.3",
            approved_at=now - timedelta(days=2),
            configured_at=now - timedelta(days=1, microseconds=17),
            paused=True,
            first_seen=now - timedelta(hours=5),
            last_seen=now,
            clock_skew=-3.25,
            disconnect_reason="time drift detected",
            activity="updating",
            progress={"percent": 40, "steps": ["download", "verify"], "note": "ünïcode"},
            config_version=7,
            config_acked=6,
            cert_serial="abc123",
        )
        bare = Node(kind="agent", install_id="bare")  # NULL datetimes, empty JSON, defaults
        db.add_all([full, bare])
        db.flush()
        return full.id, bare.id


def test_rows_equal_sqlalchemys_on_both_databases(ctx: ConsoleContext) -> None:
    ids = _nodes(ctx)
    by_id = checkins._IDLE_SELECT.where(Node.id == bindparam("node_id"))
    read = FixedRead(by_id)
    with ctx.db.engine.connect() as conn:
        for node_id in ids:
            mine = read.one_or_none(conn, node_id=node_id)
            theirs = conn.execute(by_id, {"node_id": node_id}).one()
            assert tuple(mine) == tuple(theirs)
            assert mine._fields == tuple(theirs._fields)
            assert mine.last_seen is None or mine.last_seen.tzinfo is not None  # UTCDateTime ran
        full = read.one_or_none(conn, node_id=ids[0])
        assert full.progress["steps"] == ["download", "verify"] and full.paused is True
        assert read.one_or_none(conn, node_id="no-such-node") is None


def test_more_than_one_row_is_an_error(ctx: ConsoleContext) -> None:
    _nodes(ctx)
    read = FixedRead(select(Node.id).where(Node.kind != bindparam("kind")))
    with ctx.db.engine.connect() as conn, pytest.raises(ValueError, match="more than one row"):
        read.one_or_none(conn, kind="nothing")
