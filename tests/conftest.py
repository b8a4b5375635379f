"""Shared fixtures. Database tests run twice: on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import hypothesis
import pytest
from fastapi.testclient import TestClient

from otwatch.console.app import create_app
from otwatch.console.bootstrap import prepare
from otwatch.console.config import Settings
from otwatch.console.context import ConsoleContext
from tests.pg import PostgresServer, fresh_pg_database

if TYPE_CHECKING:
    from tests.listeners import SyslogTCP, SyslogUDP

ADMIN_PASSWORD = "admin-password-1"
REPO = Path(__file__).resolve().parent.parent
CAPTURES = REPO.parent / "shared" / "captures"

# Hypothesis budgets: "ci" (the default, `make test`) is derandomised and keeps no example database,
# so a run is repeatable and bounded; HYPOTHESIS_PROFILE=fuzz is a long random campaign (e.g. nightly).
hypothesis.settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
hypothesis.settings.register_profile("fuzz", max_examples=5000, deadline=None, print_blob=True)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def syslog_udp() -> Iterator[SyslogUDP]:
    """A syslog receiver on UDP 127.0.0.1 (tests/listeners.py); ``.port``, ``.messages``."""
    from tests.listeners import SyslogUDP

    s = SyslogUDP()
    yield s
    s.close()


@pytest.fixture
def syslog_tcp() -> Iterator[SyslogTCP]:
    """An octet-counted syslog receiver on TCP 127.0.0.1 (tests/listeners.py); ``.port``, ``.messages``,
    ``.errors``."""
    from tests.listeners import SyslogTCP

    s = SyslogTCP()
    yield s
    s.close()


@pytest.fixture(scope="session")
def pg_base_url() -> Iterator[str]:
    env = os.environ.get("OTWATCH_TEST_PG_URL")
    if env:
        yield env
        return
    server = PostgresServer()
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'otwatch.db'}"
        return
    with fresh_pg_database(request.getfixturevalue("pg_base_url")) as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "console", database_url=db_url, admin_password=ADMIN_PASSWORD, offline_after=5.0
    )


@pytest.fixture
def ctx(settings: Settings) -> Iterator[ConsoleContext]:
    c, _ = prepare(settings)
    yield c
    c.db.dispose()


def keep_csrf(c: httpx.Client) -> httpx.Client:
    """Echo the CSRF token a sign-in answers with on every later request, as the console's pages do."""

    def hook(r: httpx.Response) -> None:
        token = r.headers.get("x-csrf-token")
        if token:
            c.headers["X-CSRF-Token"] = token

    c.event_hooks["response"].append(hook)
    return c


def form_login(c: httpx.Client, username: str, password: str, **kw: Any) -> httpx.Response:
    """Sign in through the HTML form, with the CSRF token of the sign-in page as a browser would."""
    page = c.get("/login")
    m = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert m, "the sign-in page carries no CSRF token"
    return c.post("/login", data={"username": username, "password": password, "csrf": m.group(1)}, **kw)


@pytest.fixture
def client(ctx: ConsoleContext) -> Iterator[TestClient]:
    with TestClient(create_app(ctx), base_url="https://testserver") as c:
        yield keep_csrf(c)  # type: ignore[misc]


@pytest.fixture
def admin(client: TestClient) -> TestClient:
    r = client.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert r.status_code == 200, r.text
    return client
