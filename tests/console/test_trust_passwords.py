"""Issue 17, item 15: a sane password policy, the first sign-in with a generated password must change
it (with a page to do so), and generated passwords go to a terminal only, never to a log."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from otwatch.console.app import create_app
from otwatch.console.bootstrap import prepare
from otwatch.console.config import Settings
from otwatch.console.context import ConsoleContext
from otwatch.ui.passwords import password_problem, reveal_generated


@pytest.fixture
def generated(tmp_path: Path, db_url: str) -> Iterator[tuple[ConsoleContext, str]]:
    ctx, pw = prepare(Settings(data_dir=tmp_path / "console", database_url=db_url, admin_password=None))
    assert pw
    yield ctx, pw
    ctx.db.dispose()


def test_first_sign_in_with_a_generated_password_must_change_it(
    generated: tuple[ConsoleContext, str],
) -> None:
    ctx, pw = generated
    with TestClient(create_app(ctx), base_url="https://testserver") as c:
        r = c.post("/api/v1/auth/login", json={"username": "admin", "password": pw})
        assert r.status_code == 200 and r.json()["must_change_password"] is True
        c.headers["X-CSRF-Token"] = r.headers["x-csrf-token"]
        r = c.get("/api/v1/agents")
        assert r.status_code == 403 and r.json()["error"]["code"] == "password_change_required"
        r = c.get("/agents", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/account/password"
        page = c.get("/account/password")
        assert page.status_code == 200 and 'data-url="/api/v1/auth/password"' in page.text
        assert c.get("/api/v1/auth/me").status_code == 200
        r = c.post("/api/v1/auth/password", json={"current_password": pw, "new_password": "Pl4nt-floor-2026"})
        assert r.status_code == 204, r.text
        assert c.get("/api/v1/agents").status_code == 200
        assert c.get("/agents", follow_redirects=False).status_code == 200


@pytest.mark.parametrize(
    "weak", ["aaaaaaaaaaaa", "password123", "Password1234", "abcdefghijkl", "123456789012", "qwertyuiop12"]
)
def test_weak_passwords_are_refused(weak: str) -> None:
    assert password_problem(weak) is not None


@pytest.mark.parametrize(
    "good", ["readonly-pass-1", "admin-password-1", "Pl4nt-floor-2026", "correct horse battery"]
)
def test_reasonable_passwords_are_accepted(good: str) -> None:
    assert password_problem(good) is None


def test_generated_passwords_reach_a_terminal_only(tmp_path: Path) -> None:
    shown = reveal_generated("admin", "S3cret-generated", tmp_path, tty=False)
    assert "S3cret-generated" not in shown
    f = tmp_path / "generated-password-admin"
    assert f.read_text().strip() == "S3cret-generated" and stat.S_IMODE(f.stat().st_mode) == 0o600
    assert str(f) in shown
    assert "S3cret-generated" in reveal_generated("admin", "S3cret-generated", tmp_path, tty=True)
