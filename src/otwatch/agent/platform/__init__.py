"""The agent's platform layer: one module per operating system, chosen by ``sys.platform`` at import.

``current`` is :mod:`~otwatch.agent.platform.windows` on Windows and
:mod:`~otwatch.agent.platform.linux` elsewhere; the other one is never imported, so nothing
Linux-only (``fcntl``, ``AF_PACKET``, ``/proc/net``) is touched on Windows and no DLL is loaded on
Linux. Both answer the same questions (:mod:`otwatch.agent.platform.base`).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

from otwatch.agent.platform.base import (
    FileLock,
    Interface,
    Link,
    LockHeld,
    Neighbour,
    RawAccess,
    Route,
)

__all__ = [
    "FileLock",
    "Interface",
    "Link",
    "LockHeld",
    "Neighbour",
    "RawAccess",
    "Route",
    "current",
    "file_lock",
    "is_windows",
]


def is_windows() -> bool:
    return sys.platform == "win32"


def _select() -> ModuleType:
    name = "windows" if is_windows() else "linux"
    return importlib.import_module(f"otwatch.agent.platform.{name}")


#: The running system's implementation: ``read_routes()``, ``link_of(name)``, ``interfaces()``,
#: ``neighbours()``, ``arp_permitted()``, ``raw_access(icmp)``, ``file_lock(path)``.
current: ModuleType = _select()


def file_lock(path: Path) -> FileLock:
    """An exclusive lock on ``path`` (``flock`` on Linux, ``msvcrt.locking`` on Windows)."""
    lock: FileLock = current.file_lock(path)
    return lock
