"""The OT Discovery (OTD) engine: versioned scan data the console updates with signed packages.

An engine package's payload holds ``engine.json``::

    {"version": "2.1.0", "ports": [502, 102, ...]}

Engines live side by side under ``<state>/engines/<version>/``; ``current`` names the active one and
``previous`` the one before, so a failed update rolls back by pointing ``current`` back.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otwatch.agent import ports as default_ports
from otwatch.wire import package

BUILTIN_VERSION = "1.0.0"


class EngineError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Engine:
    version: str
    ports: tuple[int, ...]


def _load(directory: Path) -> Engine:
    try:
        data: dict[str, Any] = json.loads((directory / "engine.json").read_text())
        version = str(data["version"])
        ports = tuple(int(p) for p in data["ports"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EngineError(f"engine in {directory.name} is unusable: {exc}") from exc
    if not ports or any(not 0 < p < 65536 for p in ports):
        raise EngineError("engine port list is empty or out of range")
    return Engine(version, ports)


class EngineStore:
    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / "engines"

    def _pointer(self, name: str) -> str | None:
        f = self.root / name
        return f.read_text().strip() if f.exists() else None

    def _point(self, name: str, version: str | None) -> None:
        f = self.root / name
        if version is None:
            f.unlink(missing_ok=True)
        else:
            tmp = f.with_suffix(".tmp")
            tmp.write_text(version)
            tmp.replace(f)

    def current(self) -> Engine:
        version = self._pointer("current")
        if version is None:
            return Engine(BUILTIN_VERSION, tuple(default_ports.DEFAULT_PORTS))
        return _load(self.root / version)

    def install(self, data: bytes, trusted: list[package.Ed25519PublicKey]) -> tuple[Engine, str]:
        """Verify, stage, health-check and switch. Returns (new engine, previous version).

        Anything failing before the switch leaves the current engine untouched; a failing health
        check after the switch rolls back to the previous engine and raises EngineError.
        """
        pkg = package.verify(data, trusted)
        before = self.current().version
        package.check_upgrade(pkg.manifest, "otd", before)
        staged = self.root / pkg.manifest.version
        if staged.exists():
            shutil.rmtree(staged)
        for name, content in pkg.files.items():
            target = staged / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        previous = self._pointer("current")
        self._point("previous", previous)
        self._point("current", pkg.manifest.version)
        try:
            engine = self.current()
            if engine.version != pkg.manifest.version:
                raise EngineError(
                    f"engine.json says {engine.version}, the package says {pkg.manifest.version}"
                )
        except EngineError as exc:
            self._point("current", previous)
            shutil.rmtree(staged, ignore_errors=True)
            raise EngineError(f"health check failed, rolled back to {before}: {exc}") from exc
        return engine, before
