"""Alerts an analyst can act on: repeats, bursts and scans are one alert each, and nothing is lost.

A fuzzing flow is one Protocol Violation alert per type whose count is the number of bad packets and
whose PCAP holds every one of them; a burst of new conversations from one source is one Policy
Violation alert listing them; a scan (ports, hosts or both) is one Anomaly alert listing its targets
and ports, while ordinary polling and broadcast discovery are not scans.
"""

from __future__ import annotations

from otwatch.protocols.modbus.messages import ExceptionResponse, ReadRequest, ReadResponse
from otwatch.sensor.capture.pcapfile import CaptureReader
from otwatch.sensor.pipeline.sensor import Sensor
from otwatch.sensor.tracking.alerts import Alert
from tests.sensor.packets import Net, modbus

#: Function codes Modbus does not define and that are not user or vendor codes.
FUZZ_CODES = (*range(25, 43), *range(44, 65), *range(73, 90))


def _run(net: Net, sensor: Sensor | None = None) -> Sensor:
    sensor = sensor or Sensor()
    for frame in net.frames:
        sensor.process(*frame)
    sensor.finish()
    assert sensor.errors == 0, sensor.last_error
    return sensor


def _pcap_payloads(alert: Alert) -> list[bytes]:
    assert alert.pcap is not None
    return [data for _ts, _lt, data in CaptureReader(alert.pcap).frames()]


def test_fuzzing_flow_is_one_alert_per_type_with_every_packet() -> None:
    net = Net()
    fuzzer = net.host("fuzzer", "10.0.0.66", 0x001422)
    plc = net.host("plc", "10.0.0.21", 0x000E8C)
    session = net.session(fuzzer, plc, 502, 50100).open()
    for tid in range(20):  # ordinary reads first: the ring of the flow fills with them
        session.exchange(
            modbus(tid, 1, ReadRequest(3, 0, 2).encode()), modbus(tid, 1, ReadResponse(3, bytes(4)).encode())
        )
    requests = []
    for tid, code in enumerate(FUZZ_CODES, 100):
        request = modbus(tid, 1, bytes([code, 0, 1]))
        requests.append(request)
        session.exchange(request, modbus(tid, 1, ExceptionResponse(code, 1).encode()))
    session.send(b"\x00\x01\x00\x07\x00\x00\x01\x03")  # protocol id 7: not Modbus/TCP
    sensor = _run(net)

    (illegal,) = sensor.alerts.by_code("ILLEGAL_FUNCTION_CODE")
    assert illegal.count == len(FUZZ_CODES)
    assert illegal.details["occurrences"] == len(FUZZ_CODES)
    listed = illegal.details["function_codes"]
    assert listed.startswith("25, 26, 27") and f"(+{len(FUZZ_CODES) - 32} more)" in listed
    (answers,) = sensor.alerts.by_code("SLAVE_ILLEGAL_FUNCTION")  # the PLC's exception to each
    assert answers.count == len(FUZZ_CODES)
    # Every fuzzed request is in the PCAP, once, and in order.
    frames = _pcap_payloads(illegal)
    got = [request for request in requests if any(f.endswith(request) for f in frames)]
    assert got == requests
    assert len([f for f in frames if f.endswith(requests[5])]) == 1
    assert "pcap_omitted_packets" not in illegal.details
    (malformed,) = sensor.alerts.by_code("MALFORMED_PACKET")
    assert malformed.count == 1 and malformed.details["reasons"]


def test_repeats_add_packets_up_to_a_bound() -> None:
    from otwatch.sensor.tracking.forensics import MAX_ADDED_PACKETS

    net = Net()
    fuzzer = net.host("fuzzer", "10.0.0.66", 0x001422)
    plc = net.host("plc", "10.0.0.21", 0x000E8C)
    session = net.session(fuzzer, plc, 502, 50100).open()
    n = MAX_ADDED_PACKETS + 100
    for tid in range(n):
        session.send(modbus(tid & 0xFFFF, 1, bytes([30, 0, 1])))
    sensor = _run(net)
    (illegal,) = sensor.alerts.by_code("ILLEGAL_FUNCTION_CODE")
    assert illegal.count == n
    assert illegal.details["function_codes"] == f"30 ×{n}"
    frames = _pcap_payloads(illegal)
    assert len(frames) <= sensor.forensics.ring_packets + MAX_ADDED_PACKETS + 8
    assert illegal.details["pcap_omitted_packets"] > 0
    assert len(frames) + illegal.details["pcap_omitted_packets"] >= n
