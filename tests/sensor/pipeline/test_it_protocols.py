"""IT and layer-2 dissectors (DHCP, DNS, mDNS, HTTP, TLS, LLDP, PROFINET DCP) field for field against
tshark on a capture built with :mod:`otwatch.sensor.capture.synth`, on the public PROFINET captures, with real
clients recorded on loopback, and through the whole :class:`Sensor` into the inventory."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from otwatch.inventory.identity import DeviceType
from otwatch.protocols import dns, http, profinet_dcp, tls
from otwatch.protocols.base import Record
from otwatch.sensor.capture import synth
from otwatch.sensor.capture.pcapfile import CaptureReader
from otwatch.sensor.pipeline.sensor import Sensor
from tests.protocols.loopback_capture import record
from tests.sensor.replay import capture, replay, tshark_fields

TS = 1_700_000_000.0
CISCO_SW = (
    "Cisco IOS Software, C2960 Software (C2960-LANBASEK9-M), Version 12.2(55)SE7, RELEASE SOFTWARE (fc1)"
)


def _plant() -> synth.Net:
    """A laptop that gets an address, resolves a name, browses a PLC's web page and an HTTPS site; a
    switch announcing itself with LLDP; an IO device answering a PROFINET Identify."""
    n = synth.Net(t=TS)
    laptop = n.host("laptop", "10.10.0.77", 0x3C22FB)
    dhcpd = n.host("dhcpd", "10.10.0.1", synth.OUI_DELL)
    dnssrv = n.host("dns", "10.10.0.2", synth.OUI_DELL)
    plc = n.host("plc", "10.10.0.10", synth.OUI_SIEMENS)
    web = n.host("web", "93.184.216.34", synth.OUI_DELL)
    bcast = synth.Host("255.255.255.255", b"\xff" * 6)
    unknown = synth.Host("0.0.0.0", laptop.mac)
    n.udp(
        unknown,
        bcast,
        68,
        67,
        synth.dhcp_message(1, laptop.mac, 1, hostname="ENG-LAPTOP-7", vendor_class="MSFT 5.0"),
    )
    n.udp(
        dhcpd, bcast, 67, 68, synth.dhcp_message(2, laptop.mac, 2, yiaddr="10.10.0.77", server_id="10.10.0.1")
    )
    n.udp(unknown, bcast, 68, 67, synth.dhcp_message(1, laptop.mac, 3, hostname="ENG-LAPTOP-7",
                                                     vendor_class="MSFT 5.0", requested="10.10.0.77"))  # fmt: skip
    n.udp(
        dhcpd, bcast, 67, 68, synth.dhcp_message(2, laptop.mac, 5, yiaddr="10.10.0.77", server_id="10.10.0.1")
    )
    n.udp(laptop, dnssrv, 53001, 53, synth.dns_query("historian.plant.local", 7))
    n.udp(dnssrv, laptop, 53, 53001, synth.dns_answer("historian.plant.local", ["10.10.0.8", "10.10.0.9"], 7))
    s = n.session(laptop, plc, 8080, 50000).open()
    s.exchange(
        synth.http_request("10.10.0.10:8080", "/Portal/Portal.mwsl"),
        synth.http_response("Siemens Web Server"),
    )
    s.close()
    t = n.session(laptop, web, 443, 50001).open()
    t.exchange(synth.tls_client_hello("updates.example.com"), synth.tls_server_hello())
    t.close()
    n.emit(
        synth.lldp_frame(synth.mac(0x200), "SCALANCE-X208", "Siemens, SIMATIC NET, SCALANCE X208, FW V4.1")
    )
    n.emit(
        synth.cdp_frame(
            synth.mac(0x400, 0x00000C), "core-sw1.plant", "cisco WS-C2960-24TT-L", CISCO_SW, "10.10.0.254"
        )
    )
    hmi = n.host("hmi", "10.10.0.20", synth.OUI_DELL)
    lan = synth.Host("10.10.0.255", b"\xff" * 6)
    n.udp(hmi, lan, 137, 137, synth.nbns_registration("HMI-01", hmi.ip))
    n.udp(
        laptop,
        hmi,
        137,
        137,
        synth.nbns_node_status_query(),
    )
    n.udp(hmi, laptop, 137, 137, synth.nbns_node_status([("HMI-01", 0, False), ("PLANT", 0, True)], hmi.mac))
    mdns_group = synth.Host("224.0.0.251", bytes.fromhex("01005e0000fb"))
    n.udp(plc, mdns_group, 5353, 5353, synth.dns_answer("plc-web.local", [plc.ip], 0))
    n.udp(laptop, plc, 5355, 49800, synth.dns_answer("ENG-LAPTOP-7", [laptop.ip], 9))
    n.emit(synth.dcp_identify_request(laptop.mac))
    n.emit(synth.dcp_identify_response(synth.mac(0x300), laptop.mac, "io-device-3", "ET 200SP", 0x002A, 0x0313, 1,
                                       "10.10.0.33"))  # fmt: skip
    return n


@pytest.fixture(scope="module")
def plant_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("it") / "it.pcap"
    synth.write_capture(str(path), list(_plant()))
    return path


def _records(path: Path, protocol: str) -> dict[int, Record]:
    return {r.frame: r.record for r in replay(path) if r.record.protocol == protocol}


def _layer2(path: Path, spec_dissect: object) -> dict[int, Record]:
    """Layer-2 records per frame number (the flow table sees only TCP/UDP)."""
    out: dict[int, Record] = {}
    for number, (_ts, _lt, data) in enumerate(CaptureReader(path), start=1):
        etype = int.from_bytes(data[12:14], "big")
        if etype == 0x88CC and spec_dissect == "lldp":
            from otwatch.protocols.lldp import dissect_frame

            out[number] = dissect_frame(data[14:])
        elif etype == 0x8892 and spec_dissect == "dcp":
            out[number] = profinet_dcp.dissect_frame(data[14:])
    return out


def test_dhcp_matches_tshark(plant_capture: Path) -> None:
    ours = _records(plant_capture, "dhcp")
    fields = ["dhcp.option.dhcp", "dhcp.option.hostname", "dhcp.option.vendor_class_id",
              "dhcp.option.requested_ip_address", "dhcp.hw.mac_addr", "dhcp.ip.your", "dhcp.id"]  # fmt: skip
    rows = tshark_fields(plant_capture, "dhcp", fields)
    assert [int(r[0]) for r in rows] == sorted(ours)
    names = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 5: "ACK"}
    for frame, mtype, host, vendor, requested, mac, yiaddr, xid in rows:
        f = ours[int(frame)].fields
        assert f["msg_type"] == names[int(mtype)]
        assert f.get("host_name", "") == host
        assert f.get("vendor_class", "") == vendor
        assert f.get("requested_addr", "") == requested
        assert f["mac"] == mac
        assert f.get("assigned_addr", "0.0.0.0") == yiaddr
        assert f["trans_id"] == int(xid, 16)


def test_dns_matches_tshark(plant_capture: Path) -> None:
    ours = _records(plant_capture, "dns")
    rows = tshark_fields(
        plant_capture, "dns", ["dns.id", "dns.qry.name", "dns.qry.type", "dns.a", "dns.resp.ttl"]
    )
    assert [int(r[0]) for r in rows] == sorted(ours) and len(rows) == 2
    for frame, ident, name, qtype, addrs, ttls in rows:
        f = ours[int(frame)].fields
        assert (f["trans_id"], f["query"], f["qtype"]) == (int(ident, 16), name, int(qtype))
        answers = f.get("answers", [])
        assert ",".join(a["data"] for a in answers) == addrs
        assert ",".join(str(a["ttl"]) for a in answers) == ttls


def test_http_matches_tshark(plant_capture: Path) -> None:
    ours = _records(plant_capture, "http")
    fields = ["http.request.method", "http.host", "http.request.uri", "http.user_agent", "http.server",
              "http.response.code"]  # fmt: skip
    rows = tshark_fields(plant_capture, "http", fields)
    assert [int(r[0]) for r in rows] == sorted(ours) and len(rows) == 2
    for frame, method, host, uri, agent, server, code in rows:
        f = ours[int(frame)].fields
        assert f.get("method", "") == method and f.get("host", "") == host and f.get("uri", "") == uri
        assert f.get("user_agent", "") == agent and f.get("server", "") == server
        assert str(f.get("status_code", "")) == code


def test_tls_matches_tshark(plant_capture: Path) -> None:
    ours = _records(plant_capture, "tls")
    fields = ["tls.handshake.type", "tls.handshake.extensions_server_name", "tls.handshake.extensions_alpn_str",
              "tls.handshake.ciphersuite"]  # fmt: skip
    rows = tshark_fields(plant_capture, "tls.handshake", fields)
    assert [int(r[0]) for r in rows] == sorted(ours) and len(rows) == 2
    (_, _, sni, alpn, _), (_, _, _, _, cipher) = rows
    client, server = (ours[int(r[0])].fields for r in rows)
    assert client["server_name"] == sni == "updates.example.com"
    assert ",".join(client["alpn"]) == alpn
    assert client["versions"] == ["TLSv13", "TLSv12"]
    assert server["cipher"] == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" and int(cipher, 16) == 0xC02F


def test_lldp_matches_tshark(plant_capture: Path) -> None:
    ours = _layer2(plant_capture, "lldp")
    fields = ["lldp.chassis.id.mac", "lldp.port.id", "lldp.tlv.system.name", "lldp.tlv.system.desc",
              "lldp.tlv.enable_system_cap", "lldp.mgn.addr.ip4"]  # fmt: skip
    rows = tshark_fields(plant_capture, "lldp", fields)
    assert [int(r[0]) for r in rows] == sorted(ours) and rows
    for frame, chassis, port, name, desc, enabled, mgmt in rows:
        f = ours[int(frame)].fields
        assert (f["chassis_id"], f["port_id"], f["system_name"], f["system_desc"]) == (
            chassis,
            port,
            name,
            desc,
        )
        assert f["enabled_bits"] == int(enabled, 16) and f["mgmt_addr"] == mgmt


def test_cdp_matches_tshark(plant_capture: Path) -> None:
    from otwatch.protocols.cdp import dissect_frame

    ours = {n: dissect_frame(data[14:]) for n, (_t, _l, data) in enumerate(CaptureReader(plant_capture), 1)
            if data[:6] == synth.CDP_MULTICAST}  # fmt: skip
    fields = [
        "cdp.deviceid",
        "cdp.platform",
        "cdp.portid",
        "cdp.software_version",
        "cdp.capabilities",
        "cdp.nrgyz.ip_address",
    ]
    rows = tshark_fields(plant_capture, "cdp", fields)
    assert [int(r[0]) for r in rows] == sorted(ours) and rows
    for frame, device, platform, port, software, caps, address in rows:
        rec = ours[int(frame)]
        f = rec.fields
        assert rec.malformed is None
        assert (f["device_id"], f["platform"], f["port_id"], f["software_version"]) == (
            device,
            platform,
            port,
            software,
        )
        assert f["capabilities_bits"] == int(caps, 16) and f["addresses"] == [address]


def test_netbios_mdns_llmnr_match_tshark(plant_capture: Path) -> None:
    ours = _records(plant_capture, "nbns")
    rows = tshark_fields(plant_capture, "nbns", ["nbns.flags.opcode", "nbns.name", "nbns.addr"])
    assert [int(r[0]) for r in rows] == sorted(ours) and len(rows) == 3
    registration, query, status = (ours[int(r[0])].fields for r in rows)
    assert rows[0][2].split(",")[0] == "HMI-01<00>" and (registration["name"], registration["suffix"]) == (
        "HMI-01",
        0,
    )
    assert rows[0][3] == ",".join(registration["addresses"]) == "10.10.0.20"
    assert query["name"] == "*" and int(rows[1][1]) == query["opcode"] == 0
    assert [n["name"] for n in status["node_names"]] == ["HMI-01", "PLANT"]
    for proto, flt in (("mdns", "mdns"), ("llmnr", "llmnr")):
        recs = _records(plant_capture, proto)
        trows = tshark_fields(plant_capture, flt, ["dns.resp.name", "dns.a"])
        assert [int(r[0]) for r in trows] == sorted(recs) and trows
        for frame, name, addr in trows:
            answer = recs[int(frame)].fields["answers"][0]
            assert (answer["name"], answer["data"]) == (name, addr)


DCP_FIELDS = ["pn_dcp.service_id", "pn_dcp.service_type", "pn_dcp.xid", "pn_dcp.suboption_device_nameofstation",
              "pn_dcp.suboption_device_devicevendorvalue", "pn_dcp.suboption_vendor_id", "pn_dcp.suboption_device_id",
              "pn_dcp.suboption_device_role", "pn_dcp.suboption_ip_ip"]  # fmt: skip


@pytest.mark.parametrize(
    "path",
    [
        "synth",
        "iti/profinet__PROFINET-RT-DCP__ChangeIPUsingDCP.pcap",
        "iti/profinet__PROFINET-RT-DCP__PROFINET-RT.pcap",
    ],
)
def test_profinet_dcp_matches_tshark(path: str, plant_capture: Path) -> None:
    file = plant_capture if path == "synth" else capture(path)
    ours = _layer2(file, "dcp")
    rows = tshark_fields(file, "pn_dcp", DCP_FIELDS)
    assert [int(r[0]) for r in rows] == sorted(ours) and rows
    for frame, sid, stype, xid, name, vendor_value, vendor_id, device_id, role, ip in rows:
        rec = ours[int(frame)]
        f = rec.fields
        assert rec.malformed is None
        assert (f["service_id"], f["service_type"], f["xid"]) == (int(sid), int(stype), int(xid, 16))
        if rec.direction == "response":  # a request's NameOfStation is a filter, not the sender's name
            assert f.get("name_of_station", "") == name
        assert f.get("type_of_station", "") == vendor_value
        assert f.get("vendor_id", "") == (int(vendor_id, 16) if vendor_id else "")
        assert f.get("device_id", "") == (int(device_id, 16) if device_id else "")
        assert f.get("device_role", "") == (int(role, 16) if role else "")
        assert f.get("ip", "") == ip


def test_inventory_shows_what_is_dissected(plant_capture: Path) -> None:
    sensor = Sensor()
    sensor.process_capture(plant_capture)
    sensor.finish()
    report = sensor.report()
    assert sensor.errors == 0, sensor.last_error
    by_ip = {a["ip"]: a for a in report["assets"] if a["ip"]}
    by_mac = {a["mac"]: a for a in report["assets"] if a["mac"]}
    laptop = by_ip["10.10.0.77"]
    assert laptop["name"] == "ENG-LAPTOP-7"
    assert laptop["extra"]["dhcp_vendor_class"] == "MSFT 5.0"
    assert laptop["extra"]["http_user_agent"] == "OTWatch-Test/1.0"
    assert laptop["extra"]["tls_sni"] == "updates.example.com"
    assert by_ip["10.10.0.10"]["extra"]["http_server"] == "Siemens Web Server"
    switch = by_mac[synth.mac(0x200).hex(":")]
    assert (switch["name"], switch["device_type"]) == ("SCALANCE-X208", str(DeviceType.SWITCH))
    io = by_mac[synth.mac(0x300).hex(":")]
    assert (io["name"], io["model"], io["vendor"]) == ("io-device-3", "ET 200SP", "Siemens")
    assert (io["vendor_id"], io["product_code"], io["device_type"]) == (
        0x2A,
        0x0313,
        str(DeviceType.IO_MODULE),
    )
    # DHCP goes to the broadcast address: no connection, so it counts on the assets, not in "protocols".
    cisco = by_mac[synth.mac(0x400, 0x00000C).hex(":")]
    assert (cisco["name"], cisco["model"], cisco["firmware"]) == (
        "core-sw1.plant",
        "cisco WS-C2960-24TT-L",
        "12.2(55)SE7",
    )
    assert (cisco["vendor"], cisco["device_type"]) == ("Cisco", str(DeviceType.SWITCH))
    assert (by_ip["10.10.0.20"]["name"], by_ip["10.10.0.20"]["extra"]["netbios_workgroup"]) == (
        "HMI-01",
        "PLANT",
    )
    assert by_ip["10.10.0.10"]["name"] == "plc-web"  # its mDNS announcement
    assert {"dns", "http", "tls", "profinet_dcp", "nbns", "llmnr"} <= set(report["protocols"])
    assert {row["protocol"] for row in report["statistics"]["top_ot_protocols"]} == {"profinet_dcp"}
    dhcp_server = by_ip["10.10.0.1"]
    assert {(p["protocol"], p["role"]) for p in dhcp_server["protocols"]} == {("dhcp", "server")}


def test_public_profinet_identify_names_the_device() -> None:
    sensor = Sensor()
    sensor.process_capture(capture("iti/profinet__PROFINET-RT-DCP__ChangeIPUsingDCP.pcap"))
    sensor.finish()
    (device,) = [a for a in sensor.report()["assets"] if a["name"]]
    assert (device["mac"], device["name"], device["model"], device["vendor"]) == (
        "08:00:06:93:cf:32", "X208-BORD", "INC", "Siemens",
    )  # fmt: skip
    assert device["vendor_id"] == 0x2A and device["product_code"] == 0x0A01


# -- real clients on loopback ------------------------------------------------------------------------
SERVER_IP = "127.0.0.2"


class _Quiet(BaseHTTPRequestHandler):
    server_version = "PLC-Web/2.1"
    sys_version = ""

    def do_GET(self) -> None:
        body = b"<html>ok</html>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _complete(path: Path) -> bool:
    """Whether the recording holds the whole exchange (dumpcap on a loaded machine can miss the first packets)."""
    counts: dict[str, int] = {}
    for r in replay(path):
        counts[r.record.protocol] = counts.get(r.record.protocol, 0) + 1
    return (counts.get("http"), counts.get("dns"), counts.get("tls")) == (2, 2, 1)


@pytest.fixture(scope="module")
def real_capture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int, int, int]]:
    """The exchange below, recorded again (at most three times) if the capture missed part of it."""
    for _attempt in range(3):
        recorded = _record_exchange(tmp_path_factory.mktemp("real") / "it.pcapng")
        if _complete(recorded[0]):
            break
    yield recorded


def _record_exchange(path: Path) -> tuple[Path, int, int, int]:
    """httpx against http.server, dnspython against a one-shot DNS responder, Python ssl's ClientHello."""
    httpx = pytest.importorskip("httpx")
    dns_message = pytest.importorskip("dns.message")
    dns_query = pytest.importorskip("dns.query")
    dns_rrset = pytest.importorskip("dns.rrset")
    from otwatch.console.devsim import free_port

    web = HTTPServer((SERVER_IP, 0), _Quiet)
    web_port = web.server_address[1]
    threading.Thread(target=web.handle_request, daemon=True).start()
    dns_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dns_sock.bind((SERVER_IP, 0))
    dns_port = dns_sock.getsockname()[1]

    def answer() -> None:
        data, peer = dns_sock.recvfrom(512)
        q = dns_message.from_wire(data)
        r = dns_message.make_response(q)
        r.answer.append(dns_rrset.from_text(q.question[0].name, 60, "IN", "A", "10.10.0.8"))
        dns_sock.sendto(r.to_wire(), peer)

    threading.Thread(target=answer, daemon=True).start()
    tls_sock = socket.socket()
    tls_sock.bind((SERVER_IP, free_port(SERVER_IP)))
    tls_sock.listen(1)
    tls_port = tls_sock.getsockname()[1]
    with record(path, f"host {SERVER_IP} and (port {web_port} or port {dns_port} or port {tls_port})"):
        httpx.get(f"http://{SERVER_IP}:{web_port}/index.html", headers={"User-Agent": "otwatch-httpx"})
        reply = dns_query.udp(dns_message.make_query("historian.plant.local", "A"), SERVER_IP, port=dns_port,
                              timeout=5)  # fmt: skip
        assert reply.answer
        ctx = ssl.create_default_context()
        with socket.create_connection((SERVER_IP, tls_port)) as raw:
            conn, _ = tls_sock.accept()
            tls_client = ctx.wrap_socket(
                raw, server_hostname="opcua.plant.example", do_handshake_on_connect=False
            )
            tls_client.settimeout(0.5)
            with pytest.raises((ssl.SSLError, OSError)):
                asyncio.run(asyncio.wait_for(asyncio.to_thread(tls_client.do_handshake), 0.2))
            conn.close()
    web.server_close()
    dns_sock.close()
    tls_sock.close()
    return path, web_port, dns_port, tls_port


