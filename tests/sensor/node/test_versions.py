"""Sensor versions on disk: staging refuses what it must, the supervisor restarts into a new
version and rolls it back when it does not check in healthy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import otwatch
from otwatch.sensor.node.versions import RESTART_EXIT, Supervisor, VersionError, VersionStore
from otwatch.wire import package

PRIV, PUB = package.generate_release_key()
KEY = package.load_private(PRIV)
TRUSTED = [package.load_public(PUB)]
SRC = Path(otwatch.__file__).parent


def code_tree(version: str, patch: dict[str, str] | None = None) -> dict[str, bytes]:
    """A version's lib/: this checkout's otwatch package, saying it is ``version`` (the way a
    release build would be ``pip install --target lib otwatch==<version>``), with optional files
    replaced (a broken build)."""
    files = {
        f"lib/otwatch/{p.relative_to(SRC).as_posix()}": p.read_bytes()
        for p in SRC.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    init = files["lib/otwatch/__init__.py"].decode()
    files["lib/otwatch/__init__.py"] = init.replace(
        f'__version__ = "{otwatch.__version__}"', f'__version__ = "{version}"'
    ).encode()
    for name, text in (patch or {}).items():
        files[f"lib/otwatch/{name}"] = text.encode()
    files["version.json"] = json.dumps({"version": version}).encode()
    return files


def sensor_package(version: str, min_version: str = "0.1.0", **kw: dict[str, str]) -> bytes:
    return package.build("sensor", version, min_version, code_tree(version, kw.get("patch")), KEY)


@pytest.fixture(scope="module")
def v020() -> bytes:
    return sensor_package("0.2.0")


def test_stage_accepts_a_signed_version(tmp_path: Path, v020: bytes) -> None:
    store = VersionStore(tmp_path)
    seen: list[int] = []
    m = store.stage(v020, TRUSTED, "0.1.0", lambda pct, _: seen.append(pct))
    assert m.version == "0.2.0" and seen == [40, 60]
    assert (tmp_path / "versions/0.2.0/lib/otwatch/sensor/node/managed.py").is_file()
    assert store.current_version() is None  # staged, not switched
    store.switch("cmd-1", "0.1.0", "0.2.0")
    assert store.current_version() == "0.2.0" and (tmp_path / "current").resolve() == (
        tmp_path / "versions/0.2.0"
    )
    assert store.child_env()["PYTHONPATH"].split(":")[0] == str(tmp_path / "versions/0.2.0/lib")
    assert store.pending() == {**store.pending(), "command_id": "cmd-1", "from": "0.1.0", "to": "0.2.0"}  # type: ignore[dict-item]
    assert store.confirm("0.2.0") is not None and store.pending() is None


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        ("flip", "does not match its SHA-256"),
        ("wrong_key", "signature does not match any trusted release key"),
        ("downgrade", "not newer than the installed 0.3.0"),
        ("below_min", "upgrades from 0.1.5 or later; 0.1.0 is installed"),
        ("mismatch", "version.json says 0.9.0, the manifest 0.2.0"),
        ("broken", "does not start: RuntimeError: broken build"),
        ("wrong_code", "the code in the package is version 0.1.0, not 0.2.0"),
    ],
)
def test_stage_refusals(tmp_path: Path, v020: bytes, mutate: str, message: str) -> None:
    running, data = "0.1.0", v020
    if mutate == "flip":
        raw = bytearray(v020)
        raw[bytes(raw).index(b"def stage")] ^= 0x01  # one byte of the payload's code
        data = bytes(raw)
    elif mutate == "wrong_key":
        other = package.load_private(package.generate_release_key()[0])
        data = package.build("sensor", "0.2.0", "0.1.0", code_tree("0.2.0"), other)
    elif mutate == "downgrade":
        running = "0.3.0"
    elif mutate == "below_min":
        data = sensor_package("0.2.0", min_version="0.1.5")
    elif mutate == "mismatch":
        files = {**code_tree("0.2.0"), "version.json": b'{"version": "0.9.0"}'}
        data = package.build("sensor", "0.2.0", "0.1.0", files, KEY)
    elif mutate == "broken":
        data = sensor_package(
            "0.2.0", patch={"sensor/cli/service.py": "raise RuntimeError('broken build')\n"}
        )
    elif mutate == "wrong_code":
        files = {**code_tree(otwatch.__version__), "version.json": b'{"version": "0.2.0"}'}
        data = package.build("sensor", "0.2.0", "0.1.0", files, KEY)
    store = VersionStore(tmp_path)
    with pytest.raises(VersionError, match=message):
        store.stage(data, TRUSTED, running)
    assert not (tmp_path / "versions").exists() or not any((tmp_path / "versions").iterdir())
    assert store.current_version() is None


def _fake_versions(tmp_path: Path) -> VersionStore:
    """Two staged versions whose lib/ holds a tiny stand-in sensor (fake_sensor.py)."""
    store = VersionStore(tmp_path)
    for v in ("1.0", "2.0"):
        lib = tmp_path / "versions" / v / "lib"
        lib.mkdir(parents=True)
        (lib / "fake_sensor.py").write_text(f"VERSION = {v!r}\n")
    store._point(store.current, "1.0")
    return store


#: The stand-in sensor: prints its version, then behaves as argv[1] says (restart, confirm, hang, crash).
CHILD = """
import sys, time
from pathlib import Path
from fake_sensor import VERSION
from otwatch.sensor.node.versions import VersionStore
store = VersionStore(Path(sys.argv[2]))
print("fake sensor", VERSION, flush=True)
mode = sys.argv[1]
if mode == "switch" and VERSION == "1.0":
    store.switch("cmd-9", "1.0", "2.0"); sys.exit(75)
