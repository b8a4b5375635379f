"""Console configuration from the environment (``OTWATCH_*``) via pydantic-settings.

Everything secret that must not live in the database (CA key, vault key, session secret) lives in
``data_dir``; the database URL defaults to an embedded SQLite file there.
"""

from __future__ import annotations

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
    offline_after: float = 90.0
    max_clock_skew: float = 120.0
    session_max_age: int = 8 * 3600

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'otwatch.db').resolve()}"

    @property
    def address(self) -> str:
        return self.public_address or f"{self.host}:{self.port}"

    def ensure_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "pki").mkdir(exist_ok=True)
