"""OPC UA binary: the public capture against tshark field for field, a real asyncua client and server
recorded on loopback (through the whole sensor), and the framing edge cases."""

from __future__ import annotations

import asyncio
import logging
import struct
from pathlib import Path

import pytest

from otwatch.protocols import opcua
from otwatch.protocols.opcua.dissect import OpcUaDissector
from otwatch.sensor.pipeline.sensor import Sensor
from tests.protocols.loopback_capture import record
from tests.sensor.replay import capture, replay, tshark_fields

PUBLIC = "iti/OPC__opc-ua-ap-method-wireshark-freeze.pcap"  # OPC UA on TCP 12001: found by content
SPECS = (opcua.SPEC,)


def test_public_capture_matches_tshark_per_frame() -> None:
    path = capture(PUBLIC)
    fields = [
        "opcua.transport.type",
        "opcua.transport.size",
        "opcua.transport.endpoint",
        "opcua.security.spu",
        "opcua.transport.scid",
        "opcua.security.seq",
        "opcua.security.rqid",
        "opcua.servicenodeid.numeric",
        "opcua.transport.error",
        "opcua.ServiceResult",
    ]
    cmd_rows = tshark_decode_as(path, 12001, fields)
    ours = {r.frame: r.record for r in replay(path, SPECS)}
    assert sorted(ours) == sorted(cmd_rows)
    for frame, row in cmd_rows.items():
        rec = ours[frame]
        f = rec.fields
        mtype, size, endpoint, policy, scid, seq, rqid, service, error, result = row
        assert f["msg_type"] == mtype, frame
        assert f["msg_size"] == int(size), frame
        assert (f["endpoint_url"] if mtype == "HEL" else "") == endpoint, frame
        assert str(f.get("sec_policy_uri") or "") == (policy if mtype == "OPN" else ""), frame
        assert str(f.get("sec_channel_id", "")) == scid, frame
        assert str(f.get("seq_number", "")) == seq, frame
        assert str(f.get("request_id", "")) == rqid, frame
        assert str(f.get("identifier", "")) == service, frame
        assert (f"0x{f['error']:08x}" if "error" in f else "") == error, frame
        assert (f"0x{f['status_code']:08x}" if "status_code" in f else "") == result, frame
        assert rec.malformed is None, frame
    services = [ours[n].fields.get("service") for n in sorted(ours)]
    assert services[:12] == [
        None, None, "OpenSecureChannel", "OpenSecureChannel", "GetEndpoints", "GetEndpoints",
        "CreateSession", "CreateSession", "ActivateSession", "ActivateSession", "Call", None,
    ]  # fmt: skip
    assert ours[43].fields["status"] == "BadInternalError"


def tshark_decode_as(path: Path, port: int, fields: list[str]) -> dict[int, list[str]]:
    """tshark's OPC UA fields per frame (first occurrence), decoding TCP ``port`` as OPC UA."""
    import shutil
    import subprocess

    if shutil.which("tshark") is None:
        tshark_fields(path, "frame", [])  # skips with the reason
    cmd = ["tshark", "-n", "-r", str(path), "-d", f"tcp.port=={port},opcua", "-Y", "opcua.transport.type"]
    cmd += ["-T", "fields", "-E", "occurrence=f", "-e", "frame.number"]
    for name in fields:
        cmd += ["-e", name]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    return {int(line.split("\t")[0]): line.split("\t")[1:] for line in out.splitlines()}


def test_public_capture_server_identity_in_inventory() -> None:
    sensor = Sensor()
    sensor.process_capture(capture(PUBLIC))
    sensor.finish()
    server = sensor.inventory.asset_by_ip("192.168.41.212")
    assert server is not None
    assert server.identity.identity.name == "UA StackTest Server (AnsiC/2048)"
    assert ("opcua", "server") in {(p, str(r)) for p, r in server.protocols}
    assert sensor.report()["protocols"]["opcua"] == 24


# -- a real client and server (asyncua) recorded on loopback --------------------------------------
SERVER_IP = "127.0.0.2"


