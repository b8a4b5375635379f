"""``otwatch console update FILE``: the console updates itself from a signed
``management-secured-patcher-<version>.tar``, backing the database up first and restoring it when
the new version's migrations or health check fail.

Layout under the data directory::

    release-keys/*.pub              the pinned release keys (the same ones uploads are checked with)
    console-versions/<v>/           one installed version: version.json and lib/ (its Python code)
    console-current -> console-versions/<v>   the version ``otwatch console run`` starts
    console-previous -> ...         the version before the last update
    backups/<when>-<from>.sqlite3 | .pgdump   the database as it was before each update

``otwatch console run`` re-executes itself with ``console-current/lib`` first on ``PYTHONPATH``
when it is not already running that code, so the service keeps one command line across updates.

Steps, each reported: verify (signature, kind, not a downgrade, minimum version) -> unpack and
import-check the new code -> back the database up (SQLite: the sqlite3 backup API; PostgreSQL:
``pg_dump``, refused when it is not installed) -> run the new version's migrations -> health check
(the new code opens the database at its own head revision and answers ``/api/v1/health`` with its
version) -> switch ``console-current``. A failure after the backup restores it, leaves the pointers
as they were and removes the unpacked version. Run it with the console service stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import URL, create_engine, inspect, make_url, text

import otwatch
from otwatch.console.config import Settings
from otwatch.wire import package

HEALTH_CHECK = """
import json, sys
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
import otwatch
from otwatch.console.app import create_app
from otwatch.console.config import Settings
from otwatch.console.context import ConsoleContext
from otwatch.console.migrate import alembic_config, current_revision
settings = Settings()
ctx = ConsoleContext.create(settings)
head = ScriptDirectory.from_config(alembic_config(settings.resolved_database_url)).get_current_head()
revision = current_revision(ctx.db.engine)
if revision != head:
    sys.exit(f"database is at revision {revision}, this version needs {head}")
r = TestClient(create_app(ctx), base_url="https://testserver").get("/api/v1/health")
if r.status_code != 200 or r.json().get("version") != otwatch.__version__:
    sys.exit(f"/api/v1/health answered {r.status_code}: {r.text[:300]}")
