"""The sensor's event timeline and its log book: two append-only stores kept oldest first.

The timeline records what happened on the sensor, with time and details: alerts raised and new
assets (in capture time, from the pipeline), learning mode and engine toggles, settings changed,
PCAPs played and Clear data (in wall-clock time, from the console). The log book keeps the sensor
process's own log records (``otwatch`` loggers) so they can be searched from the console.

Both are bounded by a :class:`~otwatch.sensor.tracking.retention.StoreLimit`, enforced oldest first on every
append (items arrive in time order) and in full by :meth:`EventStore.expire` (the pipeline calls it
once a minute of capture time, the console when the limits change).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Generic, Protocol, TypeVar

from otwatch.sensor.tracking.retention import StoreLimit

DEFAULT_LIMIT: Final = StoreLimit(90, 100_000)


class EventType(StrEnum):
    ALERT = "Alert raised"
    NEW_ASSET = "New asset detected"
    LEARNING = "Learning mode changed"
    ENGINE = "Engine toggled"
    SETTINGS = "Settings changed"
    PCAP = "PCAP played"
    CLEAR = "Data cleared"
    BACKUP = "Backup"
    MONITORING = "Monitoring port"
    MAIL = "E-mail"


@dataclass(slots=True)
class Event:
    id: int
    ts: float
    type: EventType
    title: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.ts,
            "type": str(self.type),
            "title": self.title,
            "details": self.details,
        }


@dataclass(slots=True)
class LogEntry:
    id: int
    ts: float
    level: str
    logger: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.ts,
            "level": self.level,
            "logger": self.logger,
            "message": self.message,
        }


class _Stamped(Protocol):
    ts: float


T = TypeVar("T", bound=_Stamped)


class EventStore(Generic[T]):
    """Items in arrival order; the oldest leave first when the store is full or too old."""

    def __init__(self, limit: StoreLimit = DEFAULT_LIMIT) -> None:
        self.items: deque[T] = deque()
        self.limit = limit
        self.next_id = 1
        self.removed = 0
        self.newest = 0.0

    def _append(self, item: T) -> T:
        self.next_id += 1
        self.items.append(item)
        if item.ts > self.newest:
            self.newest = item.ts
        items = self.items
        cutoff = self.limit.cutoff(self.newest)
        while items and (len(items) > self.limit.max_size or items[0].ts < cutoff):
            items.popleft()  # oldest first; items arrive in time order, so this is the age check too
            self.removed += 1
        return item

    def set_limit(self, limit: StoreLimit) -> int:
        self.limit = limit
        gone = 0
        while len(self.items) > limit.max_size:
            self.items.popleft()
            gone += 1
        self.removed += gone
        return gone + self.expire()

    def expire(self) -> int:
        """Drop items older than the retention period (measured from the newest item)."""
        if not self.items:
            return 0
        cutoff = self.limit.cutoff(self.newest)
        kept = deque(i for i in self.items if i.ts >= cutoff)
        gone = len(self.items) - len(kept)
        if gone:
            self.items = kept
            self.removed += gone
        return gone

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def clear(self) -> None:
        self.items.clear()


class Timeline(EventStore[Event]):
    def add(self, ts: float, type_: EventType, title: str, **details: Any) -> Event:
        return self._append(Event(self.next_id, ts, type_, title, details))

    def newest_first(self) -> list[Event]:
        return sorted(self.items, key=lambda e: (-e.ts, -e.id))


class LogBook(EventStore[LogEntry], logging.Handler):
    """A logging handler that keeps records for the console's data-mining queries (thread-safe)."""

    def __init__(self, limit: StoreLimit = DEFAULT_LIMIT, level: int = logging.INFO) -> None:
        EventStore.__init__(self, limit)
        logging.Handler.__init__(self, level)
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not break the caller's logging
            message = str(record.msg)
        with self._guard:
            self._append(LogEntry(self.next_id, record.created, record.levelname, record.name, message))

    def snapshot(self) -> list[LogEntry]:
        with self._guard:
            return list(self.items)

    def set_limit(self, limit: StoreLimit) -> int:
        with self._guard:
            return EventStore.set_limit(self, limit)


_installed: LogBook | None = None
_install_lock = threading.Lock()


def sensor_logs() -> LogBook:
    """The process's one log book, attached to the ``otwatch`` logger the first time it is asked for."""
    global _installed
    with _install_lock:
        if _installed is None:
            _installed = LogBook()
            logging.getLogger("otwatch").addHandler(_installed)
        return _installed
