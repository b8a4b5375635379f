"""Issue 17, item 22 (parts): the central console sends the security headers the sensor console
already sends, and the CSV formula guard covers a leading TAB or CR."""

from __future__ import annotations

from fastapi.testclient import TestClient

from otwatch.sensor.pipeline.datamining import _cell


def test_console_sends_security_headers(admin: TestClient, client: TestClient) -> None:
    for c, path in (
        (admin, "/agents"),
        (admin, "/api/v1/agents"),
        (client, "/login"),
        (client, "/api/v1/health"),
    ):
        r = c.get(path)
        assert r.status_code == 200, path
        h = r.headers
        assert h["x-frame-options"] == "DENY", path
        assert h["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in h["content-security-policy"]
        assert h["strict-transport-security"].startswith("max-age=")
        assert "no-store" in h["cache-control"]
    assert "no-store" not in admin.get("/static/js/common.js").headers.get("cache-control", "")


def test_csv_formula_guard_covers_tab_and_cr() -> None:
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\t=1+1", "\r=1+1"):
        assert _cell(text).startswith("'"), repr(text)
    assert _cell("plain") == "plain"
