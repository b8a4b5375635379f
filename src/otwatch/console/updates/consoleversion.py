"""Console version updates from the Updates page: Apply hands the console over to the update
supervisor (otwatch/console/handover.py); the page follows its status, which lives on disk."""

from __future__ import annotations

import shutil
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import make_url
from sqlalchemy.orm import Session

from otwatch.console import handover
from otwatch.console.audit import service as audit
from otwatch.console.context import ConsoleContext
from otwatch.console.errors import APIError, conflict
from otwatch.console.updates import service
from otwatch.console.updates.models import UpdatePackage
from otwatch.wire import package


class StepOut(BaseModel):
    key: str
    label: str
    state: str  # pending | running | done | failed | skipped
    detail: str | None = None


class HandoverOut(BaseModel):
    """One console update applied from the page: its steps, progress and result."""

    id: str
    state: str  # running | succeeded | failed | rolled_back
    package: str
    from_version: str
    to_version: str
    requested_by: str
    started_at: datetime
    finished_at: datetime | None
    reason: str | None  # why it failed or was rolled back
    percent: int
    steps: list[StepOut]


class ConsoleUpdateOut(BaseModel):
    running_version: str
    update: HandoverOut | None  # the last update applied from the page, None when there was none


def status(ctx: ConsoleContext) -> ConsoleUpdateOut:
    found = handover.current(ctx.settings)
    return ConsoleUpdateOut(
        running_version=service.console_version(),
        update=HandoverOut.model_validate(found) if found else None,
    )


def apply(
    db: Session,
    ctx: ConsoleContext,
    actor: str,
    package_id: str,
    restart: list[str] | None,
    presence: handover.Presence | None = None,
) -> dict[str, Any]:
    """Refuse what the supervisor would refuse anyway, while the console still answers; then start it."""
    row = db.get(UpdatePackage, package_id)
    if row is None or row.kind != "console":
        raise APIError(404, "not_found", "no console version package with this id")
    if restart is None:
        raise conflict(
            "this console was not started with `otwatch console run` (a demo or an embedded console), so "
            "it cannot start itself again: stop it and run `otwatch console update` with the package"
        )
    problem = handover.unsupported()
    if problem is not None:
        raise conflict(problem)
    if (presence or handover.Presence(ctx.settings)).others_present():
        raise conflict(
            "another console process serves from this data directory, and Apply stops and restarts only "
            "this one (the others would run the old code on a migrated database): stop every console "
            "process and run `otwatch console update` with the package, then start them"
        )
    try:
        manifest = package.Manifest(row.kind, row.version, row.min_version, "", {})
        package.check_upgrade(manifest, "console", service.console_version())
    except package.PackageError as exc:
        raise conflict(str(exc)) from exc
    url = make_url(ctx.settings.resolved_database_url)
    if url.get_backend_name() == "postgresql" and shutil.which("pg_dump") is None:
        raise conflict(
            "the database is PostgreSQL and pg_dump is not installed, so it cannot be backed up before "
            "the update: install the PostgreSQL client tools (Debian: postgresql-client)"
        )
    path = service.storage(ctx) / f"{row.sha256}.tar"
    if not path.is_file():
        raise conflict(f"the file of {row.file_name} is missing; upload it again")
    try:
        started = handover.start(ctx.settings, path, row.file_name, row.version, actor, restart)
    except handover.HandoverError as exc:
        raise conflict(str(exc)) from exc
    # committed long before the supervisor, which verifies and unpacks first, stops this console
    audit.record(db, actor, "console.update_started", row.file_name, version=row.version)
    db.commit()
    return started
