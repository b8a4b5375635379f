"""Sensor backups: what a sensor needs to come back as itself after a disk loss or a rebuild.

A backup is one ``sensor-backup-<UTC time>.tar.gz`` (mode 0600: it holds the sensor's private keys)
written to the backup folder (``<state>/backups`` unless the Admin chose another, e.g. a mounted
share). It holds every file of the sensor's state folder — its pairing with the console (identity,
certificate and key, the console CA, the management mode), the sensor console's settings, users and
TLS certificate, release keys, threat intelligence and secrets — plus the **learned baseline** of the
running sensor (``baseline.json``), and a manifest with each file's SHA-256. Uploaded PCAP files and
older backups are left out (they can be large and are not needed to restore the sensor).

Restore checks the whole archive before it writes anything: a manifest whose hashes match, regular
files with relative paths only (no links, devices, sparse members, ``..`` or absolute names), bounded
sizes. Only then are the files written (atomically, 0600); the caller loads the returned baseline
into the running sensor. The standard library's :mod:`tarfile` does the format; the checks are ours,
because an archive can come from an upload.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Final

from otwatch.sensor.local.store import write_atomic

__all__ = [
    "Backup",
    "BackupError",
    "BackupSettings",
    "create_backup",
    "due",
    "list_backups",
    "prune",
    "read_backup",
    "restore_backup",
]

MANIFEST: Final = "backup.json"
BASELINE: Final = "baseline.json"
FORMAT: Final = 1
MAX_MEMBER: Final = 64 * 1024 * 1024  # a baseline of a large plant is a few MB
MAX_MEMBERS: Final = 10_000
PREFIX: Final = "sensor-backup-"
_DAY: Final = timedelta(days=1)
SKIPPED: Final = ("backups", "local/pcaps")  # not needed to restore the sensor, and possibly large


class BackupError(ValueError):
    """An archive that is not a sensor backup, or a damaged one: nothing was restored."""


@dataclass(frozen=True, slots=True)
class Backup:
    path: Path
    created: datetime
    size: int

    @property
    def name(self) -> str:
        return self.path.name


SCHEDULES: Final = ("off", "daily", "weekly")


@dataclass(frozen=True, slots=True)
class BackupSettings:
    """Where backups go and when they are made (System Settings > Backup & restore)."""

    directory: str = ""  # empty: <state>/backups
    schedule: str = "daily"
    at: str = "02:00"  # UTC, HH:MM
    keep: int = 7

    @classmethod
    def parse(cls, directory: str, schedule: str, at: str, keep: str) -> BackupSettings:
        """From the form; BackupError names the field that is wrong."""
        directory = directory.strip()
        if directory and not Path(directory).is_absolute():
            raise BackupError("Backup folder: give an absolute path (or leave it empty for the default)")
        if schedule not in SCHEDULES:
            raise BackupError(f"Schedule: one of {', '.join(SCHEDULES)}")
        try:
            hour, minute = (int(x) for x in at.split(":"))
            if not (0 <= hour < 24 and 0 <= minute < 60):
                raise ValueError
        except ValueError:
            raise BackupError("Time: HH:MM, 24-hour, UTC") from None
        try:
            count = int(keep)
            if not 1 <= count <= 100:
                raise ValueError
        except ValueError:
            raise BackupError("Keep: a number of backups from 1 to 100") from None
        return cls(directory, schedule, f"{hour:02d}:{minute:02d}", count)

    @classmethod
    def from_dict(cls, data: object) -> BackupSettings:
        if not isinstance(data, dict):
            return cls()
        try:
            return cls.parse(
                str(data.get("directory", "")),
                str(data.get("schedule", "daily")),
                str(data.get("at", "02:00")),
                str(data.get("keep", 7)),
            )
        except BackupError:
            return cls()

    def as_dict(self) -> dict[str, object]:
        return {"directory": self.directory, "schedule": self.schedule, "at": self.at, "keep": self.keep}

    def folder(self, state_dir: Path) -> Path:
        return Path(self.directory) if self.directory else state_dir / "backups"


def due(settings: BackupSettings, last: datetime | None, now: datetime) -> bool:
    """Whether a scheduled backup is due: the day's (or week's) time has passed since the last one."""
    if settings.schedule == "off":
        return False
    hour, minute = (int(x) for x in settings.at.split(":"))
    slot = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if slot > now:
        slot -= _DAY
    if settings.schedule == "weekly":
        while slot.weekday() != 6:  # Sundays
            slot -= _DAY
    return last is None or last < slot


def _skipped(relative: PurePosixPath) -> bool:
    text = relative.as_posix()
    return any(text == s or text.startswith(s + "/") for s in SKIPPED)


def create_backup(
    state_dir: Path, dest: Path, baseline: bytes | None, *, now: datetime | None = None
) -> Backup:
    """Write a backup of ``state_dir`` (and the running sensor's ``baseline`` JSON) into ``dest``."""
    now = now or datetime.now(UTC)
    dest.mkdir(parents=True, exist_ok=True)
    os.chmod(dest, 0o700)
    files: dict[str, bytes] = {}
    for path in sorted(state_dir.rglob("*")):
        relative = PurePosixPath(path.relative_to(state_dir).as_posix())
        if path.is_symlink() or not path.is_file() or _skipped(relative):
            continue
        if path.resolve().is_relative_to(dest.resolve()):  # a backup folder inside the state folder
            continue
        files[f"state/{relative}"] = path.read_bytes()
    if baseline is not None:
        files[BASELINE] = baseline
    manifest = {
        "format": FORMAT,
        "kind": "otwatch-sensor-backup",
        "created": now.isoformat(),
        "host": socket.gethostname(),
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in [(MANIFEST, json.dumps(manifest, indent=2).encode()), *files.items()]:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o600, int(now.timestamp())
            tar.addfile(info, io.BytesIO(data))
    path = dest / f"{PREFIX}{now:%Y%m%d-%H%M%S}.tar.gz"
    write_atomic(path, buf.getvalue(), 0o600)
    return Backup(path, now, path.stat().st_size)


def read_backup(data: bytes) -> tuple[dict[str, object], dict[str, bytes]]:
    """The manifest and the files of a backup archive, every check passed; BackupError otherwise."""
    try:
        tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")  # noqa: SIM115 (closed below)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError(f"not a sensor backup (a .tar.gz written by the sensor): {exc}") from None
    files: dict[str, bytes] = {}
    with tar:
        try:
            for count, member in enumerate(tar):
                if count >= MAX_MEMBERS:
                    raise BackupError(f"more than {MAX_MEMBERS} members")
                member_path = PurePosixPath(member.name)
                if not member.isreg() or member.issparse():
                    raise BackupError(f"{member.name}: only regular files may be restored")
                if member_path.is_absolute() or ".." in member_path.parts or not member_path.parts:
                    raise BackupError(f"{member.name}: a path outside the sensor's folder")
                if member.size > MAX_MEMBER:
                    raise BackupError(f"{member.name}: larger than {MAX_MEMBER // 1024 // 1024} MB")
                handle = tar.extractfile(member)
                if handle is None:
                    raise BackupError(f"{member.name}: cannot be read")
                files[member_path.as_posix()] = handle.read(MAX_MEMBER + 1)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise BackupError(f"damaged archive: {exc}") from None
    raw = files.pop(MANIFEST, None)
    if raw is None:
        raise BackupError(f"not a sensor backup: no {MANIFEST}")
    try:
        manifest = json.loads(raw)
    except ValueError:
        raise BackupError(f"{MANIFEST} is not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != "otwatch-sensor-backup":
        raise BackupError("not a sensor backup (wrong kind)")
    if manifest.get("format") != FORMAT:
        raise BackupError(f"backup format {manifest.get('format')!r} is not supported (expected {FORMAT})")
    listed = manifest.get("files")
    if not isinstance(listed, dict) or set(listed) != set(files):
        raise BackupError("the archive's files are not the ones its manifest lists")
    for name, data in files.items():
        if hashlib.sha256(data).hexdigest() != listed[name]:
            raise BackupError(f"{name}: its content does not match the manifest (damaged or altered)")
        if name != BASELINE and not name.startswith("state/"):
            raise BackupError(f"{name}: not part of a sensor backup")
    return manifest, files


def restore_backup(data: bytes, state_dir: Path) -> bytes | None:
    """Restore a backup's files into ``state_dir`` (after every check); returns its baseline JSON."""
    _manifest, files = read_backup(data)
    for name, content in files.items():
        if name.startswith("state/"):
            relative = PurePosixPath(name).relative_to("state")
            target = state_dir.joinpath(*relative.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, content, 0o600)
    return files.get(BASELINE)


def list_backups(dest: Path) -> list[Backup]:
    """The backups in ``dest``, newest first."""
    out: list[Backup] = []
    if not dest.is_dir():
        return out
    for path in dest.glob(f"{PREFIX}*.tar.gz"):
        try:
            created = datetime.strptime(path.name[len(PREFIX) : -len(".tar.gz")], "%Y%m%d-%H%M%S")
        except ValueError:
            continue
        out.append(Backup(path, created.replace(tzinfo=UTC), path.stat().st_size))
    return sorted(out, key=lambda b: b.created, reverse=True)


def prune(dest: Path, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest backups; returns what was deleted."""
    gone = [b.path for b in list_backups(dest)[max(1, keep) :]]
    for path in gone:
        path.unlink(missing_ok=True)
    return gone