print(json.dumps({"version": otwatch.__version__, "revision": revision, "database": r.json()["database"]}))
"""


class UpdateError(RuntimeError):
    """The update did not happen; the message says why and what state the console is in."""


@dataclass
class Report:
    steps: list[str] = field(default_factory=list)
    from_version: str = ""
    to_version: str = ""
    backup: Path | None = None
    ok: bool = False

    def add(self, line: str) -> None:
        self.steps.append(line)


class ConsoleVersions:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.data_dir / "console-versions"
        self.current = settings.data_dir / "console-current"
        self.previous = settings.data_dir / "console-previous"
        self.backups = settings.data_dir / "backups"

    def current_version(self) -> str | None:
        return package.pointed_version(self.current)

    def installed_version(self) -> str:
        """The console version the service runs: the current pointer's, else the pip-installed code's."""
        return self.current_version() or otwatch.__version__

    def _point(self, link: Path, version: str | None) -> None:
        package.repoint(link, Path("console-versions") / version if version else None)

    def env_for(self, version: str | None) -> dict[str, str]:
        """The environment the given version's code runs in (settings passed on as OTWATCH_*)."""
        env = dict(os.environ)
        env["OTWATCH_DATA_DIR"] = str(self.settings.data_dir)
        env["OTWATCH_DATABASE_URL"] = self.settings.resolved_database_url
        if version is not None:
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(self.root / version / "lib"), os.environ.get("PYTHONPATH")) if p
            )
        return env

    # ------------------------------------------------------------ database backup
    def backup(self, label: str) -> Path:
        url = make_url(self.settings.resolved_database_url)
        self.backups.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.backups, 0o700)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        if url.get_backend_name() == "sqlite":
            target = self.backups / f"{stamp}-{label}.sqlite3"
            _sqlite_copy(str(url.database), str(target))
            return target
        if url.get_backend_name() == "postgresql":
            if shutil.which("pg_dump") is None:
                raise UpdateError(
                    "the database is PostgreSQL and pg_dump is not installed, so it cannot be backed up: "
                    "install the PostgreSQL client tools (Debian: postgresql-client) and run the update "
                    "again; nothing was changed"
                )
            target = self.backups / f"{stamp}-{label}.pgdump"
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
            _run_pg(["pg_dump", "--format=custom", "--no-owner", "--file", str(target)], url)
            os.chmod(target, 0o600)
            return target
        raise UpdateError(f"cannot back up a {url.get_backend_name()} database; nothing was changed")

    def restore(self, backup: Path) -> None:
        url = make_url(self.settings.resolved_database_url)
        if url.get_backend_name() == "sqlite":
            _sqlite_copy(str(backup), str(url.database))
            return
        engine = create_engine(url)  # empty the schema first: restore must not keep new tables
        try:
            with engine.begin() as conn:
                for table in inspect(conn).get_table_names():
                    conn.execute(text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))
        finally:
            engine.dispose()
        _run_pg(["pg_restore", "--no-owner", "--single-transaction", "--exit-on-error"], url, str(backup))

    # ------------------------------------------------------------ update
    def verify(self, data: bytes, from_version: str) -> package.Package:
        """The package, verified against the pinned release keys as an upgrade of ``from_version``."""
        try:
            pkg = package.verify(data, package.load_trusted(self.settings.data_dir / "release-keys"))
            package.check_upgrade(pkg.manifest, "console", from_version)
            package.check_version_payload(pkg)
        except package.PackageError as exc:
            raise UpdateError(f"package refused: {exc}; nothing was changed") from exc
        return pkg

    def unpack(self, pkg: package.Package) -> Path:
        """Unpack and import-check the new code (nothing stays when the check fails)."""
        try:
            return package.install_version(pkg, self.root, "otwatch.console.app")
        except package.PackageError as exc:
            raise UpdateError(f"{exc}; nothing was changed") from exc

    def backup_or_discard(self, label: str, target: Path) -> Path:
        """Back the database up; when that fails, remove the unpacked version and say nothing changed."""
        try:
            return self.backup(label)
        except (UpdateError, OSError, sqlite3.Error, subprocess.CalledProcessError) as exc:
            shutil.rmtree(target, ignore_errors=True)
            if isinstance(exc, UpdateError):
                raise
            raise UpdateError(f"database backup failed ({exc}); nothing was changed") from exc

    def migrate(self, version: str) -> str | None:
        """Run the new version's migrations with its own code; None when they succeeded."""
        return self._run(version, [sys.executable, "-P", "-m", "otwatch", "console", "migrate"], "migrations")

    def check(self, version: str) -> str | None:
        """The new code opens the database at its head revision and answers /api/v1/health."""
        return self._run(version, [sys.executable, "-P", "-c", HEALTH_CHECK], "health check")

    def switch(self, version: str) -> str | None:
        """Point ``console-current`` at ``version``; returns the version it pointed at before."""
        previous = self.current_version()
        self._point(self.previous, previous)
        self._point(self.current, version)
        return previous

    def pointers(self) -> tuple[str | None, str | None]:
        """(current, previous): what to put back if the switched-to version fails."""
        return self.current_version(), package.pointed_version(self.previous)

    def undo(self, version: str, backup: Path, pointers: tuple[str | None, str | None]) -> None:
        """Put the database and the pointers back as they were before ``version`` was installed."""
        self.restore(backup)
        self._point(self.current, pointers[0])
        self._point(self.previous, pointers[1])
        shutil.rmtree(self.root / version, ignore_errors=True)

    def update(self, data: bytes, say: Callable[[str], None] = lambda _: None) -> Report:
        report = Report(from_version=self.installed_version())

        def step(line: str) -> None:
            report.add(line)
            say(line)

        pkg = self.verify(data, report.from_version)
        version = report.to_version = pkg.manifest.version
        step(
            f"verified {pkg.manifest.file_name} (signed by key {pkg.key_id}): {report.from_version} -> {version}"
        )
        target = self.unpack(pkg)
        step(f"unpacked to {target}")
        report.backup = self.backup_or_discard(report.from_version, target)
        step(f"database backed up to {report.backup}")
        failure = self.migrate(version)
        if failure is None:
            step(f"migrations of {version} applied")
            failure = self.check(version)
        if failure is not None:
            self.restore(report.backup)
            shutil.rmtree(target, ignore_errors=True)
            step(f"{failure}; database restored from {report.backup}, still running {report.from_version}")
            raise UpdateError(f"update to {version} rolled back: {failure}")
        step(f"health check of {version} passed")
        previous = self.switch(version)
        step(f"console-current now points to {version} (previous: {previous or 'the installed version'})")
        report.ok = True
        return report

    def _run(self, version: str, argv: list[str], what: str) -> str | None:
        """Run the new version's code; None when it succeeded, else what failed with its last line.
        ``-P`` in ``argv``: the working directory (whoever's it is) is not on sys.path."""
        try:
            r = subprocess.run(
                argv, env=self.env_for(version), capture_output=True, text=True, timeout=1800, check=False
            )
        except subprocess.TimeoutExpired:
            return f"{what} of {version} timed out"
        if r.returncode == 0:
            return None
        tail = (r.stderr.strip() or r.stdout.strip() or "no output").splitlines()[-1]
        return f"{what} of {version} failed: {tail}"


def _sqlite_copy(source: str, target: str) -> None:
    """A consistent copy through the sqlite3 backup API (safe even while the file is in use)."""
    if not os.path.exists(target):  # a backup holds every secret of the database: 0600 from creation
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o600))
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _run_pg(argv: list[str], url: URL, *tail: str) -> None:
    """pg_dump / pg_restore against the console database; the password goes in the environment."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    dsn = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    r = subprocess.run([*argv, "--dbname", dsn, *tail], env=env, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise UpdateError(f"{argv[0]} failed: {r.stderr.strip()[-500:]}")


def reexec_argv(settings: Settings) -> tuple[list[str], dict[str, str]] | None:
    """When a console update is installed and this process is not running its code: the command
    line and environment that run the same command with it (``otwatch console run`` uses this)."""
    versions = ConsoleVersions(settings)
    current = versions.current_version()
    if current is None:
        return None
    lib = (versions.root / current / "lib").resolve()
    if Path(otwatch.__file__).resolve().is_relative_to(lib):
        return None
    return [sys.executable, "-P", "-m", "otwatch", *sys.argv[1:]], versions.env_for(current)


def describe(report: Report) -> str:
    return json.dumps(
        {
            "ok": report.ok,
            "from": report.from_version,
            "to": report.to_version,
            "backup": str(report.backup) if report.backup else None,
            "steps": report.steps,
        },
        indent=2,
    )
