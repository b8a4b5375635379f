"""The SVG charts: well-formed, accessible, escaped, and their geometry follows the data."""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET

import pytest

from otwatch.ui.charts import bar_chart, empty_chart, format_bytes, format_number, line_chart, pie_chart

NS = {"svg": "http://www.w3.org/2000/svg"}


def _svg(markup: str) -> ET.Element:
    root = ET.fromstring(markup)  # raises on malformed markup (e.g. unescaped text)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def _all(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{{{NS['svg']}}}{tag}") if cls in (e.get("class") or "").split()]


def _texts(root: ET.Element, cls: str) -> list[str]:
    return [e.text or "" for e in _all(root, "text", cls)]


def _accessible(root: ET.Element, title: str) -> None:
    assert root.get("role") == "img"
    assert root.get("aria-label") == title
    assert root.findtext("svg:title", namespaces=NS) == title
    assert root.findtext("svg:desc", namespaces=NS)


# ---------------------------------------------------------------- line chart


def test_line_chart_points_follow_hours_and_values() -> None:
    data = [("08:00", 1.0), ("09:00", 4.0), ("10:00", 2.0), ("11:00", 0.0)]
    root = _svg(line_chart(data, title="Traffic Monitoring", unit="Mbps"))
    _accessible(root, "Traffic Monitoring")
    circles = _all(root, "circle", "point")
    assert [c.get("data-label") for c in circles] == ["08:00", "09:00", "10:00", "11:00"]
    xs = [float(c.get("cx", "nan")) for c in circles]
    ys = [float(c.get("cy", "nan")) for c in circles]
    assert xs == sorted(xs) and len(set(xs)) == 4  # left to right in hour order
    steps = [b - a for a, b in itertools.pairwise(xs)]
    assert max(steps) - min(steps) < 0.05  # evenly spaced
    # SVG y grows downwards: the biggest value is highest, zero sits on the baseline
    baseline = ys[3]
    heights = [baseline - y for y in ys]
    assert heights[3] == 0 and heights[1] > heights[2] > heights[0] > 0
    assert heights[1] / heights[0] == pytest.approx(4.0, rel=0.01)
    assert heights[2] / heights[0] == pytest.approx(2.0, rel=0.01)
    # the polyline goes through the same points, in the same order
    poly = _all(root, "polyline", "series")[0]
    pts = [float(v) for p in (poly.get("points") or "").split() for v in p.split(",")]
    assert pts == pytest.approx([v for xy in zip(xs, ys, strict=True) for v in xy], abs=0.01)
    desc = root.findtext("svg:desc", namespaces=NS) or ""
    assert "09:00: 4 Mbps" in desc and "11:00: 0 Mbps" in desc
    assert "08:00" in _texts(root, "x-label")


def test_line_chart_y_axis_covers_the_maximum() -> None:
    root = _svg(line_chart([("a", 0.37), ("b", 0.12)], title="t"))
    top_label = float(_texts(root, "y-label")[-1])
    assert top_label >= 0.37 and top_label <= 0.5  # a readable ceiling, not far above the data


def test_line_chart_single_point_and_thinned_labels() -> None:
    one = _svg(line_chart([("10:00", 3.0)], title="t"))
    assert len(_all(one, "circle", "point")) == 1
    day = [(f"{h:02d}:00", float(h)) for h in range(24)]
    root = _svg(line_chart(day, title="t", max_x_labels=8))
    assert len(_all(root, "circle", "point")) == 24  # every hour is drawn ...
    labels = _texts(root, "x-label")
    assert 3 <= len(labels) <= 9 and labels[0] == "00:00" and labels[-1] == "23:00"  # ... fewer are labelled


# ---------------------------------------------------------------- bar chart


def test_bar_heights_are_proportional_and_labelled() -> None:
    data = [("modbus", 8), ("s7comm", 4), ("dnp3", 2), ("bacnet", 1)]
    root = _svg(bar_chart(data, title="Top 5 OT Protocols", unit="devices"))
    _accessible(root, "Top 5 OT Protocols")
    bars = _all(root, "rect", "bar")
    assert [b.get("data-label") for b in bars] == ["modbus", "s7comm", "dnp3", "bacnet"]
    heights = [float(b.get("height", "nan")) for b in bars]
    for (_, v), h in zip(data, heights, strict=True):
        assert h / heights[0] == pytest.approx(v / 8, rel=0.01)
    bottoms = {round(float(b.get("y", "nan")) + float(b.get("height", "nan")), 2) for b in bars}
    assert len(bottoms) == 1  # all bars stand on the same baseline
    xs = [float(b.get("x", "nan")) for b in bars]
    assert xs == sorted(xs)
    assert _texts(root, "bar-value") == ["8", "4", "2", "1"]  # the device counts are printed
    assert _texts(root, "bar-label") == ["modbus", "s7comm", "dnp3", "bacnet"]


def test_bar_chart_zero_bar_and_all_zero() -> None:
    root = _svg(bar_chart([("a", 2), ("b", 0)], title="t"))
    assert [float(b.get("height", "nan")) for b in _all(root, "rect", "bar")][1] == 0
    empty = _svg(bar_chart([("a", 0)], title="Top", empty_text="No OT protocols yet"))
    assert not _all(empty, "rect", "bar") and _texts(empty, "empty-text") == ["No OT protocols yet"]


# ---------------------------------------------------------------- pie chart


