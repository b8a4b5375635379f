"""Alerts an analyst can act on: repeats, bursts and scans are one alert each, and nothing is lost.

A fuzzing flow is one Protocol Violation alert per type whose count is the number of bad packets and
whose PCAP holds every one of them; a burst of new conversations from one source is one Policy
Violation alert listing them; a scan (ports, hosts or both) is one Anomaly alert listing its targets
and ports, while ordinary polling and broadcast discovery are not scans.
"""

from __future__ import annotations

from otwatch.inventory.vocabulary import Engine
from otwatch.protocols.modbus.messages import ExceptionResponse, ReadRequest, ReadResponse
from otwatch.sensor.capture.decode import TCP_ACK, TCP_SYN
from otwatch.sensor.capture.pcapfile import CaptureReader
from otwatch.sensor.config.settings import IT_NOISE_PORTS, SensorSettings
from otwatch.sensor.engines.anomaly import MAX_SOURCES, MAX_TARGETS, SWEEP_HOSTS, AnomalyEngine
from otwatch.sensor.engines.policy import BURST_GAP
from otwatch.sensor.pipeline.sensor import Sensor
from otwatch.sensor.tracking.alerts import Alert, AlertStore
from otwatch.sensor.tracking.baseline import Baseline
from tests.sensor.engines.test_engines import Plant, learned, titles
from tests.sensor.packets import Host, Net, modbus, tcp

T0 = 1_700_000_000.0

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


# -- scans and bursts of new conversations -----------------------------------------------------------
PROBED = (21, 22, 23, 25, 80, 102, 135, 139, 443, 445, 502, 2404, 20000, 44818, 47808)


def _laptop_probes(p: Plant) -> None:
    """A laptop probes 15 ports on both Modbus PLCs in well under a second: Modbus (502) is open and
    answers SYN+ACK, which the laptop resets (a half-open scan); every other port is closed (RST)."""
    laptop = p.net.host("laptop", "10.0.0.150", 0x001422)
    for plc in (p.plc1, p.plc2):
        for i, port in enumerate(PROBED):
            sport = 45000 + i
            p.net.syn(laptop, plc, sport, port)
            if port == 502:
                p.net.emit(p.net.ip_frame(plc, laptop, 6, tcp(port, sport, 7000, 1001, TCP_SYN | TCP_ACK)))
                p.net.rst(laptop, plc, sport, port)
            else:
                p.net.rst(plc, laptop, port, sport)


def test_laptop_probing_two_plcs_is_one_scan_and_one_conversation_alert() -> None:
    sensor = learned(_laptop_probes)
    assert titles(sensor, Engine.ANOMALY) == ["Port Scan Detected"]
    (scan,) = sensor.alerts.by_code("PORT_SCAN")
    assert scan.type.technique is not None and scan.type.technique.id == "T0846"
    assert scan.source_label is not None and scan.source_label.startswith("10.0.0.150")
    assert (scan.details["hosts"], scan.details["ports"], scan.details["probes"]) == (2, 15, 30)
    assert scan.count == 30 and scan.details["kind"] == "port scan"
    assert scan.details["targets"] == "10.0.0.21, 10.0.0.22"
    assert scan.details["port_list"] == "tcp/21-23, tcp/25, tcp/80, tcp/102, tcp/135, tcp/139, tcp/443, " + (
        "tcp/445, tcp/502, tcp/2404, tcp/20000, tcp/44818, tcp/47808"
    )
    assert scan.destination is None and scan.destination_label == "2 hosts"
    assert scan.last_seen - scan.first_seen < 1.0
    # The PCAP holds every probe: 30 SYNs from the laptop.
    assert scan.pcap is not None
    syns = [d for d in _pcap_payloads(scan) if d[47] == TCP_SYN and d[26:30] == bytes([10, 0, 0, 150])]
    assert len(syns) == 30
    # Policy: the new conversations are one alert listing them, not one alert each (smart IT learning
    # leaves web ports out of the Policy engine's view).
    new = 2 * len([port for port in PROBED if port not in IT_NOISE_PORTS])
    (conversations,) = sensor.alerts.by_code("NEW_CONVERSATION")
    assert conversations.source_label is not None and conversations.source_label.startswith("10.0.0.150")
    assert conversations.count == new == 26 and conversations.details["conversation_count"] == new
    assert conversations.destination_label == "2 devices"
    listed = conversations.details["conversations"]
    assert listed.startswith("10.0.0.21 tcp/21, 10.0.0.21 tcp/22, ") and listed.endswith(
        ", 10.0.0.22 tcp/47808"
    )
    assert "10.0.0.21 Modbus (tcp/502)" in listed
    # Its PCAP holds the first packet of every one of them (and what followed).
    assert conversations.pcap is not None
    syns = [
        d for d in _pcap_payloads(conversations) if d[47] == TCP_SYN and d[26:30] == bytes([10, 0, 0, 150])
    ]
    assert len(syns) == new


def test_a_slower_second_burst_is_a_second_conversation_alert() -> None:
    def two_bursts(p: Plant) -> None:
        laptop = p.net.host("laptop", "10.0.0.150", 0x001422)
        for port in (5900, 3389):
            p.net.session(laptop, p.plc1, port, 46000 + port).open()
        p.net.advance(BURST_GAP + 1)
        p.net.session(laptop, p.plc2, 5900, 47000).open()

    sensor = learned(two_bursts)
    got = sorted(a.details["conversation_count"] for a in sensor.alerts.by_code("NEW_CONVERSATION"))
    assert got == [1, 2]


