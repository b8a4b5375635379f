"""Console configuration from the environment (``OTWATCH_*``) via pydantic-settings.

Everything secret that must not live in the database (CA key, vault key, session secret) lives in
``data_dir``; the database URL defaults to an embedded SQLite file there.
"""

from __future__ import annotations

import logging
import os
from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OTWATCH_", extra="ignore")

    data_dir: Path = Field(default=Path("var/console"), description="CA, vault key, SQLite file")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; SQLite in data_dir if unset")
    host: str = "127.0.0.1"
    port: int = 8443
    public_address: str | None = Field(default=None, description="address agents use; host:port")
    admin_password: str | None = None
    # Fleet timing. A node is Disconnected when not seen for `offline_after` seconds.
    longpoll_seconds: float = 25.0
    # check-ins in their database phase at once; more are answered 503 + Retry-After (nodes back off)
    checkin_concurrency: int = 24
    checkin_threads: int = Field(default=6, ge=1, description="threads for the check-ins' database work")
    offline_after: float = 90.0
    max_clock_skew: float = 120.0
    session_max_age: int = 8 * 3600
    # Background work (sensor monitor, forwarding deliveries); off lets tests call them explicitly.
    background_workers: bool = True
    monitor_interval: float = Field(default=5.0, gt=0, description="seconds between sensor-monitor scans")
    delivery_interval: float = Field(default=2.0, gt=0, description="seconds between delivery-queue polls")
    advisories_check_interval: float = Field(
        default=600.0, gt=0, description="seconds between checks whether a CSAF provider sync is due"
    )
    delivery_retry_base: float = Field(default=10.0, gt=0, description="first retry delay (doubles)")
    delivery_retry_max: float = Field(default=900.0, gt=0, description="longest retry delay")
    delivery_max_attempts: int = Field(default=12, ge=1)
    delivery_lease: float = Field(default=120.0, gt=0, description="a claimed delivery is retried after")
    delivery_timeout: float = Field(default=10.0, gt=0, description="network timeout of one send")

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'otwatch.db').resolve()}"

    @property
    def address(self) -> str:
        return self.public_address or f"{self.host}:{self.port}"

    def ensure_dirs(self) -> None:
        """The data directory and its pki folder, 0700 (made so if they existed); the default SQLite
        database created 0600 before SQLite opens it, so its WAL and shared-memory files (which SQLite
        creates with the database's mode) are private from creation too."""
        for d in (self.data_dir, self.data_dir / "pki"):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
            _private(d, 0o700)
        if not self.database_url:
            db = self.data_dir / "otwatch.db"
            os.close(os.open(db, os.O_WRONLY | os.O_CREAT, 0o600))
            for f in (db, db.with_name("otwatch.db-wal"), db.with_name("otwatch.db-shm")):
                if f.exists():
                    _private(f, 0o600)


def _private(path: Path, mode: int) -> None:
    """Tighten ``path`` to ``mode``; a path this account does not own (a mounted volume) is left as it
    is, with a warning, rather than stopping the console."""
    try:
        os.chmod(path, mode)
    except PermissionError as exc:
        logging.getLogger(__name__).warning("cannot make %s private (%o): %s", path, mode, exc)
