"""The cheap check-in path, and why it stays correct with several console processes on one database.

"Another console process" is a second ConsoleContext on the same database here (its own serial cache,
notifier and settings cache); tests/console/test_scaleout_processes.py runs real processes.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509
from fastapi.testclient import TestClient
from sqlalchemy import event, update

from otwatch.console.bootstrap import prepare
from otwatch.console.config import Settings
from otwatch.console.context import ConsoleContext
from otwatch.console.db import utcnow
from otwatch.console.fleet import certificates, checkins, lifecycle, nodes
from otwatch.console.fleet.models import Command, IssuedCertificate, Node
from otwatch.console.fleet.notify import IdleState, Notifier
from otwatch.console.updates import service as updates
from otwatch.wire import pki
from otwatch.wire.messages import CheckinRequest
from tests.console.helpers import FakeAgent, new_key
from tests.console.test_fleet import _connected_agent


@contextmanager
def statements(ctx: ConsoleContext) -> Iterator[list[str]]:
    seen: list[str] = []

    def listen(_c: Any, _cur: Any, sql: str, *_: Any) -> None:
        seen.append(" ".join(sql.split()))

    event.listen(ctx.db.engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", listen)


def writes(sql: list[str]) -> list[str]:
    return [s for s in sql if re.match(r"(INSERT|UPDATE|DELETE)\b", s)]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A minute's offline_after, so the liveness slack (10 s) outlasts a slow test machine."""
    return settings.model_copy(update={"offline_after": 60.0})


@pytest.fixture
def other(settings: Settings) -> Iterator[ConsoleContext]:
    """A second console (process) on the same database and data directory."""
    c, _ = prepare(settings)
    yield c
    c.notifier.close()
    c.db.dispose()


def test_idle_checkin_reads_one_row_and_writes_nothing(admin: TestClient, ctx: ConsoleContext) -> None:
    agent = _connected_agent(admin, ctx)
    agent.checkin()  # learns the serial and that no command is open
    with statements(ctx) as sql:
        assert agent.checkin()["status"] == "Connected"
    assert writes(sql) == []
    assert not [s for s in sql if "issued_certificates" in s or "FROM node_commands" in s], sql
    # a command queued now is still delivered on the very next check-in
    assert admin.post(f"/api/v1/agents/{agent.node_id}/scan").status_code == 202
    assert [c["type"] for c in agent.checkin()["commands"]] == ["scan"]


def _age_last_seen(ctx: ConsoleContext, node_id: str, seconds: float) -> Any:
    with ctx.db.session() as db:
        node = db.get(Node, node_id)
        assert node is not None and node.last_seen is not None
        node.last_seen -= timedelta(seconds=seconds)  # as if the last write was that long ago
        return node.last_seen


def _last_seen(ctx: ConsoleContext, node_id: str) -> Any:
    with ctx.db.session() as db:
        node = db.get(Node, node_id)
        assert node is not None
        return node.last_seen


