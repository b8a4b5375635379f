"""Issue 17, item 14: the console's data directory and what it holds are private from creation
(0700 directories, 0600 files: database, WAL, session secret, packages, backups)."""

from __future__ import annotations

import stat
from pathlib import Path

from otwatch.console.bootstrap import prepare
from otwatch.console.config import Settings
from otwatch.console.selfupdate import _sqlite_copy
from tests.conftest import ADMIN_PASSWORD


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_console_files_are_private(tmp_path: Path) -> None:
    data = tmp_path / "console"
    ctx, _ = prepare(Settings(data_dir=data, admin_password=ADMIN_PASSWORD))
    try:
        with ctx.db.session() as db:
            from otwatch.console.audit import service as audit

            audit.record(db, "t", "t.write")  # a write: the WAL exists now
            db.commit()
            assert _mode(data) == 0o700
            assert _mode(data / "session.secret") == 0o600
            for f in data.iterdir():
                if f.is_file() and f.name.startswith("otwatch.db"):
                    assert _mode(f) == 0o600, f.name
            assert _mode(data / "vault.key") == 0o600
            from otwatch.console.updates.service import storage

            assert _mode(storage(ctx)) == 0o700
    finally:
        ctx.db.dispose()
    backup = tmp_path / "backup.sqlite3"
    _sqlite_copy(str(data / "otwatch.db"), str(backup))
    assert _mode(backup) == 0o600
