"""Verifying, storing and rolling out update packages; the console-first rule for sensor versions."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

import otwatch
from otwatch.console.audit import service as audit
from otwatch.console.context import ConsoleContext
from otwatch.console.db import EngineCache
from otwatch.console.errors import APIError, conflict
from otwatch.console.updates.models import UpdatePackage
from otwatch.wire import package


def trusted_keys(ctx: ConsoleContext) -> list[package.Ed25519PublicKey]:
    return package.load_trusted(ctx.settings.data_dir / "release-keys")


def storage(ctx: ConsoleContext) -> Path:
    d = ctx.settings.data_dir / "packages"
    d.mkdir(exist_ok=True, mode=0o700)
    os.chmod(d, 0o700)
    return d


def upload(db: Session, ctx: ConsoleContext, actor: str, data: bytes | BinaryIO) -> UpdatePackage:
    """Verify before storing anything; a refused package leaves no trace but the audit entry.

    ``data``: the bytes, or the upload's spooled file (verified and copied in chunks, never read
    into memory whole)."""
    src: BinaryIO = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        pkg = package.verify(src, trusted_keys(ctx), keep_files=False)
    except package.PackageError as exc:
        raise APIError(422, "package_refused", str(exc)) from exc
    m = pkg.manifest
    if db.scalar(
        select(UpdatePackage).where(UpdatePackage.kind == m.kind, UpdatePackage.version == m.version)
    ):
        raise conflict(f"{m.kind} package version {m.version} is already uploaded")
    path = storage(ctx) / f"{pkg.sha256}.tar"
    tmp = path.with_suffix(".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    src.seek(0)
    with os.fdopen(fd, "wb") as f:
        shutil.copyfileobj(src, f, 1024 * 1024)
        size = f.tell()
    tmp.replace(path)
    row = UpdatePackage(
        kind=m.kind, version=m.version, min_version=m.min_version, file_name=m.file_name, sha256=pkg.sha256,
        size=size, key_id=pkg.key_id, uploaded_by=actor,
    )  # fmt: skip
    db.add(row)
    db.flush()
    audit.record(
        db, actor, "update.uploaded", row.file_name, version=m.version, kind=m.kind, sha256=pkg.sha256
    )
    return row


def newest(db: Session, kind: str) -> UpdatePackage | None:
    rows = list(db.scalars(select(UpdatePackage).where(UpdatePackage.kind == kind)))
    best: UpdatePackage | None = None
    for r in rows:
        if best is None or package.version_lt(best.version, r.version):
            best = r
    return best


def package_bytes(ctx: ConsoleContext, row: UpdatePackage) -> bytes:
    return (storage(ctx) / f"{row.sha256}.tar").read_bytes()


def needs(engine_version: str, pkg: UpdatePackage) -> bool:
    return needs_version(engine_version, pkg.version)


def needs_version(in_use: str, version: str) -> bool:
    try:
        return not in_use or package.version_lt(in_use, version)
    except package.PackageError:
        return True


NEWEST_TTL = 5.0  # seconds a process trusts `newest_version`; an upload also queues for every node
_NEWEST = EngineCache(NEWEST_TTL)


def newest_version(ctx: ConsoleContext, kind: str) -> str | None:
    """`newest`'s version, read at most every NEWEST_TTL seconds per process (hot paths: every
    sensor's statistics report asks whether a threat-intelligence package is to be offered)."""

    def read() -> str | None:
        with ctx.db.sessions() as db:
            pkg = newest(db, kind)
        return pkg.version if pkg is not None else None

    version: str | None = _NEWEST.get(ctx.db.engine, kind, read)
    return version


# ---------------------------------------------------------------- console first (sensor versions)


def console_version() -> str:
    """The version of the console code that is running (what a sensor may not exceed)."""
    return otwatch.__version__


def newer_than_console(version: str) -> bool:
    """True when ``version`` is newer than this console; an unparsable version counts as newer."""
    try:
        return package.version_lt(console_version(), version)
    except package.PackageError:
        return True


def too_new_message(version: str) -> str:
    return (
        f"sensor version {version} is newer than this console ({console_version()}); "
        "update the console first (management-secured-patcher)"
    )
