"""Play PCAP: off until Advanced Configurations enable it; uploads streamed to disk; Play, Play All and
Clear All feed the running pipeline."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from otwatch.sensor.capture.synth import demo_plant, write_capture
from otwatch.sensor.local.store import SensorStore, parse_advanced
from otwatch.sensor.local.uploads import PcapLibrary, safe_name
from otwatch.sensor.pipeline.sensor import Sensor
from tests.sensor.web.conftest import AppFactory, client_for, console_of, csrf


def _enable(client: TestClient) -> None:
    r = client.post(
        "/system/advanced",
        data={"csrf": csrf(client), "category": "pcaps", "values": "enabled=1\nspeed=0"},
        follow_redirects=False,
    )
    assert r.status_code == 303


def _upload(client: TestClient, files: list[tuple[str, bytes]]) -> object:
    token = csrf(client)
    return client.post(
        "/system/pcap/upload",
        data={"csrf": token},
        files=[("files", (name, data, "application/vnd.tcpdump.pcap")) for name, data in files],
        follow_redirects=False,
    )


@pytest.fixture
def idle(make_app: AppFactory) -> tuple[FastAPI, Sensor]:
    sensor = Sensor()
    return make_app(sensor), sensor


@pytest.fixture
def small_capture(tmp_path: Path) -> bytes:
    path = tmp_path / "two-minutes.pcap"
    write_capture(str(path), demo_plant(2).frames)
    return path.read_bytes()


def test_off_until_enabled(idle: tuple[FastAPI, Sensor], store: SensorStore, small_capture: bytes) -> None:
    app, _ = idle
    with client_for(app) as c:
        page = c.get("/system/pcap").text
        assert 'data-testid="pcap-off"' in page and "enabled=0" in page
        assert 'href="/system/pcap"' not in c.get("/overview").text  # not in the menu
        r = _upload(c, [("a.pcap", small_capture)])
        assert r.status_code == 403 and "Play PCAP is off" in r.text
        assert not store.pcap_dir.exists() or not list(store.pcap_dir.iterdir())
        assert c.post("/system/pcap/play-all", data={"csrf": csrf(c)}).status_code == 403
        _enable(c)
        assert store.pcaps_enabled
        assert 'href="/system/pcap"' in c.get("/overview").text
        assert 'data-testid="pcap-off"' not in c.get("/system/pcap").text


def test_advanced_configurations_are_validated(admin: TestClient, store: SensorStore) -> None:
    page = admin.get("/system/advanced").text
    assert "enabled=0\nspeed=0" in page
    for text, message in [
        ("enabled=2", "enabled=&#39;2&#39; is not allowed"),
        ("colour=red", "pcaps has no setting &#39;colour&#39;"),
        ("enabled", "expected key=value"),
    ]:
        r = admin.post("/system/advanced", data={"csrf": csrf(admin), "category": "pcaps", "values": text})
        assert r.status_code == 400 and message in r.text, r.text
    r = admin.post("/system/advanced", data={"csrf": csrf(admin), "category": "nope", "values": "a=1"})
    assert r.status_code == 400 and "unknown category" in r.text
    assert not store.pcaps_enabled
    assert parse_advanced("pcaps", "# a comment\n\n enabled = 1 ") == {"enabled": "1"}


def test_upload_and_play_reaches_the_pipeline(
    idle: tuple[FastAPI, Sensor], store: SensorStore, small_capture: bytes
) -> None:
    app, sensor = idle
    with client_for(app) as c:
        _enable(c)
        r = _upload(c, [("line 1/../plant A.pcap", small_capture), ("plant-b.pcap", small_capture)])
        assert r.status_code == 303, getattr(r, "text", "")
        assert sorted(p.name for p in store.pcap_dir.iterdir()) == ["plant-b.pcap", "plant_A.pcap"]
        assert (store.pcap_dir / "plant_A.pcap").read_bytes() == small_capture
        page = c.get("/system/pcap").text
        assert "Uploaded 2 files: plant_A.pcap, plant-b.pcap." in page
        assert len(re.findall(r'<tr data-name="', page)) == 2
        assert sensor.packets == 0

        r = c.post(
            "/system/pcap/play", data={"csrf": csrf(c), "name": "plant_A.pcap"}, follow_redirects=False
        )
        assert r.status_code == 303
        console_of(app).wait_for_players()
        frames = len(demo_plant(2).frames)
        assert sensor.packets == frames
        assert {"10.10.0.10", "10.10.0.11", "10.10.0.20"} <= {a.ip for a in sensor.inventory.assets}
        assert f"Played: {frames} packets" in c.get("/system/pcap").text
        overview = c.get("/overview").text
        assert 'data-label="modbus"' in overview  # the replay shows on the Overview charts

        r = c.post("/system/pcap/play-all", data={"csrf": csrf(c)}, follow_redirects=False)
        assert r.status_code == 303
        console_of(app).wait_for_players()
        assert sensor.packets == 3 * frames
        page = c.get("/system/pcap").text
        assert page.count(f"Played: {frames} packets") == 2

        r = c.post("/system/pcap/clear", data={"csrf": csrf(c)}, follow_redirects=False)
        assert r.status_code == 303
        assert list(store.pcap_dir.iterdir()) == []
        assert "Cleared 2 capture files." in c.get("/system/pcap").text


def test_play_of_a_missing_file(idle: tuple[FastAPI, Sensor]) -> None:
    app, _ = idle
    with client_for(app) as c:
        _enable(c)
        r = c.post("/system/pcap/play", data={"csrf": csrf(c), "name": "../../etc/passwd"})
        assert "no uploaded capture named" in r.text


def test_refused_uploads_leave_nothing(
    make_app: AppFactory, store: SensorStore, small_capture: bytes
) -> None:
    app = make_app(Sensor(), pcap_max_bytes=len(small_capture) - 1)
    with client_for(app) as c:
        _enable(c)
        r = _upload(c, [("big.pcap", small_capture)])
        assert r.status_code == 413 and "big.pcap: larger than the" in r.text
        r = _upload(c, [("notes.pcap", b"hello, this is not a capture")])
        assert r.status_code == 415 and "notes.pcap: not a capture file (pcap or pcapng)" in r.text
        r = _upload(c, [("notes.txt", small_capture[:100])])
        assert r.status_code == 400 and "only .pcap, .pcapng, .cap capture files" in r.text
        r = _upload(c, [("", b"")])
        assert r.status_code == 400 and "choose one or more capture files" in r.text
        r = c.post(
            "/system/pcap/upload",
            content=b"x",
            headers={"content-type": "application/octet-stream", "X-CSRF-Token": csrf(c)},
        )
        assert r.status_code == 415
        assert list(store.pcap_dir.iterdir()) == []  # no partial or temporary file left
        r = c.post(
            "/system/pcap/upload",
            data={"csrf": "wrong"},
            files=[("files", ("a.pcap", small_capture[:100], "x"))],
        )
        assert r.status_code == 403


def test_upload_is_streamed_to_disk(tmp_path: Path, small_capture: bytes) -> None:
    """Each chunk of the request body is on disk before the next one is read: memory holds one chunk."""
    library = PcapLibrary(tmp_path / "library")
    boundary = "otwatch-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="s.pcap"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + small_capture
        + f"\r\n--{boundary}--\r\n".encode()
    )
    on_disk: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 16_384):
            partial = list(library.dir.glob(".upload-*"))
            on_disk.append(partial[0].stat().st_size if partial else 0)
            yield body[i : i + 16_384]

    names = anyio.run(library.receive, f"multipart/form-data; boundary={boundary}", chunks())
    assert names == ["s.pcap"] and (library.dir / "s.pcap").read_bytes() == small_capture
    assert on_disk == sorted(on_disk) and 0 < on_disk[-1] < len(small_capture)
    assert on_disk[-1] >= len(small_capture) - 2 * 16_384 - 8192  # at most a chunk and a write buffer behind
    assert not list(library.dir.glob(".upload-*"))


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("a.pcap", "a.pcap"),
        ("C:\\caps\\b.pcapng", "b.pcapng"),
        ("../../x.cap", "x.cap"),
        ("my plant.PCAP", "my_plant.PCAP"),
        (".hidden.pcap", "hidden.pcap"),
    ],
)
def test_safe_names(given: str, stored: str) -> None:
    assert safe_name(given) == stored
