"""System Settings > Backup & restore: where and when the sensor backs itself up, backups on demand,
their download, and restore from an uploaded backup (see :mod:`otwatch.sensor.local.backup`)."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.datastructures import UploadFile as StarletteUpload

from otwatch.sensor.local.backup import (
    Backup,
    BackupError,
    BackupSettings,
    create_backup,
    due,
    list_backups,
    prune,
    restore_backup,
)
from otwatch.sensor.tracking.baseline import Baseline
from otwatch.sensor.tracking.timeline import EventType
from otwatch.sensor.web.deps import ConsoleDep, CurrentUser, SensorConsole, check_csrf, flash, redirect

router = APIRouter(prefix="")
log = logging.getLogger(__name__)
MAX_UPLOAD = 256 * 1024 * 1024
_NAME = re.compile(r"^sensor-backup-\d{8}-\d{6}\.tar\.gz$")


def state_dir(c: SensorConsole) -> Path:
    return c.store.dir.parent  # the store lives in <state>/local


def back_up(c: SensorConsole, why: str) -> Backup:
    """A backup now (``why``: "on demand" or "scheduled"), pruned to the kept count; the result is an
    event on the timeline and an e-mail to the sensor's recipients either way (seed 003: e-mail about
    failed sensor backups), so a failed scheduled backup is seen."""
    settings = c.store.backup_settings
    folder = settings.folder(state_dir(c))
    with c.host.lock:
        baseline = c.host.sensor.baseline.as_dict()
    import json

    try:
        made = create_backup(state_dir(c), folder, json.dumps(baseline).encode())
        removed = prune(folder, settings.keep)
    except OSError as exc:
        c.event(EventType.BACKUP, f"Backup failed ({why}): {exc}", result="failed", folder=str(folder))
        c.mailer.notify(
            f"Sensor backup failed ({why})",
            f"The {why} backup of the sensor could not be written to {folder}: {exc}.\n"
            "Check the backup folder (System settings > Sensor management > Backup & restore).",
        )
        raise
    c.event(EventType.BACKUP, f"Backup made ({why}): {made.name}", result="ok", folder=str(folder),
            size=made.size, removed=[p.name for p in removed])  # fmt: skip
    c.mailer.notify(
        f"Sensor backup made ({why})",
        f"The {why} backup of the sensor succeeded: {made.name} ({made.size:,} bytes) in {folder}."
        + (f"\nOlder backups removed: {', '.join(p.name for p in removed)}." if removed else ""),
    )
    return made


class BackupScheduler:
    """Checks once a minute whether the scheduled backup is due (a daemon thread of the sensor run)."""

    def __init__(self, console: SensorConsole, every: float = 60.0) -> None:
        self.console, self.every = console, every
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="sensor-backups", daemon=True)

    def start(self) -> BackupScheduler:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()

    def tick(self, now: datetime | None = None) -> Backup | None:
        c = self.console
        settings = c.store.backup_settings
        existing = list_backups(settings.folder(state_dir(c)))
        last = existing[0].created if existing else None
        if not due(settings, last, now or datetime.now(UTC)):
            return None
        return back_up(c, "scheduled")

    def _run(self) -> None:
        while not self.stopped.wait(self.every):
            try:
                self.tick()
            except OSError as exc:  # recorded on the timeline by back_up; try again next minute
                log.warning("scheduled sensor backup failed: %s", exc)


def _page(request: Request, c: SensorConsole, user: Any, status_code: int = 200, **extra: Any) -> Response:
    settings = c.store.backup_settings
    return c.render(
        request,
        "backup.html",
        user,
        status_code,
        active="backup",
        settings=settings,
        folder=settings.folder(state_dir(c)),
        backups=list_backups(settings.folder(state_dir(c))),
        error=extra.pop("error", None),
        form=extra.pop("form", {}),
        **extra,
    )


@router.get("/system/backup", response_class=HTMLResponse)
def backup_page(request: Request, c: ConsoleDep, user: CurrentUser) -> Response:
    return _page(request, c, user)


@router.post("/system/backup/settings", response_class=HTMLResponse)
async def backup_settings(request: Request, c: ConsoleDep, user: CurrentUser) -> Response:
    form = await request.form(max_files=0, max_fields=10)
    check_csrf(request, str(form.get("csrf", "")))
    fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    try:
        settings = BackupSettings.parse(
            fields.get("directory", ""),
            fields.get("schedule", ""),
            fields.get("at", ""),
            fields.get("keep", ""),
        )
    except BackupError as exc:
        return _page(request, c, user, 400, error=str(exc), form=fields)
    c.store.set_backup_settings(settings)
    flash(request, "Backup settings saved.")
    return redirect("/system/backup")


@router.post("/system/backup/now")
async def backup_now(request: Request, c: ConsoleDep, user: CurrentUser) -> Response:
    form = await request.form(max_files=0, max_fields=5)
    check_csrf(request, str(form.get("csrf", "")))
    try:
        made = await asyncio.to_thread(back_up, c, "on demand")
    except OSError as exc:
        return _page(request, c, user, 500, error=f"The backup could not be written: {exc}")
    flash(request, f"Backup made: {made.name}.")
    return redirect("/system/backup")


@router.get("/system/backup/download/{name}")
def backup_download(name: str, c: ConsoleDep, user: CurrentUser) -> Response:
    folder = c.store.backup_settings.folder(state_dir(c))
    path = folder / name
    if not _NAME.match(name) or not path.is_file():
        return Response("no such backup", status_code=404, media_type="text/plain")
    return FileResponse(path, media_type="application/gzip", filename=name)


@router.post("/system/backup/restore", response_class=HTMLResponse)
async def backup_restore(request: Request, c: ConsoleDep, user: CurrentUser) -> Response:
    form = await request.form(max_files=1, max_fields=5, max_part_size=MAX_UPLOAD)
    check_csrf(request, str(form.get("csrf", "")))
    upload = form.get("file")
    if not isinstance(upload, StarletteUpload) or not upload.filename:
        return _page(request, c, user, 400, error="Choose a backup file to restore")
    if form.get("confirm") != "yes":  # a restore replaces the sensor's settings, users and pairing
        return _page(
            request, c, user, 400,
            error="Nothing was restored: confirm that the backup replaces this sensor's settings, users, "
            "pairing and learned baseline",
        )  # fmt: skip
    data = await upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return _page(request, c, user, 400, error=f"The file is larger than {MAX_UPLOAD // 1024 // 1024} MB")
    try:
        baseline = await asyncio.to_thread(restore_backup, data, state_dir(c))
    except BackupError as exc:
        c.mailer.notify(
            "Sensor backup restore refused",
            f"Restoring {upload.filename} on the sensor was refused; nothing was restored: {exc}.",
        )
        return _page(request, c, user, 400, error=f"Nothing was restored: {exc}")
    if baseline is not None:
        import json

        learned = Baseline.from_dict(json.loads(baseline))
        with c.host.lock:
            c.host.sensor.baseline.replace_with(learned)
    c.store.reload()
    c.event(EventType.BACKUP, f"Backup restored: {upload.filename}", result="restored")
    c.mailer.notify(
        "Sensor backup restored",
        f"The backup {upload.filename} was restored on the sensor: its settings and learned baseline are in "
        "use; the pairing with the console and the certificates take effect when the sensor restarts.",
    )
    flash(
        request,
        f"Restored {upload.filename}: the settings and the learned baseline are in use; the pairing with "
        "the console and the certificates take effect when the sensor restarts.",
    )
    return redirect("/system/backup")
