"""Review of the console update from the Updates page (findings 23 and 28): Apply is refused while
another console process serves from the same data directory; the processes of an update never import
code from the working directory.

docs/deployment.md says Apply is "not supported" with several console processes (the documented
systemd layout runs two, otwatch-console@8441 and @8442, on one data directory): the supervisor stops
and restarts only the process that received Apply, so the others would serve the old code on a
migrated database, and a rollback would restore the backup under their feet. It was only written
down; Apply went ahead."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from otwatch.console import handover
from otwatch.console.context import ConsoleContext
from otwatch.console.selfupdate import ConsoleVersions
from otwatch.wire import package
from tests.console.test_updates_console_apply import _upload, keys
from tests.console.test_updates_selfupdate import console_pkg

__all__ = ["keys"]  # the fixture


def test_apply_refused_while_another_console_serves_the_data_directory(
    admin: TestClient, ctx: ConsoleContext, keys: None
) -> None:
    good = _upload(admin, console_pkg("0.2.0", "0.1.0", []))
    admin.app.state.restart_command = [sys.executable, "-m", "otwatch", "console", "run"]  # type: ignore[attr-defined]
    other = handover.Presence(ctx.settings)  # a second console process on the same data directory
    other.hold()
    try:
        r = admin.post("/api/v1/updates/console/apply", json={"package_id": good})
        assert r.status_code == 409, r.text
        message = r.json()["error"]["message"]
        assert "another console process" in message and "otwatch console update" in message
        assert handover.current(ctx.settings) is None  # no supervisor was started
    finally:
        other.release()
        del admin.app.state.restart_command  # type: ignore[attr-defined]
    # the console's own presence (held while it serves) does not count against it
    mine = admin.app.state.presence  # type: ignore[attr-defined]
    assert isinstance(mine, handover.Presence) and not mine.others_present()


def test_update_processes_do_not_import_from_the_working_directory(
    ctx: ConsoleContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 28: ``python -m otwatch`` and ``python -c`` put the working directory first on sys.path,
    so the supervisor, the migrations and the check of a new version, and the restarted console ran
    whatever ``otwatch/`` (or ``json.py``) a local user left in the directory the console was started
    from (/tmp, a shared folder). They run with ``-P`` now."""
    planted = tmp_path / "cwd"
    (planted / "otwatch").mkdir(parents=True)
    marker = tmp_path / "ran"
    (planted / "otwatch" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('planted')\n")
    (planted / "json.py").write_text(f"open({str(marker)!r}, 'w').write('planted json')\n")
    monkeypatch.chdir(planted)
    versions = ConsoleVersions(ctx.settings)
    versions.migrate("0.0.0")  # the new version's migrations (its lib/ is missing: the installed code)
    versions.check("0.0.0")  # and its in-process check
    assert not marker.exists(), marker.read_text()
    argv, _env = reexec_argv_for(ctx)
    for command in (argv, handover.supervisor_argv(ctx.settings), run_argv()):
        assert command[:2] == [sys.executable, "-P"], command


def reexec_argv_for(ctx: ConsoleContext) -> tuple[list[str], dict[str, str]]:
    """The command line ``otwatch console run`` re-executes itself with when a version is installed."""
    from otwatch.console import selfupdate

    versions = ConsoleVersions(ctx.settings)
    (versions.root / "0.2.0" / "lib").mkdir(parents=True)
    package.repoint(versions.current, Path("console-versions") / "0.2.0")
    found = selfupdate.reexec_argv(ctx.settings)
    assert found is not None
    return found


def run_argv() -> list[str]:
    from otwatch.console import cli

    return cli.restart_argv()


def test_command_line_update_refused_while_a_console_serves(
    ctx: ConsoleContext, keys: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 23, the command line's side: ``otwatch console update`` says "stop the console service
    first"; run while a console serves from the data directory, it migrated the database under it."""
    from typer.testing import CliRunner

    from otwatch.console.cli import app

    monkeypatch.setenv("OTWATCH_DATABASE_URL", ctx.settings.resolved_database_url)
    pkg = tmp_path / "management-secured-patcher-0.2.0.tar"
    pkg.write_bytes(console_pkg("0.2.0", "0.1.0", []))
    serving = handover.Presence(ctx.settings)
    serving.hold()
    try:
        result = CliRunner().invoke(app, ["update", str(pkg), "--data-dir", str(ctx.settings.data_dir)])
    finally:
        serving.release()
    assert result.exit_code != 0, result.output
    assert "a console serves from" in result.output and "stop it first" in result.output, result.output
    assert ConsoleVersions(ctx.settings).current_version() is None  # nothing was installed
