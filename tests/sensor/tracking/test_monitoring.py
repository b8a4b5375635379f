"""SPAN monitoring-port failures, clock-driven: down at once, no traffic after the configured time,
dropping packets beyond the limit; each raised once and cleared once when traffic returns."""

from __future__ import annotations

import pytest

from otwatch.sensor.tracking.monitoring import PortFailure, PortSample, PortWatch

T0 = 1_000_000.0


def _kinds(notices: list) -> list[PortFailure | None]:  # type: ignore[type-arg]
    return [n.failure for n in notices]


def test_no_traffic_after_the_configured_time_then_traffic_returns() -> None:
    w = PortWatch(no_traffic_after=60)
    assert w.check("eth1", PortSample(True, 100), T0) == []  # the first look counts as traffic
    assert w.check("eth1", PortSample(True, 100), T0 + 59) == []
    (n,) = w.check("eth1", PortSample(True, 100), T0 + 60)
    assert n.failure is PortFailure.NO_TRAFFIC and n.interface == "eth1" and n.at == T0 + 60
    assert n.title == "SPAN monitoring port eth1: No traffic"
    assert "no traffic for 60 s (the limit is 60 s)" in n.message and "SPAN" in n.message
    assert w.check("eth1", PortSample(True, 100), T0 + 3600) == []  # raised once, not every check
    assert "no traffic for 60 min" in w.active()[0].message  # the pane shows the current figures
    (back,) = w.check("eth1", PortSample(True, 105), T0 + 3605)
    assert back.failure is None and back.title == "SPAN monitoring port eth1: traffic returned"
    assert "No traffic cleared" in back.message
    assert w.active() == []
    assert w.status() == [{"interface": "eth1", "failure": None, "since": T0 + 3605, "message": ""}]


def test_interface_down_at_once_and_up_without_traffic_is_no_traffic() -> None:
    w = PortWatch(no_traffic_after=300)
    w.check("eth1", PortSample(True, 10), T0)
    (down,) = w.check("eth1", PortSample(False, 12), T0 + 5)
    assert down.failure is PortFailure.DOWN and "is down" in down.message
    assert [f.failure for f in w.active()] == [PortFailure.DOWN]
    assert w.check("eth1", PortSample(False, 12), T0 + 10) == []
    (quiet,) = w.check("eth1", PortSample(True, 12), T0 + 15)  # up again, but nothing arrives
    assert quiet.failure is PortFailure.NO_TRAFFIC
    (back,) = w.check("eth1", PortSample(True, 13), T0 + 20)
    assert back.failure is None


def test_dropping_packets_beyond_the_limit() -> None:
    w = PortWatch(drop_percent=5)
    w.check("eth1", PortSample(True, 0, 0), T0)
    assert w.check("eth1", PortSample(True, 1000, 40), T0 + 5) == []  # 3.8 %: below the limit
    (n,) = w.check("eth1", PortSample(True, 1900, 140), T0 + 10)  # 100 of 1,000: 10 %
    assert n.failure is PortFailure.DROPPING
    assert "100 of 1,000 frames (10.0 %)" in n.message and "the limit is 5 %" in n.message
    assert w.check("eth1", PortSample(True, 2800, 240), T0 + 15) == []
    (back,) = w.check("eth1", PortSample(True, 3800, 240), T0 + 20)  # traffic, nothing dropped
    assert back.failure is None and "Dropping packets cleared" in back.message


def test_interfaces_are_watched_apart_and_counters_may_reset() -> None:
    w = PortWatch(no_traffic_after=10)
    w.check("eth1", PortSample(True, 50), T0)
    w.check("eth2", PortSample(True, 50), T0)
    assert _kinds(w.check("eth1", PortSample(True, 50), T0 + 10)) == [PortFailure.NO_TRAFFIC]
    assert w.check("eth2", PortSample(True, 60), T0 + 10) == []
    assert [n.interface for n in w.active()] == ["eth1"]
    # a driver reload resets the counter to a smaller value: not traffic by itself, nor an error
    assert w.check("eth1", PortSample(True, 3), T0 + 11) == []
    assert _kinds(w.check("eth1", PortSample(True, 4), T0 + 12)) == [None]


def test_limits_are_checked() -> None:
    w = PortWatch()
    w.configure(30, 2.5)
    assert (w.no_traffic_after, w.drop_percent) == (30, 2.5)
    for bad in ((0, 1), (10, 0), (10, 101)):
        with pytest.raises(ValueError):
            w.configure(*bad)