def test_address_sweep_of_a_plc_port_is_one_plc_scan() -> None:
    def sweep(p: Plant) -> None:
        scanner = p.net.host("scanner", "10.0.0.200", 0x001422)
        for host in range(SWEEP_HOSTS + 5):  # absent hosts: no answer
            p.net.syn(scanner, p.net.host(f"t{host}", f"10.0.5.{host + 1}"), 41000 + host, 502)

    sensor = learned(sweep)
    assert titles(sensor, Engine.ANOMALY) == ["PLC Scan Detected"]
    (scan,) = sensor.alerts.by_code("PLC_SCAN")
    assert (scan.details["hosts"], scan.details["ports"], scan.details["kind"]) == (20, 1, "address sweep")
    assert scan.details["targets"].startswith("10.0.5.1, 10.0.5.2, ")


def test_hmi_polling_twenty_plcs_is_not_a_scan() -> None:
    """New connections every cycle, each answered with data; then the PLCs go dark and the HMI keeps
    trying: neither is a scan (its conversations carry data, and retries are not first contacts)."""
    net = Net()
    plant = Plant(net)
    plcs = [net.host(f"field{i}", f"10.0.4.{i + 1}", 0x000E8C) for i in range(20)]

    def poll(tid: int, answered: bool) -> None:
        for i, plc in enumerate(plcs):
            sport = 30000 + (tid * 20 + i) % 30000
            if answered:
                session = net.session(plant.hmi, plc, 502, sport).open()
                session.exchange(
                    modbus(tid, 1, ReadRequest(3, 0, 4).encode()),
                    modbus(tid, 1, ReadResponse(3, bytes(8)).encode()),
                )
                session.close()
            else:
                net.syn(plant.hmi, plc, sport, 502)

    for tid in range(60):
        plant.cycle()
        poll(tid, answered=True)
    sensor = Sensor()
    _feed(sensor, net)
    sensor.learning = False
    for tid in range(60, 180):
        plant.cycle()
        poll(tid, answered=tid < 120)  # the last minute: every PLC down
    _feed(sensor, net)
    assert titles(sensor, Engine.ANOMALY) == []
    # The same polling on a sensor that never learned it (first contacts, answered): still no scan.
    fresh = Sensor(SensorSettings(learning=False))
    net.frames.clear()
    for tid in range(5):
        poll(tid, answered=True)
    _feed(fresh, net)
    assert titles(fresh, Engine.ANOMALY) == []
    assert len(fresh.alerts.by_code("NEW_CONVERSATION")) == 1  # one burst of 20 new conversations


def test_broadcast_discovery_is_not_a_scan() -> None:
    def discovery(p: Plant) -> None:
        tool = p.net.host("tool", "10.0.0.160", 0x001422)
        everyone = Host("255.255.255.255", b"\xff" * 6)
        for i, port in enumerate((*range(5560, 5580), 47808, 48899, 9600, 1911, 44818)):
            p.net.udp(tool, everyone, 50000 + i, port, b"\x00" * 8)
        for subnet in range(20):
            p.net.udp(tool, Host(f"10.{subnet}.0.255", b"\xff" * 6), 50100, 47808, b"\x81\x0b\x00\x0c")
        for i in range(20):
            p.net.udp(tool, Host("239.255.255.250", bytes.fromhex("01005e7ffffa")), 50200 + i, 1900 + i, b"M")

    assert titles(learned(discovery), Engine.ANOMALY) == []


def test_scan_state_is_bounded() -> None:
    engine = AnomalyEngine(AlertStore(), Baseline())
    for i in range(MAX_SOURCES + 50):
        engine.on_attempt(T0, f"10.{i // 250}.{i % 250}.1", "10.0.0.21", "tcp", 80, None, None)
    assert len(engine._sources) == MAX_SOURCES
    for port in range(MAX_TARGETS + 500):
        engine.on_attempt(T0 + 1, "192.168.1.9", "10.0.0.21", "tcp", port + 1, None, None)
    assert len(engine._sources["192.168.1.9"].pending) == MAX_TARGETS
    engine.tick(T0 + 60)
    (scan,) = engine.alerts.by_code("PORT_SCAN")
    assert scan.details["probes"] == MAX_TARGETS + 500 and scan.details["ports"] == MAX_TARGETS
    assert "(+" in scan.details["port_list"] or scan.details["port_list"] == f"tcp/1-{MAX_TARGETS}"


def _feed(sensor: Sensor, net: Net) -> None:
    for frame in net.frames:
        sensor.process(*frame)
    net.frames.clear()
    sensor.finish()
    assert sensor.errors == 0, sensor.last_error


def test_scan_pcap_keeps_probes_whose_flows_were_evicted() -> None:
    """Each probe keeps its own packets: a scan far larger than the flow table still has them."""
    net = Net()
    laptop = net.host("laptop", "10.0.0.150", 0x001422)
    plc = net.host("plc", "10.0.0.21", 0x000E8C)
    for port in range(1, 201):
        net.syn(laptop, plc, 40000 + port, port)
        net.rst(plc, laptop, port, 40000 + port)
    sensor = _run(net, Sensor(SensorSettings(max_flow_states=32)))
    (scan,) = sensor.alerts.by_code("PORT_SCAN")
    assert scan.count == 200 and scan.details["port_list"] == "tcp/1-200"
    frames = _pcap_payloads(scan)
    syns = {int.from_bytes(d[36:38], "big") for d in frames if d[47] == TCP_SYN}
    resets = {int.from_bytes(d[34:36], "big") for d in frames if d[47] & 0x04}
    assert syns == resets == set(range(1, 201))
    assert "pcap_omitted_packets" not in scan.details