async def _exchange(port: int) -> None:
    asyncua = pytest.importorskip("asyncua")
    ua = asyncua.ua
    server = asyncua.Server()
    await server.init()
    url = f"opc.tcp://{SERVER_IP}:{port}/otwatch/"
    server.set_endpoint(url)
    server.set_server_name("OTWatch Test PLC")
    ns = await server.register_namespace("urn:otwatch:test")
    line = await server.nodes.objects.add_object(ns, "Line1")
    speed = await line.add_variable(ns, "Speed", 1.5)
    await speed.set_writable()

    async def double(_parent: object, x: object) -> list[object]:
        return [ua.Variant(x.Value * 2, ua.VariantType.Int64)]  # type: ignore[attr-defined]

    method = await line.add_method(ns, "Double", double, [ua.VariantType.Int64], [ua.VariantType.Int64])
    async with server, asyncua.Client(url) as client:
        node = client.get_node(speed.nodeid)
        assert await node.read_value() == 1.5
        await node.write_value(2.5)
        assert (
            await client.get_node(line.nodeid).call_method(
                method.nodeid, ua.Variant(21, ua.VariantType.Int64)
            )
            == 42
        )
        await client.nodes.objects.get_children()


@pytest.fixture(scope="module")
def asyncua_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("asyncua")
    from otwatch.console.devsim import free_port

    logging.getLogger("asyncua").setLevel(logging.ERROR)
    port = free_port(SERVER_IP)
    path = tmp_path_factory.mktemp("opcua") / "asyncua.pcapng"
    with record(path, f"tcp port {port}"):
        asyncio.run(_exchange(port))
    return path


def test_real_asyncua_session_dissected(asyncua_capture: Path) -> None:
    recs = [r.record for r in replay(asyncua_capture, SPECS)]
    assert all(r.malformed is None for r in recs), [r for r in recs if r.malformed]
    hello = recs[0].fields
    assert hello["msg_type"] == "HEL" and hello["endpoint_url"].startswith(f"opc.tcp://{SERVER_IP}:")
    opn = [r.fields for r in recs if r.fields["msg_type"] == "OPN"]
    assert opn[0]["sec_policy_uri"] == "http://opcfoundation.org/UA/SecurityPolicy#None"
    requests = [r.fields.get("service") for r in recs if r.direction == "request"]
    for service in ("CreateSession", "ActivateSession", "Read", "Write", "Call", "Browse", "CloseSession"):
        assert service in requests, (service, requests)
    responses = [r.fields for r in recs if r.direction == "response" and "status_code" in r.fields]
    assert {r["status"] for r in responses} == {"Good"}
    assert recs[-1].fields["msg_type"] == "CLO"


def test_real_asyncua_session_matches_tshark(asyncua_capture: Path) -> None:
    replayed = replay(asyncua_capture, SPECS)
    ours = {r.frame: r.record.fields for r in replayed}
    fields = [
        "opcua.transport.type",
        "opcua.transport.endpoint",
        "opcua.security.spu",
        "opcua.servicenodeid.numeric",
    ]
    rows = tshark_decode_as(asyncua_capture, replayed[0].flow.server_port, fields)
    assert sorted(rows) == sorted(ours)
    for frame, (mtype, endpoint, policy, service) in rows.items():
        assert ours[frame]["msg_type"] == mtype
        assert ours[frame].get("endpoint_url", "") == endpoint or mtype != "HEL"
        assert ours[frame].get("sec_policy_uri", "") == policy
        assert str(ours[frame].get("identifier", "")) == service


def test_real_asyncua_server_named_in_inventory(asyncua_capture: Path) -> None:
    sensor = Sensor()
    sensor.process_capture(asyncua_capture)
    sensor.finish()
    server = sensor.inventory.asset_by_ip(SERVER_IP)
    client = sensor.inventory.asset_by_ip("127.0.0.1")
    assert server is not None and client is not None
    ident = server.identity.identity
    assert ident.name == "OTWatch Test PLC"
    assert ident.vendor == "FreeOpcUa"
    assert ident.extra["opcua_application_uri"] == "urn:freeopcua:python:server"
    assert {str(r) for p, r in server.protocols if p == "opcua"} == {"server"}
    assert {str(r) for p, r in client.protocols if p == "opcua"} == {"client"}
    assert client.identity.identity.name is None  # a client's application name is not a host name


# -- framing ----------------------------------------------------------------------------------------
def _hello(url: bytes = b"opc.tcp://plc:4840") -> bytes:
    body = struct.pack("<IIIIIi", 0, 65536, 65536, 0, 0, len(url)) + url
    return b"HELF" + struct.pack("<I", 8 + len(body)) + body


