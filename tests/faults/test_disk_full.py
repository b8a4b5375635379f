"""A full disk is reported with a clear error and does not corrupt the console's database.

As root the console's data directory is a small tmpfs (mounted here, unmounted afterwards) that a
filler file fills up; without root the console process gets an RLIMIT_FSIZE instead (SIGXFSZ
ignored, so writes past it fail with EFBIG as on a full disk). Either way: check-ins carrying data
are answered 503 with a clear code and Retry-After, the console stays up, the database passes
SQLite's integrity check, and once space is back the node's re-sent data is stored.
"""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.faults.procs import ConsoleProc, connected_agent

pytestmark = [pytest.mark.network, pytest.mark.timeout(120)]
ROOT = os.geteuid() == 0 and not os.environ.get("OTWATCH_TEST_NO_TMPFS")  # force the other variant
FSIZE = 3 * 1024 * 1024  # the non-root variant's file size limit


@contextmanager
def data_disk(path: Path) -> Iterator[Path]:
    """A 12 MB tmpfs as root (unmounted afterwards), else a plain directory (RLIMIT_FSIZE variant)."""
    path.mkdir()
    if not ROOT:
        yield path
        return
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m,mode=0700", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    # unbuffered: a buffered file would try to flush its tail again on close and raise ENOSPC there
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    return filler


def _assets(n: int, tag: int) -> list[dict[str, Any]]:
    return [
        {
            "ip": f"10.20.{tag % 250}.{i % 250 + 1}",
            "mac": f"02:00:00:{tag % 256:02x}:{i // 256:02x}:{i % 256:02x}",
            "vendor": "Siemens " + "x" * 200,
            "model": "S7-1500 " + "y" * 200,
            "protocols": ["s7comm", "modbus"],
        }
        for i in range(n)
    ]


def _limit_fsize() -> None:  # runs in the console's child process before exec
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE, FSIZE))


def test_disk_full_is_reported_and_does_not_corrupt(tmp_path: Path) -> None:
    with data_disk(tmp_path / "data") as disk:
        console = ConsoleProc(
            disk / "console", preexec=None if ROOT else _limit_fsize, background_workers="false"
        )
        console.log = tmp_path / "console.log"  # not on the full disk
        console.start()
        try:
            with closing(console.admin()) as admin:
                agent = connected_agent(admin, console, tmp_path / "agent")
            report = {"id": "r1", "kind": "assets", "assets": _assets(400, 1)}
            assert agent.checkin_raw(console, reports=[report]).status_code == 200
            filler = _fill(disk) if ROOT else None

            full = None
            for tag in range(2, 60):  # until the database cannot grow any more
                r = agent.checkin_raw(
                    console, reports=[{"id": f"r{tag}", "kind": "assets", "assets": _assets(400, tag)}]
                )
                if r.status_code != 200:
                    full = r
                    break
            assert full is not None, "the disk never filled up"
            assert full.status_code == 503, full.text
            err = full.json()["error"]
            assert err["code"] in (("disk_full",) if ROOT else ("disk_full", "disk_error")), err
            assert "disk" in err["message"] and int(full.headers["retry-after"]) > 0
            assert console.proc is not None and console.proc.poll() is None  # still serving
            health = agent.client(console).get("/api/v1/health")
            assert health.status_code == 200

            if filler is not None:
                filler.unlink()  # space is back: the same data goes in
                r = agent.checkin_raw(
                    console, reports=[{"id": f"r{tag}", "kind": "assets", "assets": _assets(400, tag)}]
                )
                assert r.status_code == 200, r.text
            agent.close()
        finally:
            console.stop()
        with closing(sqlite3.connect(disk / "console" / "otwatch.db")) as c:
            assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            (assets,) = c.execute("SELECT count(*) FROM assets").fetchone()
        assert assets >= 400  # what was stored before the disk filled is all there
