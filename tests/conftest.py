"""Shared fixtures, cheap set-up and the test tiers.

Database tests run twice: on SQLite and on a real PostgreSQL server. Each gets a fresh copy of a
database migrated once per session (a copied file; ``CREATE DATABASE ... TEMPLATE``); a test marked
``empty_database`` gets an empty one instead, and runs the migrations from scratch. Password hashes
use argon2's cheapest parameters (``OTWATCH_ARGON2_PROFILE=test``) unless a test asks otherwise.

Tiers (``pytest_collection_modifyitems`` below): every test is marked ``fast`` or, for each reason it
is not, ``postgres``, ``browser``, ``e2e``, ``netns`` or ``slow``. ``make test-fast`` runs ``-m fast``
on SQLite; ``make test`` runs everything.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
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
from otwatch.console.db import make_engine
from otwatch.console.migrate import upgrade
from otwatch.ui.passwords import ARGON2_PROFILE_ENV
from tests import budget
from tests.pg import PostgresServer, fresh_pg_database

if TYPE_CHECKING:
    from tests.listeners import SyslogTCP, SyslogUDP

ADMIN_PASSWORD = "admin-password-1"
REPO = Path(__file__).resolve().parent.parent
CAPTURES = REPO.parent / "shared" / "captures"

# Hypothesis budgets: "ci" (the default, `make test`) is derandomised and keeps no example database,
# so a run is repeatable and bounded; HYPOTHESIS_PROFILE=fuzz is a long random campaign (e.g. nightly)
# in which every test's budget, written `examples(n)` (tests/budget.py), is multiplied.
hypothesis.settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
hypothesis.settings.register_profile(
    "fuzz", max_examples=budget.FACTORS["fuzz"] * 100, deadline=None, print_blob=True
)
hypothesis.settings.load_profile(budget.profile())

# Argon2 at full cost (64 MiB, 3 passes) is most of the price of a test admin; tests whose subject is
# the hashing switch back (tests/ui/test_passwords.py). Read at each hash, and inherited by the
# console and sensor processes the end-to-end tests start. `OTWATCH_ARGON2_PROFILE=default` runs
# the suite at full cost.
os.environ.setdefault(ARGON2_PROFILE_ENV, "test")


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


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated to head once per session, for tests to copy."""
    path = tmp_path_factory.mktemp("template") / "otwatch.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        upgrade(engine)
    finally:
        engine.dispose()  # the last connection checkpoints the WAL into the file: one file to copy
    return path


def sqlite_copy(template: Path, directory: Path) -> str:
    """The URL of a fresh copy of ``template`` in ``directory``."""
    path = directory / "otwatch.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def pg_template(pg_base_url: str) -> Iterator[str]:
    """The name of a PostgreSQL database migrated to head once per session, for tests to copy
    (named per session, so sessions sharing a server through OTWATCH_TEST_PG_URL do not collide)."""
    from sqlalchemy import create_engine, text

    name = f"tmpl_{uuid.uuid4().hex[:12]}"
    admin = create_engine(f"{pg_base_url}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(f"{pg_base_url}/{name}")
    try:
        upgrade(engine)
    finally:
        engine.dispose()  # TEMPLATE needs the template to have no connection
    try:
        yield name
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database migrated to head (a copy of the session's template); an empty one, to
    migrate from scratch, for a test marked ``empty_database``."""
    empty = request.node.get_closest_marker("empty_database") is not None
    if request.param == "sqlite":
        if empty:
            yield f"sqlite:///{tmp_path / 'otwatch.db'}"
        else:
            yield sqlite_copy(request.getfixturevalue("sqlite_template"), tmp_path)
        return
    template = None if empty else request.getfixturevalue("pg_template")
    with fresh_pg_database(request.getfixturevalue("pg_base_url"), template) as url:
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


# --- tiers ----------------------------------------------------------------------------------------
# Every test is `fast` unless one of these reasons applies; each reason is a marker of its own, so
# `-m "not browser"` or `-m postgres` select across tiers too. Applied here, by path and by the
# fixtures and helpers a test uses, so a new test is tiered without anyone remembering to.
SLOW_REASONS = ("postgres", "browser", "e2e", "netns", "slow")

#: Tests slow by themselves or starting processes the helpers above do not show (measured with
#: `--durations`, several seconds each on 2 cores): node id prefixes.
SLOW_TESTS: tuple[str, ...] = (
    "tests/protocols/bacnet/test_bacnet_fastpath.py::test_fast_path_equals_general_path_on_public_captures",
    "tests/console/test_updates_selfupdate.py::test_update_then_failed_health_check_restores",
    "tests/sensor/node/test_versions.py",  # sensor processes under the version supervisor
    "tests/sensor/node/test_snmp_agent.py",  # an SNMP agent, queried by pysnmp, seconds per test
    "tests/agent/test_agent_msi.py",  # builds the wheel (pip wheel) and the MSI (wixl)
    "tests/agent/test_trust_msi.py",  # the same
)


def _module_helpers(module: object) -> set[str]:
    """Which process-starting helpers a test module imported (by the module that defines them)."""
    from otwatch.console import devsim

    found: set[str] = set()
    peers = {id(devsim.Peer), id(devsim.modbus_peer), id(devsim.s7_peer), id(devsim.snmpsim_peer)}
    for value in vars(module).values():
        origin = getattr(value, "__module__", None)
        if origin == "tests.netns":
            found.add("netns")
        elif origin in ("tests.faults.procs", "tests.ldapserver") or id(value) in peers:
            found.add("subprocess")
    return found


def tier_reasons(item: pytest.Item) -> set[str]:
    """Why ``item`` is not a fast test (empty: it is)."""
    reasons: set[str] = set()
    rel = item.path.relative_to(REPO / "tests").as_posix()
    top = rel.split("/", 1)[0]
    fixtures = set(getattr(item, "fixturenames", ()))
    callspec = getattr(item, "callspec", None)
    helpers = _module_helpers(item.module) if isinstance(item, pytest.Function) and item.module else set()
    if top == "browser" or fixtures & {"browser", "page"}:
        reasons.add("browser")
    if top in ("e2e", "faults") or "live_console" in fixtures:
        reasons.add("e2e")  # a live console on a TLS port, or console/agent/sensor processes
    if "netns" in rel or "netns" in helpers:
        reasons.add("netns")
    if (
        (callspec is not None and callspec.params.get("db_url") == "postgresql")
        or "pg_base_url" in fixtures
        or item.get_closest_marker("postgres") is not None
    ):
        reasons.add("postgres")
    if "subprocess" in helpers or "slapd" in fixtures or item.nodeid.startswith(SLOW_TESTS):
        reasons.add("slow")  # device simulators, slapd or console processes, or slow by itself
    return reasons


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        reasons = tier_reasons(item)
        for reason in sorted(reasons) or ["fast"]:
            item.add_marker(reason)
