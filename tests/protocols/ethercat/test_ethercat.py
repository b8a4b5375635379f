"""EtherCAT: crafted frames (the layouts of ETG.1000.4), the master role, AL state requests, detect,
and a whole-sensor pass over frames on the wire."""

from __future__ import annotations

import pytest

from otwatch.protocols.ethercat import (
    SPEC,
    datagram,
    detect,
    dissect_frame,
    ethercat_frame,
    identity_from,
)
from otwatch.protocols.operations import OPERATION_FIELD, Operation
from otwatch.sensor.capture import synth
from otwatch.sensor.pipeline.sensor import Sensor

# A master's cycle: logical read/write of the process image, then a broadcast read of AL status
CYCLE = ethercat_frame(
    datagram(12, 0x0000, 0x0001, bytes(8), more=True, idx=1),  # LRW logical 0x00010000
    datagram(7, 0x0000, 0x0130, bytes(2), idx=2),  # BRD AL Status
)


def test_frame_layout() -> None:
    assert CYCLE[:2] == (len(CYCLE) - 2 | 0x1000).to_bytes(2, "little")
    assert datagram(4, 0x1001, 0x0130, b"\x08\x00", wkc=1) == bytes.fromhex(
        "04000110300102000000 0800 0100".replace(" ", "")
    )


def test_master_frame() -> None:
    record = dissect_frame(CYCLE)
    assert record.malformed is None and record.direction == "request"
    first, second = record.fields["datagrams"]
    assert (first["cmd_name"], first["logical_address"], first["length"]) == ("LRW", 0x00010000, 8)
    assert (second["cmd_name"], second["ado"], second["wkc"]) == ("BRD", 0x0130, 0)
    identity = identity_from(record)
    assert identity is not None and identity.extra == {"ethercat_role": "master"}


def test_returning_frame_has_working_counters() -> None:
    back = ethercat_frame(
        datagram(12, 0, 1, bytes(8), wkc=3, more=True), datagram(7, 0, 0x130, b"\x08\x00", wkc=3)
    )
    record = dissect_frame(back)
    assert record.direction == "response" and identity_from(record) is None


@pytest.mark.parametrize(
    ("cmd", "adp", "state", "target"),
    [(8, 0, 8, "every slave"), (5, 0x1002, 2, "slave 0x1002"), (2, 0xFFFF, 4, "slave 0xffff")],
)
def test_al_control_write_is_a_mode_change(cmd: int, adp: int, state: int, target: str) -> None:
    record = dissect_frame(ethercat_frame(datagram(cmd, adp, 0x0120, bytes((state, 0)))))
    assert record.fields[OPERATION_FIELD] == Operation.MODE_CHANGE
    assert target in record.fields["operation_detail"]
    read = dissect_frame(ethercat_frame(datagram(7, 0, 0x0120, bytes(2))))  # BRD: a read, no request
    assert OPERATION_FIELD not in read.fields


def test_cut_frames_are_malformed() -> None:
    assert dissect_frame(CYCLE[:-3]).malformed
    assert dissect_frame(b"\x01").malformed == "short EtherCAT header"
    mailbox = (4 | 5 << 12).to_bytes(2, "little") + bytes(4)  # mailbox gateway type: not parsed further
    assert dissect_frame(mailbox).malformed is None


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (CYCLE, True),
        (CYCLE[:10], False),
        ((len(CYCLE) - 2 | 0x5000).to_bytes(2, "little") + CYCLE[2:], False),  # type 5
        (CYCLE[:2] + b"\x20" + CYCLE[3:], False),  # command 0x20
        (bytes(20), False),
    ],
)
def test_detect(payload: bytes, expected: bool) -> None:
    assert detect(payload) is expected
    assert SPEC.ports == (0x88A4,) and SPEC.transport == "eth"


def test_sensor_gives_the_master_its_role() -> None:
    master = synth.mac(0x77, 0x000105)  # a Beckhoff IPC
    frames = [(float(i), synth.ethernet(master, b"\xff" * 6, 0x88A4, CYCLE)) for i in range(3)]
    sensor = Sensor()
    for ts, frame in frames:
        sensor.process(ts, 1, frame)
    sensor.finish()
    (asset,) = [
        a.as_dict() for a in sensor.inventory.assets if a.as_dict().get("extra", {}).get("ethercat_role")
    ]
    assert asset["extra"]["ethercat_role"] == "master" and asset["mac"] == master.hex(":")


def test_a_state_change_reaches_the_operational_engine_with_its_technique() -> None:
    """Layer-2 records tagged with an operation raise its alert like IP ones (a master sending slaves
    to INIT from the cycle is a mode change, T0858)."""
    master = synth.mac(0x78, 0x000105)
    to_init = ethercat_frame(datagram(8, 0, 0x0120, bytes((1, 0))))  # BWR AL Control := INIT
    sensor = Sensor()
    sensor.process(0.0, 1, synth.ethernet(master, b"\xff" * 6, 0x88A4, CYCLE))
    sensor.process(1.0, 1, synth.ethernet(master, b"\xff" * 6, 0x88A4, to_init))
    sensor.finish()
    (alert,) = [a for a in sensor.alerts.alerts.values() if a.type.code == Operation.MODE_CHANGE]
    assert alert.type.technique is not None and alert.type.technique.id == "T0858"
    assert alert.protocol == "ethercat" and "every slave" in alert.description