def _arc_sweep(d: str, cx: float, cy: float) -> float:
    """The angle (degrees) a slice path ``M c L p1 A r r 0 large 1 p2 Z`` covers, from its geometry."""
    nums = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", d)]
    _, _, x1, y1, _rx, _ry, _rot, large, _sweep, x2, y2 = nums
    a1 = math.degrees(math.atan2(x1 - cx, cy - y1)) % 360
    a2 = math.degrees(math.atan2(x2 - cx, cy - y2)) % 360
    angle = (a2 - a1) % 360
    if large and angle < 180:
        angle = 360 - angle if angle else 360
    return angle


def test_pie_slices_sum_to_360_and_match_shares() -> None:
    data = [("tcp/502", 600.0), ("HMI", 300.0), ("udp/47808", 100.0)]
    root = _svg(pie_chart(data, title="Traffic By Port", value_format=format_bytes))
    _accessible(root, "Traffic By Port")
    slices = _all(root, "path", "slice")
    assert [s.get("data-label") for s in slices] == ["tcp/502", "HMI", "udp/47808"]
    first = slices[0].get("d") or ""
    cx, cy = (float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", first)[:2])
    sweeps = [_arc_sweep(s.get("d") or "", cx, cy) for s in slices]
    assert sum(sweeps) == pytest.approx(360.0, abs=0.5)
    assert sweeps == pytest.approx([216.0, 108.0, 36.0], abs=0.5)
    legend = _texts(root, "legend-label")
    assert legend[0].startswith("tcp/502 — 60.0%") and "600 B" in legend[0]
    assert legend[1].startswith("HMI — 30.0%")


def test_pie_folds_the_tail_into_other_and_drops_zeros() -> None:
    data = [(f"tcp/{p}", float(10 - i)) for i, p in enumerate(range(100, 110))] + [("udp/1", 0.0)]
    root = _svg(pie_chart(data, title="t", max_slices=4))
    labels = [s.get("data-label") for s in _all(root, "path", "slice")]
    assert labels == ["tcp/100", "tcp/101", "tcp/102", "Other"]
    values = [float(s.get("data-value", "nan")) for s in _all(root, "path", "slice")]
    assert values[-1] == sum(range(1, 8)) and sum(values) == sum(range(1, 11))


def test_pie_single_item_is_a_full_circle() -> None:
    root = _svg(pie_chart([("tcp/502", 5.0)], title="t"))
    circles = _all(root, "circle", "slice")
    assert len(circles) == 1 and circles[0].get("data-label") == "tcp/502"
    assert _texts(root, "legend-label")[0].startswith("tcp/502 — 100.0%")


# ---------------------------------------------------------------- empty state, escaping


@pytest.mark.parametrize(
    "markup",
    [
        line_chart([], title="Traffic Monitoring"),
        bar_chart([], title="Traffic Monitoring"),
        pie_chart([("x", 0)], title="Traffic Monitoring"),
        empty_chart("Traffic Monitoring"),
    ],
)
def test_empty_state(markup: str) -> None:
    root = _svg(markup)
    _accessible(root, "Traffic Monitoring")
    assert _texts(root, "empty-text") == ["No traffic yet"]
    assert "chart-empty" in (root.get("class") or "")
    assert not _all(root, "rect", "bar") and not _all(root, "circle", "point")


def test_text_is_escaped() -> None:
    evil = '<script>alert("x")</script> & "q"'
    for markup in (
        line_chart([(evil, 1.0)], title=evil),
        bar_chart([(evil, 1.0)], title=evil),
        pie_chart([(evil, 1.0), ("b", 2.0)], title=evil),
        empty_chart(evil, evil),
    ):
        assert "<script>" not in markup
        root = _svg(markup)
        assert root.get("aria-label") == evil and root.findtext("svg:title", namespaces=NS) == evil


def test_formatters() -> None:
    assert (
        format_number(12.0) == "12" and format_number(0.012345) == "0.0123" and format_number(1.256) == "1.26"
    )
    assert (
        format_bytes(512) == "512 B"
        and format_bytes(1500) == "1.5 kB"
        and format_bytes(12_300_000) == "12.3 MB"
    )


def test_stacked_bar_chart_stacks_series_and_wraps_its_legend() -> None:
    from otwatch.ui.charts import stacked_bar_chart

    days = ["12-01", "12-02", "12-03"]
    series = [
        ("Critical", [1, 0, 2], "#b3261e"),
        ("Major <b>", [0, 0, 3], "#b35900"),
        ("Protocol Violation", [0, 0, 0], "#0b5cad"),
        ("Policy Violation", [1, 0, 0], "#009e73"),
        ("Operational", [0, 0, 1], "#cc79a7"),
    ]
    root = _svg(stacked_bar_chart(days, series, title="Open alerts"))
    bars = _all(root, "rect", "bar")
    assert sorted((b.get("data-label"), float(b.get("data-value") or 0)) for b in bars) == [
        ("12-01 Critical", 1.0),
        ("12-01 Policy Violation", 1.0),
        ("12-03 Critical", 2.0),
        ("12-03 Major <b>", 3.0),
        ("12-03 Operational", 1.0),
    ]  # zeros draw nothing; labels are escaped in the markup and read back whole
    third = [b for b in bars if (b.get("data-label") or "").startswith("12-03")]
    tops = [float(b.get("y") or 0) for b in third]
    assert tops == sorted(tops, reverse=True)  # stacked upwards in the series' order
    swatches = _all(root, "rect", "swatch")
    assert len(swatches) == 5 and len({s.get("y") for s in swatches}) == 2  # too wide for one row
    assert all(float(s.get("x") or 0) + 100 <= 480 for s in swatches)
    assert "No open alerts" in stacked_bar_chart(
        days, [("Critical", [0, 0, 0], "#000")], title="t", empty_text="No open alerts"
    )