def test_real_clients_dissected_and_match_tshark(real_capture: tuple[Path, int, int, int]) -> None:
    path, web_port, dns_port, tls_port = real_capture
    recs = replay(path)
    by_proto: dict[str, list[Record]] = {}
    for r in recs:
        by_proto.setdefault(r.record.protocol, []).append(r.record)
    request, response = by_proto["http"]
    assert (request.fields["method"], request.fields["uri"], request.fields["user_agent"]) == (
        "GET", "/index.html", "otwatch-httpx",
    )  # fmt: skip
    assert request.fields["host"] == f"{SERVER_IP}:{web_port}"
    assert response.fields["server"] == "PLC-Web/2.1" and response.fields["status_code"] == 200
    query, answer = by_proto["dns"]
    assert query.fields["query"] == "historian.plant.local"
    assert answer.fields["answers"][0]["data"] == "10.10.0.8"
    (hello,) = by_proto["tls"]
    assert hello.fields["server_name"] == "opcua.plant.example"
    rows = tshark_fields(path, f"tls.handshake.type == 1 && tcp.port == {tls_port}",
                         ["tls.handshake.extensions_server_name", "tls.handshake.extensions_alpn_str"])  # fmt: skip
    assert rows and rows[0][1] == "opcua.plant.example"
    rows = tshark_fields(path, f"dns && udp.port == {dns_port}", ["dns.qry.name", "dns.a"])
    assert [r[1:] for r in rows] == [["historian.plant.local", ""], ["historian.plant.local", "10.10.0.8"]]
    assert http.detect(b"GET / HTTP/1.1\r\n") and tls.detect(bytes.fromhex("160301002001"))
    assert dns.SPEC_MDNS.ot is False


def test_mdns_answer_names_the_responder() -> None:
    import dns.message as dm
    import dns.rrset as drr

    q = dm.make_query("plc-17.local", "A")
    r = dm.make_response(q)
    r.answer.append(drr.from_text("plc-17.local.", 120, "IN", "A", "10.10.0.17"))
    r.answer.append(drr.from_text("_http._tcp.local.", 120, "IN", "PTR", "plc-17._http._tcp.local."))
    rec = dns.dissect_message(r.to_wire(), "mdns")
    ident = dns.SPEC_MDNS.identity_from(rec)
    assert ident is not None and ident.name == "plc-17" and ident.extra["mdns_services"] == ["_http._tcp"]
    assert dns.SPEC.identity_from(rec) is None  # plain DNS answers come from servers, not the named host
