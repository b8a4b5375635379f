"""The five engines on hand-built traffic: each fires on what it is for, and none fires on a clean plant.

The clean plant (:func:`plant`) is learned for two minutes and then monitored for two more: every
engine must stay silent. Each attack is the clean plant plus the one thing an engine looks for.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from otwatch.inventory.vocabulary import Engine
from otwatch.protocols.modbus.messages import (
    ExceptionResponse,
    ReadDeviceIdRequest,
    ReadDeviceIdResponse,
    ReadRequest,
    ReadResponse,
    WriteMultipleRequest,
    WriteMultipleResponse,
)
from otwatch.sensor.config.settings import SensorSettings
from otwatch.sensor.engines.anomaly import ARP_TARGETS, SCAN_PORTS, SWEEP_HOSTS
from otwatch.sensor.engines.malware import ThreatIntel
from otwatch.sensor.pipeline.sensor import Sensor
from otwatch.sensor.tracking.alerts import ALERT_TYPES
from tests.sensor.packets import (
    Net,
    TcpSession,
    arp_request,
    cip_request,
    cip_response,
    dnp3_request,
    dnp3_response,
    dns_query,
    iec104_command,
    modbus,
    s7_plc_stop,
    s7_read_db,
    s7_read_db_ack,
    s7_request_download,
)

ROCKWELL = 0x00001D9C
DELL = 0x00001422


class Plant:
    """A small plant: an HMI polling two PLCs over Modbus, an engineering station reading S7 DB1, a
    SCADA master polling a DNP3 outstation and an IEC 104 RTU, an HMI reading CIP data, DNS."""

    def __init__(self, net: Net) -> None:
        self.net = net
        self.hmi = net.host("hmi", "10.0.0.10", DELL)
        self.plc1 = net.host("plc1", "10.0.0.21", 0x000E8C)
        self.plc2 = net.host("plc2", "10.0.0.22", 0x000E8C)
        self.es = net.host("es", "10.0.0.30", DELL)
        self.s7plc = net.host("s7plc", "10.0.0.40", 0x001B1B)
        self.scada = net.host("scada", "10.0.0.50", DELL)
        self.rtu = net.host("rtu", "10.0.0.60", 0x0030A7)
        self.rtu104 = net.host("rtu104", "10.0.0.61", 0x0030A7)
        self.clx = net.host("clx", "10.0.0.70", ROCKWELL)
        self.dns = net.host("dns", "10.0.0.2", DELL)
        self.mb1 = net.session(self.hmi, self.plc1, 502, 50001).open()
        self.mb2 = net.session(self.hmi, self.plc2, 502, 50002).open()
        self.s7 = net.session(self.es, self.s7plc, 102, 50003).open()
        self.dnp = net.session(self.scada, self.rtu, 20000, 50004).open()
        self.iec = net.session(self.scada, self.rtu104, 2404, 50005).open()
        self.cip = net.session(self.hmi, self.clx, 44818, 50006).open()
        self.tid = 0
        self.seq = 0

    def cycle(self) -> None:
        """One second of normal traffic."""
        self.tid = (self.tid + 1) & 0xFFFF
        self.seq = (self.seq + 1) & 0x0F
        for session in (self.mb1, self.mb2):
            session.exchange(
                modbus(self.tid, 1, ReadRequest(3, 100, 10).encode()),
                modbus(self.tid, 1, ReadResponse(3, bytes(20)).encode()),
                ack=True,
            )
        self.s7.exchange(s7_read_db(self.tid, 1), s7_read_db_ack(self.tid))
        self.dnp.exchange(dnp3_request(1, self.seq), dnp3_response(0, self.seq))
        self.iec.send(iec104_command(100, 0, self.tid & 0x7FFF), True)  # general interrogation
        self.cip.exchange(cip_request(0x0E, 0x04, 0x64, 0x03), cip_response(0x0E), ack=True)
        self.net.udp(self.hmi, self.dns, 53000 + (self.tid % 100), 53, dns_query("historian.plant.local"))
        self.net.advance(1.0)

    def run(self, seconds: int) -> None:
        for _ in range(seconds):
            self.cycle()


def learned(extra: Callable[[Plant], None] | None = None, *, seconds: int = 120,
            settings: SensorSettings | None = None, intel: ThreatIntel | None = None) -> Sensor:  # fmt: skip
    """Learn the clean plant for ``seconds``, then monitor the same plant (plus ``extra``) as long."""
    net = Net()
    plant = Plant(net)
    plant.run(seconds)
    sensor = Sensor(settings or SensorSettings(), intel=intel)
    for frame in net.frames:
        sensor.process(*frame)
    sensor.finish()
    sensor.learning = False
    net.frames.clear()
    plant.run(seconds // 2)
    if extra is not None:
        extra(plant)
    plant.run(seconds // 2)
    for frame in net.frames:
        sensor.process(*frame)
    sensor.finish()
    assert sensor.errors == 0, sensor.last_error
    return sensor


def titles(sensor: Sensor, engine: Engine | None = None) -> list[str]:
    return [a.title for a in sensor.alerts.alerts.values() if engine is None or a.engine == engine]


@pytest.fixture(scope="module")
def clean() -> Sensor:
    return learned()


@pytest.mark.parametrize("engine", list(Engine))
def test_no_alert_on_clean_plant(clean: Sensor, engine: Engine) -> None:
    assert titles(clean, engine) == []
    assert clean.errors == 0


def test_clean_plant_inventory(clean: Sensor) -> None:
    by_ip = {a.ip: a for a in clean.inventory.assets}
    assert by_ip["10.0.0.21"].device_type is not None and str(by_ip["10.0.0.21"].device_type) == "PLC"
    assert str(by_ip["10.0.0.60"].device_type) == "RTU"
    assert str(by_ip["10.0.0.10"].device_type) == "HMI"
    assert by_ip["10.0.0.70"].identity.identity.vendor == "Rockwell Automation"  # from the OUI
    assert by_ip["10.0.0.21"].mac == "00:0e:8c:00:00:02"
    protocols = {(c.key.protocol, c.key.port) for c in clean.inventory.connections.values()}
    assert {("modbus", 502), ("s7comm", 102), ("dnp3", 20000), ("iec104", 2404), ("enip", 44818)} <= protocols
    assert ("dns", 53) in protocols  # DNS is dissected (protocols/dns)


# -- Protocol Violation ------------------------------------------------------------------------------
def test_protocol_violation_fires() -> None:
    def attack(p: Plant) -> None:
        p.mb1.exchange(modbus(900, 1, b"\x00\x00\x01"), None)
        p.mb1.exchange(
            modbus(901, 1, ReadRequest(3, 100, 10).encode()),
            modbus(901, 1, ExceptionResponse(3, 2).encode()),
        )
        p.mb1.exchange(modbus(902, 1, b"\x63\x00\x01"), None)  # 99: not a Modbus function
        p.mb2.send(b"\x00\x01\x00\x07\x00\x00\x01\x03", True)  # protocol id 7: not Modbus/TCP

    sensor = learned(attack)
    got = titles(sensor, Engine.PROTOCOL_VIOLATION)
    assert "Illegal Modbus Operation (Function Code Zero)" in got
    assert "Slave Device Received Illegal Data Address" in got
    assert "Illegal Modbus Function Code" in got
    assert "Malformed Modbus Packet" in got
    (exc,) = sensor.alerts.by_code("SLAVE_ILLEGAL_ADDRESS")
    assert exc.source_label is not None and exc.source_label.startswith("10.0.0.10")  # the master asked
    assert "address 100" in exc.description


# -- Policy Violation --------------------------------------------------------------------------------
def test_policy_violation_names_what_is_new() -> None:
    def attack(p: Plant) -> None:
        p.mb1.exchange(
            modbus(700, 1, WriteMultipleRequest(16, 100, [1, 2]).encode()),
            modbus(700, 1, WriteMultipleResponse(16, 100, 2).encode()),
        )
        p.mb1.exchange(
            modbus(701, 1, ReadRequest(3, 5000, 4).encode()),
            modbus(701, 1, ReadResponse(3, bytes(8)).encode()),
        )
        p.s7.exchange(s7_read_db(702, 5), s7_read_db_ack(702))
        p.s7.exchange(s7_request_download(703), None)
        p.dnp.exchange(dnp3_request(5, 3), dnp3_response(0, 3))
        p.iec.send(iec104_command(45, 4001), True)
        p.cip.exchange(cip_request(0x4C, 0x6B), cip_response(0x4C))
        rogue = p.net.host("rogue", "10.0.0.99", 0x0090E8)
        TcpSession(p.net, rogue, p.plc1, 40000, 502).open().exchange(
            modbus(1, 1, ReadRequest(3, 100, 10).encode()), modbus(1, 1, ReadResponse(3, bytes(20)).encode())
        )

    sensor = learned(attack)
    alerts = {a.type.code: a for a in sensor.alerts.alerts.values() if a.engine == Engine.POLICY_VIOLATION}
    assert "function code 16 (WRITE_MULTIPLE_REGISTERS)" in alerts["UNPERMITTED_MODBUS_FUNCTION"].description
    assert "holding registers 5000-5003" in alerts["MODBUS_ADDRESS_RANGE"].description
    assert "learned range is 100-109" in alerts["MODBUS_ADDRESS_RANGE"].description
    assert "DB5" in alerts["UNAUTHORIZED_S7_DATA_BLOCK"].description
    assert alerts["UNAUTHORIZED_PROGRAMMING"].title == "Unauthorized PLC Programming"
    assert "DIRECT_OPERATE" in alerts["UNPERMITTED_DNP3_FUNCTION"].description
    assert "ASDU type 45" in alerts["UNPERMITTED_ASDU_TYPE"].description
    assert "0x6b" in alerts["NEW_CIP_CLASS"].description
    assert alerts["NEW_CIP_SERVICE"].title == "New Activity Detected - CIP Class Service"
    assert "10.0.0.99" in alerts["NEW_ASSET"].description
    assert alerts["NEW_CONVERSATION"].title == "Unauthorized Communication Behavior"
    assert alerts["NEW_CONVERSATION"].source_label is not None
    assert alerts["NEW_CONVERSATION"].source_label.startswith("10.0.0.99")
    # Only the rogue's conversation is new: the known conversations raised no conversation alert.
    assert len(sensor.alerts.by_code("NEW_CONVERSATION")) == 1


def test_policy_silent_while_learning_and_smart_it_keeps_dns_quiet() -> None:
    def new_dns_and_ot(p: Plant) -> None:
        p.net.udp(p.es, p.dns, 55555, 53, dns_query("updates.vendor.example"))
        p.mb1.exchange(modbus(700, 1, b"\x10\x00\x64\x00\x01\x02\x00\x01"), None)

    sensor = learned(new_dns_and_ot)
    assert "Unauthorized Communication Behavior" not in titles(sensor)  # DNS: nondeterministic IT
    assert "Unpermitted Usage of Modbus Function Code" in titles(sensor)
    sensor = learned(new_dns_and_ot, settings=SensorSettings(smart_it_learning=False))
    assert "Unauthorized Communication Behavior" in titles(sensor)
    # Learning never turned off: nothing is a deviation.
    net = Net()
    plant = Plant(net)
    plant.run(5)
    new_dns_and_ot(plant)
    always_learning = Sensor()
    for frame in net.frames:
        always_learning.process(*frame)
    always_learning.finish()
    assert titles(always_learning, Engine.POLICY_VIOLATION) == []


# -- Malware -----------------------------------------------------------------------------------------
INTEL = ThreatIntel.from_dict(
    {"name": "test-ti", "version": "1", "ips": ["198.51.100.66"], "domains": ["evil.example"], "hashes": []}
)


def test_malware_fires() -> None:
    def attack(p: Plant) -> None:
        c2 = p.net.host("c2", "198.51.100.66", 0x00000C)
        p.net.session(p.es, c2, 443, 51000).open()
        p.net.udp(p.es, p.dns, 51001, 53, dns_query("cdn.evil.example"))
        p.net.udp(p.es, p.rtu, 51002, 1502, b"\x00" * 16)  # TriStation
        for ioa in range(60):
            p.iec.send(iec104_command(45, 1000 + ioa, ioa), True)

    sensor = learned(attack, intel=INTEL)
    got = titles(sensor, Engine.MALWARE)
    assert "Connection Attempt to Known Malicious IP" in got
    assert "Malicious Domain Name Request" in got
    patterns = {a.details.get("pattern") for a in sensor.alerts.by_code("ICS_MALWARE")}
    assert patterns == {"TRITON", "Industroyer"}
    (domain,) = sensor.alerts.by_code("MALICIOUS_DOMAIN")
    assert domain.details["domain"] == "cdn.evil.example"


def test_malware_clean_with_intel_loaded() -> None:
    assert titles(learned(intel=INTEL), Engine.MALWARE) == []


# -- Anomaly -----------------------------------------------------------------------------------------
def test_anomaly_scans_fire() -> None:
    def attack(p: Plant) -> None:
        scanner = p.net.host("scanner", "10.0.0.200", DELL)
        for port in range(1, SCAN_PORTS + 6):  # closed ports answer RST
            p.net.syn(scanner, p.plc1, 40000 + port, port)
            p.net.rst(p.plc1, scanner, port, 40000 + port)
        for host in range(SWEEP_HOSTS + 5):  # absent hosts do not answer
            target = p.net.host(f"t{host}", f"10.0.1.{host + 1}")
            p.net.syn(scanner, target, 41000 + host, 502)
        for host in range(ARP_TARGETS + 5):
            p.net.emit(arp_request(scanner.mac, scanner.ip, f"10.0.2.{host + 1}"))

    sensor = learned(attack)
    got = titles(sensor, Engine.ANOMALY)
    # One scanner probing many ports and many hosts is one scan alert, not a port scan plus a sweep.
    assert sorted(got) == ["ARP Address Scan Detected", "Port Scan Detected"]
    (scan,) = sensor.alerts.by_code("PORT_SCAN")
    assert scan.details["kind"] == "port scan and address sweep"
    assert (scan.details["ports"], scan.details["hosts"]) == (SCAN_PORTS + 6, SWEEP_HOSTS + 6)


def test_anomaly_ignores_answered_connections() -> None:
    """An HMI opening sessions to many PLCs that all answer is not a scan."""

    def startup(p: Plant) -> None:
        for host in range(SWEEP_HOSTS + 10):
            plc = p.net.host(f"plc{host}", f"10.0.3.{host + 1}")
            p.net.session(p.hmi, plc, 502, 42000 + host).open()

    assert titles(learned(startup), Engine.ANOMALY) == []


def test_anomaly_bandwidth_spike() -> None:
    def flood(p: Plant) -> None:
        for i in range(2000):
            p.mb1.send(modbus(i, 1, ReadResponse(3, bytes(250)).encode()), from_client=False)

    assert "Abnormal Traffic Bandwidth" in titles(learned(flood), Engine.ANOMALY)


# -- Operational -------------------------------------------------------------------------------------
def _device_id(tid: int, firmware: bytes) -> tuple[bytes, bytes]:
    request = modbus(tid, 1, ReadDeviceIdRequest(1).encode())
    response = modbus(
        tid, 1, ReadDeviceIdResponse(1, 1, False, 0, {0: b"ACME", 1: b"PLC-9", 2: firmware}).encode()
    )
    return request, response


def test_operational_fires() -> None:
    def events(p: Plant) -> None:
        p.s7.exchange(s7_plc_stop(800), None)
        p.s7.exchange(s7_request_download(801), None)
        p.dnp.exchange(dnp3_request(13, 4), dnp3_response(0x8000, 4))  # cold restart; IIN1.7 restart
        p.mb1.exchange(*_device_id(802, b"v1.0"))
        p.mb1.exchange(*_device_id(803, b"v2.0"))
        p.mb2.exchange(
            modbus(804, 1, ReadRequest(3, 100, 10).encode()), modbus(804, 1, ExceptionResponse(3, 6).encode())
        )
        dead = p.net.host("dead", "10.0.0.23", 0x000E8C)
        session = p.net.session(p.hmi, dead, 502, 43000).open()
        for tid in range(8):
            session.send(modbus(tid, 1, ReadRequest(3, 0, 1).encode()))
            p.net.advance(2.0)

    sensor = learned(events)
    got = titles(sensor, Engine.OPERATIONAL)
    for title in (
        "S7 Stop PLC Command was Sent",
        "PLC Program Download",
        "Controller Reset",
        "Outstation Restarted",
        "Firmware Version Changed",
        "Modbus Exception",
        "Suspicion of Unresponsive Modbus Device",
    ):
        assert title in got, (title, got)
    (fw,) = sensor.alerts.by_code("FIRMWARE_CHANGED")
    assert (fw.details["old"], fw.details["new"]) == ("v1.0", "v2.0")
    by_ip = {a.ip: a for a in sensor.inventory.assets}
    assert str(by_ip["10.0.0.30"].device_type) == "Engineering Station"


def test_operational_inactive_channel() -> None:
    net = Net()
    plant = Plant(net)
    plant.run(60)
    sensor = Sensor(SensorSettings(inactive_after=30.0))
    for frame in net.frames:
        sensor.process(*frame)
    sensor.finish()
    sensor.learning = False
    net.frames.clear()
    for _ in range(90):  # the DNP3 outstation stops being polled; everything else goes on
        plant.tid += 1
        plant.mb1.exchange(
            modbus(plant.tid, 1, ReadRequest(3, 100, 10).encode()),
            modbus(plant.tid, 1, ReadResponse(3, bytes(20)).encode()),
        )
        net.advance(1.0)
    for frame in net.frames:
        sensor.process(*frame)
    sensor.finish()
    channels = {
        a.description.split(" channel ")[1].split(" has")[0]
        for a in sensor.alerts.by_code("INACTIVE_CHANNEL")
    }
    assert "10.0.0.50 -> 10.0.0.60" in channels
    assert not any("10.0.0.21" in c for c in channels)  # still polled: not inactive


# -- switches and the one table ----------------------------------------------------------------------
def test_disabled_engine_raises_nothing() -> None:
    def events(p: Plant) -> None:
        p.s7.exchange(s7_plc_stop(800), None)
        p.mb1.exchange(modbus(900, 1, b"\x00\x00\x01"), None)

    settings = SensorSettings()
    settings.engines.discard(Engine.OPERATIONAL)
    sensor = learned(events, settings=settings)
    assert titles(sensor, Engine.OPERATIONAL) == []
    assert "Illegal Modbus Operation (Function Code Zero)" in titles(sensor)


def test_alert_table_is_complete_and_unique() -> None:
    assert len({t.title for t in ALERT_TYPES.values()}) == len(ALERT_TYPES)
    assert {t.engine for t in ALERT_TYPES.values()} == set(Engine)