def test_any_segmentation_gives_the_same_records() -> None:
    path = capture(PUBLIC)
    whole = [r.record.fields for r in replay(path, SPECS)]
    stream = _hello() * 3
    d = OpcUaDissector()
    byte_by_byte = [r for i in range(len(stream)) for r in d.feed(stream[i : i + 1], True)]
    assert [r.fields for r in byte_by_byte] == [r.fields for r in OpcUaDissector().feed(stream, True)]
    assert len(byte_by_byte) == 3 and whole


def test_detect_and_out_of_spec_headers() -> None:
    assert opcua.detect(_hello())
    assert not opcua.detect(b"GET / HTTP/1.1\r\n")
    assert not opcua.detect(b"HELX\x10\x00\x00\x00")
    d = OpcUaDissector()
    assert d.feed(b"XYZF\x10\x00\x00\x00" + bytes(8), True) == []  # joined mid-stream: resynchronise
    assert d.feed(b"x" * 20 + b"HE", True) == []  # the next header's signature split by a segment edge
    (rec,) = d.feed(_hello()[2:], True)
    assert rec.fields["endpoint_url"] == "opc.tcp://plc:4840"
    (rec,) = d.feed(b"XYZF\x10\x00\x00\x00" + bytes(8), True)  # once in step, a bad header is out of spec
    assert rec.malformed == "not an OPC UA message header"
    (rec,) = OpcUaDissector().feed(_hello()[:-3] + b"\x00\x00\x00" + b"", True)
    assert rec.malformed is None  # a complete chunk whose URL is intact up to its declared length
    cut = b"HELF" + struct.pack("<I", 40) + struct.pack("<IIIIIi", 0, 1, 1, 0, 0, 100) + bytes(8)
    (rec,) = OpcUaDissector().feed(cut, True)
    assert rec.malformed == "truncated or invalid Hello"


def test_large_chunk_is_skipped_not_buffered() -> None:
    big = b"MSGF" + struct.pack("<I", 1_000_000) + bytes(16)
    d = OpcUaDissector()
    (rec,) = d.feed(big + bytes(20_000), True)
    assert rec.fields["msg_size"] == 1_000_000
    assert len(d._sides[1].buf) == 0 and d._sides[1].skip == 1_000_000 - 20_024
    assert d.feed(bytes(1_000_000 - 20_024), True) == []
    (rec,) = d.feed(_hello(), True)
    assert rec.fields["msg_type"] == "HEL"


def _string(text: bytes) -> bytes:
    return struct.pack("<i", len(text)) + text


def _chunk(mtype: bytes, body: bytes) -> bytes:
    return mtype + b"F" + struct.pack("<I", 8 + len(body)) + body


def test_service_fault_and_encrypted_channel() -> None:
    d = OpcUaDissector()
    policy = b"http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256"
    opn = _chunk(
        b"OPN", struct.pack("<I", 0) + _string(policy) + _string(b"cert") + _string(b"thumb") + bytes(40)
    )
    (rec,) = d.feed(opn, True)
    assert rec.fields["sec_policy_uri"] == policy.decode() and rec.fields["encrypted"] is True
    (rec,) = d.feed(_chunk(b"MSG", struct.pack("<IIII", 7, 1, 2, 2) + b"\x9f\x31" + bytes(30)), True)
    assert rec.fields["encrypted"] is True and "service" not in rec.fields and rec.malformed is None
    # ServiceFault (encoding id 397) carrying BadUserAccessDenied, on a channel without security
    plain = OpcUaDissector()
    header = struct.pack("<qII", 0, 9, 0x801F0000) + b"\x00" + struct.pack("<i", -1) + b"\x00\x00\x00"
    fault = _chunk(b"MSG", struct.pack("<IIII", 7, 1, 3, 9) + b"\x01\x00" + struct.pack("<H", 397) + header)
    (rec,) = plain.feed(fault, False)
    assert (rec.fields["service"], rec.fields["status"], rec.fields["request_handle"]) == (
        "ServiceFault", "BadUserAccessDenied", 9,
    )  # fmt: skip
    assert rec.direction == "response" and rec.malformed is None