@pytest.fixture
def held_liveness(ctx: ConsoleContext, monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Liveness notes stay pending (the test clients' app shutdown would flush them); returns the
    real flush."""
    flush = ctx.liveness.flush
    monkeypatch.setattr(ctx.liveness, "flush", lambda wait=False: 0)
    return flush


def test_last_seen_written_when_it_moved_and_status_holds(
    admin: TestClient, ctx: ConsoleContext, held_liveness: Callable[[], int]
) -> None:
    agent = _connected_agent(admin, ctx)
    slack = checkins.last_seen_slack(ctx.settings.offline_after)
    assert 0 < slack <= ctx.settings.offline_after / 6
    before = _age_last_seen(ctx, agent.node_id, slack + 0.5)
    with statements(ctx) as sql:
        agent.checkin()
    assert writes(sql) == [] and ctx.liveness.pending() == 1  # noted, not written by the check-in
    assert _last_seen(ctx, agent.node_id) == before
    assert held_liveness() == 1  # one executemany UPDATE for every noted node
    with ctx.db.session() as db:
        node = db.get(Node, agent.node_id)
        assert node is not None and node.last_seen is not None and node.last_seen > before
        written = node.last_seen
    agent.checkin()  # within the slack: nothing written, status unchanged
    with ctx.db.session() as db:
        node = db.get(Node, agent.node_id)
        assert node is not None and node.last_seen == written
        assert nodes.status_of(ctx, node).value == "Connected"


def test_liveness_far_from_the_last_write_is_written_at_once(
    admin: TestClient, ctx: ConsoleContext, held_liveness: Callable[[], int]
) -> None:
    """A node a third of offline_after away from its stored last_seen (coming back, or a console
    that was busy) is written by its own check-in, not left to the batch."""
    agent = _connected_agent(admin, ctx)
    before = _age_last_seen(ctx, agent.node_id, ctx.settings.offline_after / 3 + 1)
    agent.checkin()
    assert ctx.liveness.pending() == 0 and _last_seen(ctx, agent.node_id) > before


def test_liveness_batch_never_moves_last_seen_back(admin: TestClient, ctx: ConsoleContext) -> None:
    agent = _connected_agent(admin, ctx)
    now = _last_seen(ctx, agent.node_id)
    ctx.liveness.every = 3600.0
    ctx.liveness.note(agent.node_id, now - timedelta(seconds=30))  # e.g. another process wrote later
    ctx.liveness.note("no-such-node", now)
    assert ctx.liveness.flush() == 2
    assert _last_seen(ctx, agent.node_id) == now


def test_liveness_note_flushes_once_a_second_has_passed(admin: TestClient, ctx: ConsoleContext) -> None:
    agent = _connected_agent(admin, ctx)
    before = _age_last_seen(ctx, agent.node_id, 20)
    ctx.liveness.every = 3600.0  # not due yet: kept
    ctx.liveness.note(agent.node_id, utcnow())
    assert ctx.liveness.pending() == 1 and _last_seen(ctx, agent.node_id) == before
    ctx.liveness.every = 0.0  # as if the second had passed
    ctx.liveness.note(agent.node_id, utcnow())
    assert ctx.liveness.pending() == 0 and _last_seen(ctx, agent.node_id) > before


@pytest.mark.parametrize("how", ["delete", "repair", "goodbye"])
def test_revocation_by_another_process_refuses_the_cached_certificate(
    admin: TestClient, ctx: ConsoleContext, other: ConsoleContext, how: str
) -> None:
    agent = _connected_agent(admin, ctx)
    agent.checkin()  # the serial -> node id mapping is now cached in this process
    assert certificates.cached_node_id(agent_serial(agent)) == agent.node_id
    with other.db.session() as db:
        node = nodes.get_node(db, agent.node_id or "")
        if how == "delete":
            lifecycle.delete_node(db, "admin", node)
        elif how == "goodbye":
            lifecycle.goodbye(db, node, "uninstalled")
        else:  # what repair does to the old certificate (a new one is issued), by the other process
            db.execute(
                update(IssuedCertificate)
                .where(IssuedCertificate.node_id == node.id)
                .values(revoked_at=utcnow())
            )
            node.cert_serial = "0" * 32
    # the other process's change must be seen although this process still has the serial cached
    certificates._SERIAL_NODE[agent_serial(agent)] = agent.node_id or ""
    with agent.mtls() as c:
        r = c.post("/api/v1/wire/checkin", json={"client_time": "2026-01-01T00:00:00Z", "config_version": 0})
    assert r.status_code == 401 and r.json()["error"]["code"] == "certificate_revoked", r.text


def agent_serial(agent: Any) -> str:
    from cryptography import x509

    from otwatch.wire import pki

    return pki.serial_hex(x509.load_pem_x509_certificate(agent.cert_pem.encode()))


def test_auto_update_setting_is_cached_but_changes_here_are_seen_at_once(
    admin: TestClient, ctx: ConsoleContext
) -> None:
    from otwatch.console.settings import service as settings

    with ctx.db.session() as db:
        assert settings.cached(db, "auto_update") is False
    assert admin.patch("/api/v1/fleet/settings", json={"auto_update": True}).status_code == 200
    with ctx.db.session() as db, statements(ctx) as sql:
        assert settings.cached(db, "auto_update") is True
        assert settings.cached(db, "auto_update") is True
    assert len([s for s in sql if "FROM settings" in s]) == 1  # the second read came from the cache


def test_idle_marker_never_hides_a_wake_that_raced_with_the_query() -> None:
    n = Notifier()
    token = n.idle_token("a")
    n.wake("a")  # a command committed while the check-in was querying
    n.mark_idle("a", token)
    assert n.maybe_pending("a")
    token = n.idle_token("a")
    n.mark_idle("a", token)
    assert not n.maybe_pending("a")
    n.wake("a")
    assert n.maybe_pending("a")
    n.mark_idle("a", n.idle_token("a"))
    n.IDLE_TTL = -1.0  # an old mark is not trusted
    assert n.maybe_pending("a")


def test_idle_checkin_is_one_fixed_select_answering_as_the_full_path(
    admin: TestClient, ctx: ConsoleContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = _connected_agent(admin, ctx)
    full = agent.checkin()  # full path: learns the serial and that no command is open
    reads: list[dict[str, Any]] = []
    fixed = checkins._IDLE_READ.one_or_none

    def counted(conn: Any, **params: Any) -> Any:
        reads.append(params)
        return fixed(conn, **params)

    monkeypatch.setattr(checkins._IDLE_READ, "one_or_none", counted)
    with statements(ctx) as sql:
        idle = agent.checkin()
    sql = [s for s in sql if "FROM deliveries" not in s]  # the background forwarding worker's poll
    assert sql == []  # nothing through SQLAlchemy: no ORM load, no write ...
    assert reads == [{"node_id": full["node_id"]}]  # ... only the one fixed read of the node's row
    sql_text = checkins._IDLE_READ._compiled(ctx.db.engine.dialect)[0]
    assert " FROM nodes WHERE nodes.id = " in " ".join(sql_text.split())
    assert {k: idle[k] for k in ("node_id", "status", "config_version", "config", "commands")} == {
        k: full[k] for k in ("node_id", "status", "config_version", "config", "commands")
    }


@pytest.mark.parametrize(
    "change",
    ["version", "hostname", "activity", "clock", "config"],
)
def test_idle_checkin_steps_aside_when_anything_changes(
    admin: TestClient, ctx: ConsoleContext, change: str
) -> None:
    """Each thing the full path would write or deliver still is, with the idle path in place."""
    agent = _connected_agent(admin, ctx)
    agent.checkin()
    agent.checkin()  # now on the idle path
    if change == "version":
        agent.checkin(version="9.9.9")
        with ctx.db.session() as db:
            assert (node := db.get(Node, agent.node_id)) is not None and node.version == "9.9.9"
    elif change == "hostname":
        agent.checkin(hostname="renamed-host")
        with ctx.db.session() as db:
            assert (node := db.get(Node, agent.node_id)) is not None and node.hostname == "renamed-host"
    elif change == "activity":
        resp = agent.checkin(activity="scanning", progress={"percent": 40})
        assert resp["status"] == "Scanning"
    elif change == "clock":
        agent.checkin(client_time=(utcnow() + timedelta(seconds=30)).isoformat())
        with ctx.db.session() as db:
            assert (node := db.get(Node, agent.node_id)) is not None and node.clock_skew > 20
    else:
        r = admin.put(
            f"/api/v1/agents/{agent.node_id}/configuration",
            json={"name": "renamed", "active_query_networks": ["10.20.2.0/24"]},
        )
        assert r.status_code == 200, r.text
        assert agent.checkin()["config"] is not None


def test_idle_checkin_on_sqlite_is_answered_on_the_loop_even_over_budget(
    admin: TestClient, ctx: ConsoleContext
) -> None:
    """SQLite: an idle check-in never waits for the thread pool, so a console whose check-in budget is
    taken by heavy check-ins still answers the idle ones; one with results gets 503 busy. PostgreSQL
    keeps every read off the loop."""
    agent = _connected_agent(admin, ctx)
    agent.checkin()
    held = 0
    while ctx.checkin_budget.acquire(blocking=False):
        held += 1
    try:
        body = {"client_time": utcnow().isoformat(), "config_version": agent.config_version}
        with agent.mtls() as c:
            idle = c.post("/api/v1/wire/checkin", json=body)
            busy = c.post("/api/v1/wire/checkin", json={**body, "results": [{"id": "x", "state": "done"}]})
    finally:
        for _ in range(held):
            ctx.checkin_budget.release()
    assert busy.status_code == 503 and busy.headers["Retry-After"]
    expected = 200 if ctx.db.engine.dialect.name == "sqlite" else 503
    assert idle.status_code == expected, idle.text

    # turned away, but not silent: its liveness is noted (it stays Connected while it backs off)
    before = _age_last_seen(ctx, agent.node_id, 12)  # past the slack (10 s), short of a third (20 s)
    held = 0
    while ctx.checkin_budget.acquire(blocking=False):
        held += 1
    try:
        with agent.mtls() as c:
            busy = c.post("/api/v1/wire/checkin", json={**body, "results": [{"id": "y", "state": "done"}]})
    finally:
        for _ in range(held):
            ctx.checkin_budget.release()
    ctx.liveness.flush()  # (the test client's shutdown may have flushed already)
    assert busy.status_code == 503 and _last_seen(ctx, agent.node_id) > before


def _connected_sensor(admin: TestClient, ctx: ConsoleContext) -> FakeAgent:
    sensor = FakeAgent(ctx, admin.app, kind="sensor")
    sensor.enroll(admin, new_key(admin))
    admin.post(f"/api/v1/sensors/{sensor.node_id}/approve")
    sensor.checkin()
    sensor.checkin()  # learns the serial and that no command is open
    return sensor


def _stats(n: int, intel: str | None = None) -> dict[str, Any]:
    stats: dict[str, Any] = {"summary": {"packets": n}}
    if intel:
        stats["system"] = {"threat_intel": {"version": intel}}
    return {"id": uuid.uuid4().hex, "kind": "stats", "stats": stats}


def _stored_stats(ctx: ConsoleContext, node_id: str | None) -> Any:
    with ctx.db.session() as db:
        node = db.get(Node, node_id)
        assert node is not None
        return node.stats


def test_sensor_statistics_are_batched_and_stored_before_the_answer(
    admin: TestClient, ctx: ConsoleContext
) -> None:
    """A sensor's statistics-only check-in reads one row (no ORM load) and its statistics go into the
    liveness batch; the answer waits until they are committed (the sensor drops them once answered)."""
    sensor = _connected_sensor(admin, ctx)
    ctx.liveness.every = 3600.0  # no flush falls due by itself
    updates.newest_version(ctx, "threat-intel")  # cached for a few seconds (read once per process)
    with statements(ctx) as sql:
        sensor.checkin(reports=[_stats(1), _stats(2)])
    sql = [s for s in sql if "FROM deliveries" not in s]
    assert not [s for s in sql if s.startswith("SELECT")], sql  # the fixed read only
    set_columns = [m.group(1) for s in writes(sql) if (m := re.match(r"UPDATE nodes SET (\w+)=", s))]
    assert set_columns == ["last_seen", "stats"] and len(writes(sql)) == 2, sql  # the batch, written
    assert _stored_stats(ctx, sensor.node_id) == _stats(2)["stats"]  # the newest of the two
    assert ctx.liveness.pending() == 0 and not ctx.liveness.holds(sensor.node_id or "")


def test_batched_statistics_never_overwrite_newer_ones(admin: TestClient, ctx: ConsoleContext) -> None:
    """Statistics noted in the batch (a long-poll still held) and then newer ones on the full path
    (with alerts): the batch is written first, so the newer ones stay."""
    sensor = _connected_sensor(admin, ctx)
    node_id = sensor.node_id
    assert node_id is not None and sensor.cert_pem is not None
    serial = pki.serial_hex(x509.load_pem_x509_certificate(sensor.cert_pem.encode()))
    ctx.liveness.every = 3600.0
    req = CheckinRequest.model_validate({"client_time": utcnow().isoformat(), "reports": [_stats(1)]})
    assert checkins.idle_checkin(ctx, node_id, serial, req) is not None
    assert ctx.liveness.holds(node_id)  # noted, not written
    alert = {
        "key": "k1",
        "code": "TEST",
        "engine": "Anomaly",
        "severity": "Minor",
        "title": "t",
        "first_seen": utcnow().isoformat(),
        "last_seen": utcnow().isoformat(),
    }
    sensor.checkin(reports=[{"id": uuid.uuid4().hex, "kind": "alerts", "alerts": [alert]}, _stats(2)])
    ctx.liveness.flush()
    assert _stored_stats(ctx, node_id) == _stats(2)["stats"]


def test_statistics_step_aside_for_a_threat_intel_offer(
    admin: TestClient, ctx: ConsoleContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Statistics naming an older threat-intelligence package (or none) than the newest uploaded take
    the full path, which offers it; naming the newest, the batched path."""
    sensor = _connected_sensor(admin, ctx)
    node_id = sensor.node_id
    assert node_id is not None and sensor.cert_pem is not None
    serial = pki.serial_hex(x509.load_pem_x509_certificate(sensor.cert_pem.encode()))

    def idle(intel: str | None) -> bool:
        req = CheckinRequest.model_validate(
            {"client_time": utcnow().isoformat(), "reports": [_stats(1, intel)]}
        )
        return checkins.idle_checkin(ctx, node_id, serial, req) is not None

    assert idle(None)  # no package uploaded
    monkeypatch.setattr(updates, "newest_version", lambda _ctx, kind: "2026.11.1")
    assert not idle(None) and not idle("2026.10.9")
    assert idle("2026.11.1")


def test_an_aged_idle_marker_costs_one_read_not_the_full_path(
    admin: TestClient, ctx: ConsoleContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the notifier is unsure (marker aged, console just started), an idle check-in reads whether
    a command is open and stays on the idle path if none is; a command a writer queued without waking
    the node is still delivered then."""
    agent = _connected_agent(admin, ctx)
    node_id = agent.node_id
    assert node_id is not None
    agent.checkin()
    assert ctx.notifier.idle_state(node_id) is IdleState.IDLE
    monkeypatch.setattr(ctx.notifier, "IDLE_TTL", -1.0)  # every marker aged
    assert ctx.notifier.idle_state(node_id) is IdleState.UNSURE
    with statements(ctx) as sql:
        agent.checkin()
    assert not [s for s in sql if "FROM deliveries" not in s], sql  # fixed reads only, no full path
    monkeypatch.setattr(ctx.notifier, "IDLE_TTL", 60.0)
    assert ctx.notifier.idle_state(node_id) is IdleState.IDLE  # marked again by that read
    with ctx.db.session() as db:  # a writer that forgot to wake the node
        db.add(Command(node_id=node_id, type="scan", expires_at=utcnow() + timedelta(hours=1)))
    assert agent.checkin()["commands"] == []  # trusted marker: the cost of forgetting, bounded by ...
    monkeypatch.setattr(ctx.notifier, "IDLE_TTL", -1.0)
    assert [c["type"] for c in agent.checkin()["commands"]] == ["scan"]  # ... the marker's age
