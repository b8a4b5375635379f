"""System Settings > Backup & restore: what a backup holds, that a restore checks everything before it
writes anything, the schedule, and the page's flows (back up now, download, restore)."""

from __future__ import annotations

import io
import json
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from otwatch.sensor.local.backup import (
    BackupError,
    BackupSettings,
    create_backup,
    due,
    list_backups,
    prune,
    read_backup,
    restore_backup,
)
from otwatch.sensor.local.store import SensorStore
from otwatch.sensor.pipeline.sensor import Sensor
from otwatch.sensor.web.backup_page import BackupScheduler
from tests.sensor.web.conftest import csrf


def _state(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    (state / "local" / "pcaps").mkdir(parents=True)
    (state / "identity.json").write_text('{"node_id": "n1"}')
    (state / "key.pem").write_bytes(b"PRIVATE KEY")
    (state / "local" / "settings.json").write_text('{"time_region": {"timezone": "UTC"}}')
    (state / "local" / "pcaps" / "big.pcap").write_bytes(bytes(1000))
    return state


def _tar(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def test_backup_holds_the_state_and_the_baseline_but_not_the_pcaps(tmp_path: Path) -> None:
    state = _state(tmp_path)
    made = create_backup(state, state / "backups", b'{"assets": []}')
    assert made.path.stat().st_mode & 0o777 == 0o600
    manifest, files = read_backup(made.path.read_bytes())
    assert set(files) == {
        "state/identity.json",
        "state/key.pem",
        "state/local/settings.json",
        "baseline.json",
    }
    assert manifest["kind"] == "otwatch-sensor-backup"
    (state / "key.pem").write_bytes(b"LOST")  # a disk problem; restore brings the key back
    (state / "identity.json").unlink()
    assert restore_backup(made.path.read_bytes(), state) == b'{"assets": []}'
    assert (state / "key.pem").read_bytes() == b"PRIVATE KEY" and (state / "identity.json").exists()


@pytest.mark.parametrize(
    "damage",
    ["altered", "extra", "link", "escape", "absolute", "not-a-backup", "junk"],
)
def test_a_damaged_or_hostile_archive_restores_nothing(tmp_path: Path, damage: str) -> None:
    state = _state(tmp_path)
    good = create_backup(state, tmp_path / "out", None).path.read_bytes()
    manifest, files = read_backup(good)
    info = tarfile.TarInfo
    members = [(info("backup.json"), json.dumps(manifest).encode())] + [
        (info(n), d) for n, d in files.items()
    ]
    if damage == "altered":
        members[1] = (members[1][0], b"tampered")
    elif damage == "extra":
        members.append((info("state/extra.txt"), b"x"))
    elif damage == "link":
        link = info("state/key.pem")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
        members[1] = (link, b"")
    elif damage == "escape":
        members.append((info("state/../../outside.txt"), b"x"))
    elif damage == "absolute":
        members.append((info("/tmp/outside.txt"), b"x"))
    elif damage == "not-a-backup":
        members = [(info("state/key.pem"), b"x")]
    for m, data in members:
        m.size = len(data) if m.isreg() else 0
    archive = b"this is not gzip" if damage == "junk" else _tar(members)
    before = {p: p.read_bytes() for p in state.rglob("*") if p.is_file()}
    (state / "key.pem").write_bytes(b"CURRENT")
    before[state / "key.pem"] = b"CURRENT"
    with pytest.raises(BackupError):
        restore_backup(archive, state)
    assert {p: p.read_bytes() for p in state.rglob("*") if p.is_file()} == before
    assert not (tmp_path / "outside.txt").exists()


def test_schedule_and_pruning(tmp_path: Path) -> None:
    daily = BackupSettings.parse("", "daily", "02:00", "2")
    now = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
    assert due(daily, None, now)
    assert not due(daily, datetime(2026, 12, 6, 2, 30, tzinfo=UTC), now)  # today's is made
    assert due(daily, datetime(2026, 12, 5, 2, 30, tzinfo=UTC), now)
    assert not due(daily, datetime(2026, 12, 5, 2, 30, tzinfo=UTC), datetime(2026, 12, 6, 1, 0, tzinfo=UTC))
    assert not due(BackupSettings.parse("", "off", "02:00", "2"), None, now)
    weekly = BackupSettings.parse("", "weekly", "02:00", "2")  # 2026-12-06 is a Sunday
    assert not due(weekly, datetime(2026, 12, 6, 2, 5, tzinfo=UTC), datetime(2026, 12, 12, 23, 0, tzinfo=UTC))
    assert due(weekly, datetime(2026, 12, 6, 2, 5, tzinfo=UTC), datetime(2026, 12, 13, 2, 1, tzinfo=UTC))
    for bad in (("rel/dir", "daily", "02:00", "2"), ("", "hourly", "02:00", "2"), ("", "daily", "25:00", "2"),
                ("", "daily", "02:00", "0")):  # fmt: skip
        with pytest.raises(BackupError):
            BackupSettings.parse(*bad)
    state = _state(tmp_path)
    for day in (1, 2, 3):
        create_backup(state, tmp_path / "b", None, now=datetime(2026, 12, day, tzinfo=UTC))
    assert [p.name for p in prune(tmp_path / "b", 2)] == ["sensor-backup-20261201-000000.tar.gz"]
    assert len(list_backups(tmp_path / "b")) == 2


def test_page_backs_up_downloads_and_restores_the_learned_baseline(
    admin: TestClient, store: SensorStore, fed_sensor: Sensor
) -> None:
    learned = fed_sensor.baseline.as_dict()
    assert learned["conversations"]
    r = admin.post("/system/backup/now", data={"csrf": csrf(admin, "/system/backup")}, follow_redirects=False)
    assert r.status_code == 303
    page = admin.get("/system/backup").text
    (name,) = [b.name for b in list_backups(store.dir.parent / "backups")]
    assert name in page and "Backup made" in page
    archive = admin.get(f"/system/backup/download/{name}")
    assert archive.status_code == 200 and archive.content.startswith(b"\x1f\x8b")
    assert admin.get("/system/backup/download/..%2Fkey.pem").status_code == 404
    fed_sensor.baseline.conversations.clear()  # lost, e.g. a Clear data
    r = admin.post("/system/backup/restore", data={"csrf": csrf(admin, "/system/backup")},
                   files={"file": (name, archive.content, "application/gzip")})  # fmt: skip
    assert r.status_code == 400 and "confirm that the backup replaces" in r.text  # not confirmed
    assert not fed_sensor.baseline.conversations
    r = admin.post("/system/backup/restore", data={"csrf": csrf(admin, "/system/backup"), "confirm": "yes"},
                   files={"file": (name, archive.content, "application/gzip")}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    assert fed_sensor.baseline.as_dict() == learned
    r = admin.post("/system/backup/restore", data={"csrf": csrf(admin, "/system/backup"), "confirm": "yes"},
                   files={"file": ("x.tar.gz", b"junk", "application/gzip")})  # fmt: skip
    assert r.status_code == 400 and "Nothing was restored" in r.text
    titles = [e.title for e in fed_sensor.timeline if e.type == "Backup"]
    assert titles[0].startswith("Backup made (on demand)") and titles[-1].startswith("Backup restored")


def test_settings_form_and_the_scheduler(admin: TestClient, store: SensorStore, tmp_path: Path) -> None:
    folder = tmp_path / "share"
    r = admin.post("/system/backup/settings", data={"csrf": csrf(admin, "/system/backup"), "directory": "relative",
                                                    "schedule": "daily", "at": "02:00", "keep": "3"})  # fmt: skip
    assert r.status_code == 400 and "absolute path" in r.text
    r = admin.post("/system/backup/settings", data={"csrf": csrf(admin, "/system/backup"), "directory": str(folder),
                                                    "schedule": "daily", "at": "02:00", "keep": "3"},
                   follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and store.backup_settings.folder(store.dir.parent) == folder
    scheduler = BackupScheduler(admin.app.state.console)  # type: ignore[attr-defined]
    assert scheduler.tick(datetime(2026, 12, 6, 3, 0, tzinfo=UTC)) is not None  # none yet: due
    assert scheduler.tick(datetime(2026, 12, 6, 3, 1, tzinfo=UTC)) is None  # today's is made
    assert len(list_backups(folder)) == 1
