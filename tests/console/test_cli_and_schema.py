"""The console CLI as a new user meets it, and the Alembic schema matching the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from otwatch.cli import app
from otwatch.console.context import ConsoleContext
from otwatch.console.migrate import alembic_config, current_revision
from otwatch.console.models import Base
from otwatch.wire.pairing import PairingKey

runner = CliRunner()


def test_console_help_lists_commands() -> None:
    r = runner.invoke(app, ["console", "--help"])
    assert r.exit_code == 0
    for cmd in ("run", "migrate", "fingerprint", "pairing-key", "demo"):
        assert cmd in r.output


def test_pairing_key_create_list_revoke(tmp_path: Path) -> None:
    env = {"OTWATCH_DATA_DIR": str(tmp_path), "OTWATCH_ADMIN_PASSWORD": "admin-password-1"}
    r = runner.invoke(
        app, ["console", "pairing-key", "create", "--expires-days", "30", "--description", "x"], env=env
    )
    assert r.exit_code == 0, r.output
    key = PairingKey.decode(r.output.strip().splitlines()[-1])
    fp = runner.invoke(app, ["console", "fingerprint"], env=env)
    assert fp.output.strip() == key.fingerprint
    sha1 = runner.invoke(app, ["console", "fingerprint", "--sha1"], env=env).output.strip()
    assert len(sha1.split(":")) == 20 and sha1 != key.fingerprint[: len(sha1)]
    listed = runner.invoke(app, ["console", "pairing-key", "list"], env=env)
    assert key.key_id[:8] in listed.output
    assert runner.invoke(app, ["console", "pairing-key", "revoke", key.key_id], env=env).exit_code == 0
    bad = runner.invoke(app, ["console", "pairing-key", "revoke", "nope"], env=env)
    assert bad.exit_code == 1 and "not found" in bad.output
    assert (
        runner.invoke(app, ["console", "pairing-key", "create", "--expires-days", "0"], env=env).exit_code
        == 2
    )


@pytest.mark.empty_database  # the migrations run from scratch, on both legs, not from the template
def test_migrations_match_models(ctx: ConsoleContext) -> None:
    head = ScriptDirectory.from_config(alembic_config(str(ctx.db.engine.url))).get_current_head()
    assert head is not None and head[:4].isdigit() and current_revision(ctx.db.engine) == head
    with ctx.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
