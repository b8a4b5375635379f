"""Time & Region: one formatting function for every time the sensor console shows."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from otwatch.sensor.config.timefmt import (
    DateFormat,
    TimeRegion,
    format_time,
    validate_date_format,
    validate_timezone,
    zone_label,
)
from otwatch.sensor.local.store import SensorStore
from otwatch.sensor.pipeline.sensor import Sensor
from tests.sensor.web.conftest import csrf

T = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


@pytest.mark.parametrize(
    ("zone", "fmt", "text"),
    [
        ("UTC", DateFormat.YEAR_FIRST, "2023/11/14 22:13:20"),
        ("UTC", DateFormat.DAY_FIRST, "14/11/2023 22:13:20"),
        ("UTC", DateFormat.MONTH_FIRST, "11/14/2023 22:13:20"),
        ("Europe/Berlin", DateFormat.DAY_FIRST, "14/11/2023 23:13:20"),
        ("Asia/Kolkata", DateFormat.YEAR_FIRST, "2023/11/15 03:43:20"),
        ("America/New_York", DateFormat.MONTH_FIRST, "11/14/2023 17:13:20"),
    ],
)
def test_format_time(zone: str, fmt: DateFormat, text: str) -> None:
    region = TimeRegion(zone, fmt)
    assert format_time(T, region) == text
    assert format_time(datetime.fromtimestamp(T, UTC), region) == text
    assert format_time(datetime.fromtimestamp(T, UTC).isoformat(), region) == text
    assert format_time(datetime(2023, 11, 14, 22, 13, 20), region) == text  # naive = UTC


def test_no_time_is_a_dash() -> None:
    assert format_time(None, TimeRegion()) == "—"


def test_summer_time_is_followed() -> None:
    summer = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
    assert format_time(summer, TimeRegion("Europe/Berlin", DateFormat.YEAR_FIRST)) == "2024/07/01 14:00:00"
    assert zone_label(TimeRegion("Europe/Berlin"), summer) == "Europe/Berlin (UTC+02:00)"


@pytest.mark.parametrize("bad", ["Mars/Olympus", "", "../../etc/passwd", "Europe/"])
def test_unknown_zones(bad: str) -> None:
    with pytest.raises(ValueError, match="Time Zone"):
        validate_timezone(bad)


def test_formats_are_the_seeds() -> None:
    assert [f.value for f in DateFormat] == [
        "dd/MM/yyyy HH:mm:ss",
        "MM/dd/yyyy HH:mm:ss",
        "yyyy/MM/dd HH:mm:ss",
    ]
    with pytest.raises(ValueError, match="is not supported"):
        validate_date_format("%Y-%m-%d")


def test_a_saved_region_the_host_no_longer_knows_falls_back() -> None:
    assert (
        TimeRegion.from_dict({"timezone": "Gone/Zone", "date_format": "dd/MM/yyyy HH:mm:ss"}) == TimeRegion()
    )


def test_time_page_saves_and_every_page_follows(
    admin: TestClient, store: SensorStore, fed_sensor: Sensor
) -> None:
    page = admin.get("/system/time").text
    assert "<option selected>UTC</option>" in page and "Europe/Berlin" in page
    r = admin.post(
        "/system/time",
        data={"csrf": csrf(admin), "timezone": "Mars/Olympus", "date_format": "dd/MM/yyyy HH:mm:ss"},
    )
    assert r.status_code == 400 and "is not a known IANA time zone" in r.text
    assert store.time_region == TimeRegion()
    r = admin.post(
        "/system/time",
        data={"csrf": csrf(admin), "timezone": "Asia/Kolkata", "date_format": "dd/MM/yyyy HH:mm:ss"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert store.time_region == TimeRegion("Asia/Kolkata", DateFormat.DAY_FIRST)
    page = admin.get("/system/time").text
    assert re.search(r'data-testid="now">\d\d/\d\d/\d{4} \d\d:\d\d:\d\d<', page)
    # the devices, alerts and overview pages show times in the zone and format chosen
    asset = fed_sensor.inventory.assets[0]
    region = store.time_region
    assert format_time(asset.first_seen, region) in admin.get("/devices").text
    alert = next(iter(fed_sensor.alerts.alerts.values()))
    assert format_time(alert.last_seen, region) in admin.get("/alerts", params={"status": "all"}).text
    overview = admin.get("/overview").text
    assert "Times in Asia/Kolkata (UTC+05:30)" in overview
    assert re.search(r'class="x-label"[^>]*>\d\d:30<', overview)  # traffic hours labelled in the zone
