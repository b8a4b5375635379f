"""Typed access to console-wide settings with their defaults."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from otwatch.console.db import EngineCache, after_commit
from otwatch.console.settings.models import SettingRow

DEFAULTS: dict[str, Any] = {
    "auto_approve": False,  # "Auto-Approve Agent Pairing Requests"
    "auto_update": False,  # agents' "Auto-Updates": off by default (seed)
    # CSAF provider sync (vulnerabilities/provider.py): nothing is fetched unless a URL is set
    "advisories_provider_url": None,
    "advisories_provider_ca": None,  # PEM CA bundle for a provider with a private CA
    "advisories_sync_hours": 24,
    "advisories_last_sync": None,  # the last sync's result
}


def get(db: Session, key: str) -> Any:
    row = db.get(SettingRow, key)
    return DEFAULTS[key] if row is None else row.value


CACHE_TTL = 5.0
_CACHE = EngineCache(CACHE_TTL)  # see `cached`


def cached(db: Session, key: str) -> Any:
    """`get` for hot paths (every check-in): read at most every CACHE_TTL seconds per process.

    A change made through `put` in this process is seen at once; one made by another console
    process sharing the database within CACHE_TTL."""
    engine = db.get_bind()
    if not isinstance(engine, Engine):
        return get(db, key)
    return _CACHE.get(engine, key, lambda: get(db, key))


def cached_on(engine: Engine, key: str) -> Any:
    """`cached` without a session: one is opened only when the value must be read."""

    def read() -> Any:
        with Session(engine) as db:
            return get(db, key)

    return _CACHE.get(engine, key, read)


def put(db: Session, key: str, value: Any) -> None:
    if key not in DEFAULTS:
        raise KeyError(key)
    engine = db.get_bind()
    if isinstance(engine, Engine):  # now, and again once committed (a read in between cached the old)
        _forget(engine)
        after_commit(db, lambda: _forget(engine))
    row = db.get(SettingRow, key)
    if row is None:
        db.add(SettingRow(key=key, value=value))
    else:
        row.value = value


def _forget(engine: Engine) -> None:
    _CACHE.forget(engine)
