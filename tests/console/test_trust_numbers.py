"""Issue 17, item 3: Infinity, NaN and wrong types from nodes are refused at the wire or stored typed;
no page answers 500 for every user because of one node."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from otwatch.console.context import ConsoleContext
from otwatch.console.web.render import format_duration
from otwatch.ui import overview
from tests.console.helpers import FakeAgent
from tests.console.test_alerts import _alert
from tests.console.test_fleet import _connected_agent
from tests.console.test_trust_duplicates import _sensor


def _raw_checkin(node: FakeAgent, body: dict[str, Any]) -> int:
    """A check-in sent as raw JSON text (``Infinity`` and ``NaN`` are JSON extensions Python emits)."""
    text = json.dumps({"client_time": datetime.now(UTC).isoformat(), **body})
    with node.mtls() as c:
        r = c.post("/api/v1/wire/checkin", content=text, headers={"content-type": "application/json"})
    return r.status_code


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_non_finite_numbers_are_refused_and_pages_stay_up(
    admin: TestClient, ctx: ConsoleContext, bad: float
) -> None:
    agent = _connected_agent(admin, ctx)
    admin.post(f"/api/v1/agents/{agent.node_id}/scan")
    cid = agent.checkin()["commands"][0]["id"]
    result = {"asset_count": 1, "duration": bad, "started_at": datetime.now(UTC).isoformat()}
    assert _raw_checkin(agent, {"results": [{"id": cid, "state": "done", "result": result}]}) == 422
    assert _raw_checkin(agent, {"progress": {"done": bad}, "activity": "scanning"}) == 422
    assert admin.get("/api/v1/agents").status_code == 200
    assert admin.get("/agents").status_code == 200
    s = _sensor(admin, ctx)
    stats = {"packets": bad, "bytes": 1}
    assert _raw_checkin(s, {"reports": [{"id": "s1", "kind": "stats", "stats": stats}]}) == 422
    alert = _alert("1", details={"x": bad})
    assert _raw_checkin(s, {"reports": [{"id": "a1", "kind": "alerts", "alerts": [alert]}]}) == 422
    assert admin.get(f"/sensors/{s.node_id}").status_code == 200
    assert admin.get(f"/api/v1/sensors/{s.node_id}").status_code == 200


def test_wrong_types_in_a_command_result_are_not_a_500(admin: TestClient, ctx: ConsoleContext) -> None:
    agent = _connected_agent(admin, ctx)
    admin.post(f"/api/v1/agents/{agent.node_id}/scan")
    cid = agent.checkin()["commands"][0]["id"]
    result = {"asset_count": "many", "duration": "abc", "started_at": "yesterday"}
    status = _raw_checkin(agent, {"results": [{"id": cid, "state": "done", "result": result}]})
    assert status in (200, 422)
    node = admin.get(f"/api/v1/agents/{agent.node_id}").json()
    assert node["last_scan_duration"] is None and node["last_scan_result"] == "Completed"
    assert admin.get("/agents").status_code == 200


def test_formatters_are_safe_with_non_finite_and_odd_values() -> None:
    assert format_duration(math.inf) == "—" and format_duration(math.nan) == "—"
    assert format_duration("abc") == "—"  # type: ignore[arg-type]
    stats = {"packets": math.inf, "bytes": math.nan, "protocols": {"modbus": math.inf, "s7": "x"}}
    overview.summary(stats)
    overview.top_protocols(stats)


def test_a_node_drops_non_finite_numbers_from_what_it_builds() -> None:
    """The sensor cleans the statistics and details it sends, so one odd division does not stop its
    reports (the console would refuse them)."""
    from otwatch.wire.messages import Report, finite_only

    stats = finite_only({"rate": math.inf, "nested": {"x": [1.0, math.nan]}, "ok": 2})
    assert stats == {"rate": None, "nested": {"x": [1.0, None]}, "ok": 2}
    Report(id="r", kind="stats", stats=stats)
