"""Bring a console's data directory and database up to date before serving."""

from __future__ import annotations

from otwatch.console.auth.service import ensure_admin
from otwatch.console.config import Settings
from otwatch.console.context import ConsoleContext
from otwatch.console.migrate import upgrade


def prepare(settings: Settings) -> tuple[ConsoleContext, str | None]:
    """Create/open everything; return the context and a generated one-time admin password, if any."""
    ctx = ConsoleContext.create(settings)
    upgrade(ctx.db.engine)
    with ctx.db.session() as db:
        pw = ensure_admin(db, settings.admin_password)
    return ctx, pw
