"""Play PCAP's one rule for time: a replayed packet is never ahead of now and never goes back."""

from __future__ import annotations

import time
from pathlib import Path

from otwatch.sensor.capture.pcapfile import write_pcap
from otwatch.sensor.capture.sources import PcapReplay

OLD = 1_088_000_000.0  # 2004, like the public captures


def _capture(path: Path, stamps: list[float]) -> Path:
    path.write_bytes(write_pcap((OLD + s, 1, bytes(60)) for s in stamps))
    return path


def _play(replay: PcapReplay) -> list[tuple[float, float]]:
    """(frame time, wall clock when it was given) for every frame."""
    return [(ts, time.time()) for ts, _lt, _data in replay]


def test_as_fast_as_possible_keeps_intervals_in_the_recent_past(tmp_path: Path) -> None:
    stamps = [0.0, 1.5, 90.0, 600.0]  # ten minutes of a 2004 capture
    played = _play(PcapReplay([_capture(tmp_path / "a.pcap", stamps)]))
    times = [t for t, _ in played]
    assert all(t <= wall + 1e-3 for t, wall in played)  # never ahead of now
    assert abs(times[-1] - played[0][1]) < 2.0  # the pass ends when it started: recent past
    assert [round(t - times[0], 3) for t in times] == stamps  # the capture's own intervals


def test_paced_replay_stamps_the_moment_of_play(tmp_path: Path) -> None:
    stamps = [0.0, 2.0, 4.0, 6.0]
    start = time.time()
    played = _play(PcapReplay([_capture(tmp_path / "a.pcap", stamps)], speed=20))
    assert all(t <= wall + 1e-3 for t, wall in played)
    assert [round(t - played[0][0], 2) for t, _ in played] == [0.0, 0.1, 0.2, 0.3]  # 20 times shorter
    assert played[0][0] >= start - 0.01


def test_loops_and_successive_files_are_never_ahead_and_paced_ones_never_go_back(tmp_path: Path) -> None:
    a = _capture(tmp_path / "a.pcap", [0.0, 0.4, 0.8])
    b = _capture(tmp_path / "b.pcap", [0.0, 0.3])
    c = _capture(tmp_path / "c.pcap", [5.0, 4.9, 5.2])  # out of order in the file on purpose
    for speed in (0.0, 40.0):
        replay = PcapReplay([a, b, c], loop=True, speed=speed)
        played: list[tuple[float, float]] = []
        for ts, _lt, _data in replay:
            played.append((ts, time.time()))
            if len(played) == 16:  # two passes over the three files
                replay.stopped = True
        assert all(t <= wall + 1e-3 for t, wall in played), speed
        times = [t for t, _ in played]
        if speed:
            assert times == sorted(times)
    paced = PcapReplay([c], speed=1000, after=time.time() + 0.2)  # the previous source's last frame
    assert next(iter(paced))[0] >= paced.last_time - 1e-9 and paced.last_time <= time.time() + 1e-3
