"""Everything one console process holds: settings, database, CA, vault, wake-ups."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

from otwatch.console.config import Settings
from otwatch.console.credentials.vault import Vault
from otwatch.console.db import Database
from otwatch.console.fleet.liveness import LivenessWriter
from otwatch.console.fleet.notify import Notifier, notifier_for
from otwatch.console.pki import ConsolePKI
from otwatch.wire.tls import split_address


def _secret_file(path: Path) -> str:
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


@dataclass
class ConsoleContext:
    settings: Settings
    db: Database
    pki: ConsolePKI
    vault: Vault
    session_secret: str
    notifier: Notifier = field(default_factory=Notifier)
    checkin_budget: threading.BoundedSemaphore = field(init=False)
    liveness: LivenessWriter = field(init=False)

    def __post_init__(self) -> None:
        self.checkin_budget = threading.BoundedSemaphore(max(1, self.settings.checkin_concurrency))
        self.liveness = LivenessWriter(self.db)

    @classmethod
    def create(cls, settings: Settings) -> ConsoleContext:
        settings.ensure_dirs()
        host, _ = split_address(settings.address)
        url = settings.resolved_database_url
        return cls(
            settings=settings,
            db=Database(url),
            notifier=notifier_for(url),  # wake-ups cross console processes on PostgreSQL
            pki=ConsolePKI.load_or_create(settings.data_dir / "pki", [host, settings.host]),
            vault=Vault.load_or_create(settings.data_dir / "vault.key"),
            session_secret=_secret_file(settings.data_dir / "session.secret"),
        )
