"""``otwatch console update FILE``: verify, back up, migrate with the new code, health-check, switch —
and restore the backup when the new version fails its health check (SQLite and PostgreSQL)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select
from typer.testing import CliRunner

from otwatch.cli import app
from otwatch.console import selfupdate
from otwatch.console.audit.models import AuditEntry
from otwatch.console.config import Settings
from otwatch.console.context import ConsoleContext
from otwatch.console.migrate import alembic_config, current_revision
from otwatch.console.networks.models import MonitoredNetwork
from otwatch.wire import package
from tests.sensor.node.test_versions import KEY, PUB, code_tree

runner = CliRunner()
HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()

MIGRATION = '''"""probe {n}"""
import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("selfupdate_probe_{n}", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("selfupdate_probe_{n}")
'''
BROKEN_APP = """

def create_app(ctx):  # noqa: F811
    raise RuntimeError("broken build: the web app does not start")
"""


def console_pkg(
    version: str, min_version: str, revs: list[str], app_extra: str = "", server_extra: str = ""
) -> bytes:
    """The console code of ``version``: this checkout plus migrations ``revs``, one after the other."""
    files = code_tree(version)
    for down, rev in zip([HEAD, *revs], revs, strict=False):
        mig = MIGRATION.format(n=rev, rev=rev, down=down)
        files[f"lib/otwatch/console/migrations/versions/{rev}_probe.py"] = mig.encode()
    if app_extra:
        files["lib/otwatch/console/app.py"] += app_extra.encode()
    if server_extra:
        files["lib/otwatch/console/server.py"] += server_extra.encode()
    return package.build("console", version, min_version, files, KEY)


@pytest.fixture
def console(ctx: ConsoleContext, settings: Settings) -> Settings:
    keys = settings.data_dir / "release-keys"
    keys.mkdir()
    (keys / "release.pub").write_bytes(PUB)
    with ctx.db.session() as db:  # data that must survive every update and every restore
        db.add(MonitoredNetwork(cidr="10.1.0.0/16", description="plant"))
    return settings


def _update(settings: Settings, tmp_path: Path, data: bytes, name: str = "p.tar") -> tuple[int, str]:
    f = tmp_path / name
    f.write_bytes(data)
    env = {"OTWATCH_DATABASE_URL": settings.resolved_database_url}
    r = runner.invoke(app, ["console", "update", str(f), "--data-dir", str(settings.data_dir)], env=env)
    return r.exit_code, r.output


def _db_state(settings: Settings) -> tuple[str | None, set[str], list[str], list[str]]:
    engine = create_engine(settings.resolved_database_url)
    try:
        with engine.connect() as conn:
            tables = {t for t in inspect(conn).get_table_names() if t.startswith("selfupdate_probe")}
            nets = list(conn.scalars(select(MonitoredNetwork.cidr)))
            actions = list(
                conn.scalars(
                    select(AuditEntry.action)
                    .where(AuditEntry.action.like("console.%"))
                    .order_by(AuditEntry.at)
                )
            )
        return current_revision(engine), tables, nets, actions
    finally:
        engine.dispose()


def test_update_then_failed_health_check_restores(console: Settings, tmp_path: Path) -> None:
    code, output = _update(console, tmp_path, console_pkg("0.2.0", "0.1.0", ["0901"]))
    assert code == 0, output
    assert "verified management-secured-patcher-0.2.0.tar" in output and "0.1.0 -> 0.2.0" in output
    assert "database backed up to" in output and "health check of 0.2.0 passed" in output
    versions = selfupdate.ConsoleVersions(console)
    assert versions.current_version() == "0.2.0" and versions.installed_version() == "0.2.0"
    assert _db_state(console) == ("0901", {"selfupdate_probe_0901"}, ["10.1.0.0/16"], ["console.updated"])
    assert len(list((console.data_dir / "backups").iterdir())) == 1
    found = selfupdate.reexec_argv(console)  # `console run` now starts the installed version's code
    assert found is not None and found[1]["PYTHONPATH"].startswith(
        str(console.data_dir / "console-versions/0.2.0/lib")
    )

    broken = console_pkg("0.3.0", "0.2.0", ["0901", "0902"], BROKEN_APP)
    code, output = _update(console, tmp_path, broken)
    assert code == 1
    assert "migrations of 0.3.0 applied" in output  # the new schema was in place ...
    assert "health check of 0.3.0 failed: RuntimeError: broken build" in output
    assert "database restored from" in output  # ... and was rolled back with the backup
    assert _db_state(console) == (
        "0901",
        {"selfupdate_probe_0901"},
        ["10.1.0.0/16"],
        ["console.updated", "console.update_failed"],
    )
    assert (
        versions.current_version() == "0.2.0" and not (console.data_dir / "console-versions/0.3.0").exists()
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        ("flip", "does not match its SHA-256"),
        ("wrong_key", "signature does not match any trusted release key"),
        ("downgrade", "not newer than the installed 0.1.0"),
        ("below_min", "upgrades from 0.0.9 or later"),
        ("sensor", "this is a sensor package, not a console package"),
    ],
)
def test_refused_packages_change_nothing(console: Settings, tmp_path: Path, make: str, message: str) -> None:
    if make == "flip":
        raw = bytearray(console_pkg("0.2.0", "0.1.0", ["0901"]))
        raw[bytes(raw).index(b"def upgrade() -> None:\n    op.create_table")] ^= 0x01
        data = bytes(raw)
    elif make == "wrong_key":
        other = package.load_private(package.generate_release_key()[0])
        data = package.build("console", "0.2.0", "0.1.0", code_tree("0.2.0"), other)
    elif make == "downgrade":
        data = package.build("console", "0.0.5", "0.0.1", code_tree("0.0.5"), KEY)
    elif make == "below_min":
        data = package.build("console", "0.2.0", "0.1.5", code_tree("0.2.0"), KEY)
        message = "upgrades from 0.1.5 or later; 0.1.0 is installed"
    else:
        data = package.build("sensor", "0.2.0", "0.1.0", code_tree("0.2.0"), KEY)
    code, output = _update(console, tmp_path, data)
    assert code == 1 and message in output and "nothing was changed" in output
    assert _db_state(console) == (HEAD, set(), ["10.1.0.0/16"], ["console.update_failed"])
    assert not (console.data_dir / "backups").exists() and not (console.data_dir / "console-current").exists()


def test_postgresql_without_pg_dump_is_refused(
    console: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not console.resolved_database_url.startswith("postgresql"):
        pytest.skip("the pg_dump rule is PostgreSQL's")
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda c: None if c == "pg_dump" else real_which(c))
    code, output = _update(console, tmp_path, console_pkg("0.2.0", "0.1.0", ["0901"]))
    assert code == 1 and "pg_dump is not installed" in output
    assert _db_state(console)[:3] == (HEAD, set(), ["10.1.0.0/16"])
    assert not (console.data_dir / "console-versions/0.2.0").exists()