if mode == "switch" and VERSION == "2.0":
    store.confirm("2.0"); time.sleep(0.5); sys.exit(0)
if mode == "hang" and VERSION == "1.0" and store.pending() is None and not store.result_file.exists():
    store.switch("cmd-9", "1.0", "2.0"); sys.exit(75)
if mode == "crash" and VERSION == "1.0" and store.pending() is None and not store.result_file.exists():
    store.switch("cmd-9", "1.0", "2.0"); sys.exit(75)
if mode == "crash" and VERSION == "2.0":
    raise SystemExit("capture engine failed to start")
if mode == "hang" and VERSION == "2.0":
    time.sleep(60)
sys.exit(3)
"""


def _supervise(store: VersionStore, mode: str, timeout: float = 20.0) -> tuple[int, Supervisor]:
    sup = Supervisor(
        store, [mode, str(store.base)], command=[sys.executable, "-c", CHILD], health_timeout=2.0, poll=0.05
    )
    out: list[int] = []
    t = threading.Thread(target=lambda: out.append(sup.run()), daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        sup.stop()
        t.join(5)
    return (out[0] if out else -1), sup


def test_supervisor_restarts_into_the_new_version(tmp_path: Path) -> None:
    store = _fake_versions(tmp_path)
    code, _ = _supervise(store, "switch")
    assert code == 0 and store.current_version() == "2.0" and store.pending() is None
    assert store.healthy_version() == "2.0" and not store.result_file.exists()
    log = store.log_file.read_text()
    assert log.index("fake sensor 1.0") < log.index("fake sensor 2.0")
    assert RESTART_EXIT == 75


def test_version_that_never_checks_in_healthy_is_rolled_back(tmp_path: Path) -> None:
    store = _fake_versions(tmp_path)
    started = time.monotonic()
    code, _ = _supervise(store, "hang")
    assert time.monotonic() - started < 15  # the 60 s hang was cut at the 2 s limit
    assert code == 3  # the previous version ran again (and then exited as this stand-in does)
    assert store.current_version() == "1.0" and store.pending() is None
    assert not (tmp_path / "versions/2.0").exists()  # the failed version is removed
    outcome = store.take_outcome()
    assert outcome is not None and outcome["command_id"] == "cmd-9"
    assert outcome["error"] == "version 2.0 did not check in healthy within 2 s; rolled back to 1.0"
    assert "fake sensor 2.0" in outcome["log"]


def test_version_that_crashes_is_rolled_back_with_its_log(tmp_path: Path) -> None:
    store = _fake_versions(tmp_path)
    code, _ = _supervise(store, "crash")
    assert code == 3 and store.current_version() == "1.0"
    outcome = store.take_outcome()
    assert outcome is not None
    assert outcome["error"].startswith("version 2.0 exited (code 1) before checking in healthy")
    assert "capture engine failed to start" in outcome["log"]
    assert store.take_outcome() is None  # reported once


def test_supervise_command_passes_the_run_options_on(tmp_path: Path) -> None:
    """`otwatch sensor supervise` starts `sensor run` with the remaining options; an unpaired
    sensor's run exits 1 with its message, and so does the supervisor (the service restarts it)."""
    r = subprocess.run(
        [sys.executable, "-m", "otwatch", "sensor", "supervise", "--install-base", str(tmp_path),
         "--health-timeout", "5", "--pcap", str(tmp_path / "none.pcap"), "--speed", "0"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    log = (tmp_path / "logs/sensor.log").read_text()
    assert r.returncode == 1 and "not paired" in log, (r.returncode, r.stderr[-2000:], log[-2000:])


# -- the sensor's process group ends with it ------------------------------------------------------
#: A stand-in sensor that starts a grandchild, writes "<its pid> <grandchild pid>" to argv[1], then
#: as argv[2] says: "sleep", "stubborn" (sleep, and both ignore SIGTERM) or "orphan" (exit 3 at once,
#: leaving the grandchild running).
FAMILY = """
import os, signal, subprocess, sys, time
stubborn = sys.argv[2] == "stubborn"
if stubborn:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
sleeper = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"
grandchild = subprocess.Popen([sys.executable, "-c", sleeper if stubborn else "import time; time.sleep(120)"])
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(f"{os.getpid()} {grandchild.pid}")
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
if sys.argv[2] != "orphan":
    time.sleep(120)
sys.exit(3)
"""


def _gone(pid: int) -> bool:
    """No such process any more (a zombie waiting for its new parent to reap it counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _wait_pids(path: Path, timeout: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"the stand-in sensor never started ({path})"
        time.sleep(0.05)
    return [int(p) for p in path.read_text().split()]


def _all_gone(pids: list[int], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not all(_gone(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return all(_gone(p) for p in pids)


def _kill(pids: list[int]) -> None:
    """Clean up after a failed test: the processes it started must not outlive it either."""
    for pid in pids:
        if not _gone(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("mode", ["stubborn", "orphan"])
def test_the_sensor_process_group_ends_with_its_run(tmp_path: Path, mode: str) -> None:
    """Stopped with SIGTERM ignored: SIGKILL after the grace time; exited by itself: what it left
    running goes too. Either way the sensor's grandchild is ended with it."""
    store = VersionStore(tmp_path)
    pid_file = tmp_path / "pids"
    sup = Supervisor(store, [str(pid_file), mode], command=[sys.executable, "-c", FAMILY], poll=0.05,
                     stop_grace=1.0)  # fmt: skip
    out: list[int] = []
    t = threading.Thread(target=lambda: out.append(sup.run()), daemon=True)
    t.start()
    pids: list[int] = []
    try:
        pids = _wait_pids(pid_file)
        started = time.monotonic()
        if mode == "stubborn":
            sup.stop()
        t.join(20)
        assert not t.is_alive()
        assert out == [-signal.SIGKILL if mode == "stubborn" else 3]
        assert time.monotonic() - started < 10
        assert _all_gone(pids), [p for p in pids if not _gone(p)]
    finally:
        sup.stop()
        _kill(pids)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_supervisor_signalled_takes_the_sensor_with_it(tmp_path: Path, sig: signal.Signals) -> None:
    """`otwatch sensor supervise` given SIGTERM (what the service manager sends) or SIGINT (Ctrl-C,
    which no longer reaches the sensor's own session) ends the sensor and the processes it started. The sensor here is a version whose lib/ holds a stand-in
    ``otwatch`` package, so the supervisor runs unchanged and its child runs the stand-in."""
    store = VersionStore(tmp_path)
    lib = tmp_path / "versions" / "1.0" / "lib" / "otwatch"
    lib.mkdir(parents=True)
    (lib / "__init__.py").write_text("")
    pid_file = tmp_path / "pids"
    (lib / "__main__.py").write_text(f"import sys\nsys.argv[1:] = [{str(pid_file)!r}, 'sleep']\n" + FAMILY)
    store._point(store.current, "1.0")
    sup = subprocess.Popen(
        [sys.executable, "-m", "otwatch", "sensor", "supervise", "--install-base", str(tmp_path)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pids: list[int] = []
    try:
        pids = _wait_pids(pid_file)
        assert sup.poll() is None
        sup.send_signal(sig)
        sup.wait(30)
        assert _all_gone(pids), [p for p in pids if not _gone(p)]
    finally:
        if sup.poll() is None:
            sup.kill()
            sup.wait()
        _kill(pids)
