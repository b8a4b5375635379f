"""The read-only ADS query against pyads' test server, and pyads' own client traffic as agreement input.

pyads (the Beckhoff AdsLib wrapper) is the real second party: its ``AdsTestServer`` answers our
ReadDeviceInfo/ReadState; its client, talking to the same server through a recording relay, produces the
frames a TwinCAT engineering tool or HMI sends, which our dissector must read without a malformed
record; its ``add_route_to_plc`` produces the TwinCAT UDP AddRoute datagram.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from otwatch.inventory.identity import Identity
from otwatch.protocols.ads import AdsDissector, dissect_udp
from otwatch.protocols.ads.messages import UdpMessage
from otwatch.protocols.ads.query import derived_net_id, identify, identify_udp
from otwatch.protocols.base import QueryTarget, Record
from otwatch.protocols.operations import OPERATION_FIELD, Operation

pyads = pytest.importorskip("pyads")
testserver = pytest.importorskip("pyads.testserver")


async def _identify(target: QueryTarget) -> Identity | None:
    return await identify(target)  # a coroutine for asyncio.run (the decorated query is typed Awaitable)


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def ads_server(host: str = "127.0.0.1", port: int | None = None) -> Iterator[int]:
    port = port or _free_port(host)
    handler = testserver.AdvancedHandler()
    handler.add_variable(
        testserver.advanced_handler.PLCVariable("MAIN.speed", 0, pyads.constants.ADST_INT16, "INT", 0x4020, 0)
    )
    server = testserver.AdsTestServer(handler, ip_address=host, port=port, logging=False)
    server.server.listen(5)  # before start(): its thread listens too, but only once it runs
    server.start()
    try:
        yield port
    finally:
        server.stop()
        server.join(timeout=5)


def test_identify_against_pyads_test_server() -> None:
    with ads_server() as port:
        identity = asyncio.run(_identify(QueryTarget("127.0.0.1", port)))
    assert identity is not None
    assert identity.vendor == "Beckhoff"
    assert identity.model == "TestServer" and identity.extra["plc_version"] == "1.2.3"
    assert identity.state == "Run" and str(identity.device_type) == "PLC"


def test_identify_sends_only_read_device_info_and_read_state() -> None:
    """What the device sees: the requests our query sent, dissected, are reads addressed by NetId."""
    seen: list[bytes] = []
    with ads_server() as port, _relay("127.0.0.1", port, seen) as relay_port:
        asyncio.run(_identify(QueryTarget("127.0.0.1", relay_port)))
    d = AdsDissector()
    requests = [r for chunk in seen for r in d.feed(chunk, True)]
    assert [r.fields["command"] for r in requests] == ["READ_DEVICE_INFO", "READ_STATE"]
    assert all(r.fields["target_net_id"] == derived_net_id("127.0.0.1") for r in requests)
    assert all(r.fields["target_port"] == 851 and OPERATION_FIELD not in r.fields for r in requests)


def test_identify_gives_up_on_a_silent_or_closed_host() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        target = QueryTarget("127.0.0.1", port, response_timeout=0.2)
        assert asyncio.run(_identify(target)) is None  # accepted by the kernel, never answered
    assert asyncio.run(_identify(QueryTarget("127.0.0.1", _free_port("127.0.0.1")))) is None  # refused


@contextlib.contextmanager
def _relay(host: str, upstream: int, client_bytes: list[bytes], server_bytes: list[bytes] | None = None,
           listen: tuple[str, int] | None = None) -> Iterator[int]:  # fmt: skip
    """A TCP relay that records each direction's bytes (the frames as they went over the wire)."""
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(listen or (host, 0))
    lsock.listen()
    lsock.settimeout(0.2)
    stop = threading.Event()

    def pump(src: socket.socket, dst: socket.socket, out: list[bytes] | None) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if out is not None:
                    out.append(data)
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = lsock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            up = socket.create_connection((host, upstream))
            threading.Thread(target=pump, args=(conn, up, client_bytes), daemon=True).start()
            threading.Thread(target=pump, args=(up, conn, server_bytes), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(lsock.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=2)
        lsock.close()


def test_pyads_client_traffic_is_read_without_malformed_records() -> None:
    """pyads' AdsLib client always dials port 48898: it reaches the test server through a recording
    relay on its own loopback address, so both directions of real client traffic are kept."""
    relay_ip = "127.0.0.57"
    net_id = f"{relay_ip}.1.1"
    to_server: list[bytes] = []
    to_client: list[bytes] = []
    with ads_server() as port, _relay("127.0.0.1", port, to_server, to_client, listen=(relay_ip, 48898)):
        pyads.open_port()
        pyads.set_local_address("10.9.8.7.1.1")
        pyads.add_route(net_id, relay_ip)
        plc = pyads.Connection(net_id, 851, relay_ip)
        plc.open()
        try:
            name, version = plc.read_device_info()
            assert (name, version.version, version.revision, version.build) == ("TestServer", 1, 2, 3)
            plc.read_state()
            plc.write(0x4020, 0, 7, pyads.PLCTYPE_INT)
            assert plc.read(0x4020, 0, pyads.PLCTYPE_INT) == 7
            plc.write_by_name("MAIN.speed", 9, pyads.PLCTYPE_INT)
            plc.write_control(pyads.ADSSTATE_STOP, 0, 0, pyads.PLCTYPE_INT)
        finally:
            plc.close()
            pyads.delete_route(pyads.AmsAddr(net_id, 851))
            pyads.close_port()
    d = AdsDissector()
    requests = [r for chunk in to_server for r in d.feed(chunk, True)]
    replies = [r for chunk in to_client for r in d.feed(chunk, False)]
    seen = [
        (r.fields["command"], r.fields.get("index_group"), r.fields.get(OPERATION_FIELD)) for r in requests
    ]
    write = Operation.PARAMETER_WRITE
    assert seen == [
        ("READ_DEVICE_INFO", None, None),
        ("READ_STATE", None, None),
        ("WRITE", 0x4020, write),  # %M memory
        ("READ", 0x4020, None),
        ("READ_WRITE", 0xF003, None),  # write_by_name: handle by name,
        ("WRITE", 0xF005, write),  # the value by handle,
        ("WRITE", 0xF006, None),  # and the handle released
        ("WRITE_CONTROL", None, Operation.CONTROLLER_STOP),
    ]
    assert all(r.malformed is None for r in requests + replies)
    assert all(
        r.fields["source_net_id"] == "10.9.8.7.1.1" and r.fields["target_port"] == 851 for r in requests
    )
    info = next(r for r in replies if r.fields["command"] == "READ_DEVICE_INFO")
    assert info.fields["device_name"] == "TestServer" and info.fields["version"] == "1.2.3"
    assert all(r.fields.get("matched") for r in replies)


def _udp_responder(host: str, got: list[bytes], replies: dict[int, UdpMessage]) -> threading.Thread:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, 48899))
    sock.settimeout(5)

    def run() -> None:
        with sock:
            data, addr = sock.recvfrom(2048)
            got.append(data)
            request = dissect_udp(data)
            reply = replies[request.fields["service_id"]]
            sock.sendto(reply.encode(), addr)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_pyads_add_route_is_route_added_without_the_password() -> None:
    host = "127.0.0.58"
    got: list[bytes] = []
    ack = UdpMessage(6, f"{host}.1.1", 10000, [(1, bytes(4))], response=True)
    thread = _udp_responder(host, got, {6: ack})
    assert pyads.add_route_to_plc(
        "10.1.2.3.1.1", "10.1.2.3", host, "Administrator", "s3cret!", route_name="ENG-PC"
    )
    thread.join(timeout=5)
    record: Record = dissect_udp(got[0])
    assert record.malformed is None and record.fields[OPERATION_FIELD] == Operation.ROUTE_ADDED
    assert record.fields["route_name"] == "ENG-PC" and record.fields["route_net_id"] == "10.1.2.3.1.1"
    assert record.fields["user_name"] == "Administrator" and record.fields["route_host"] == "10.1.2.3"
    assert "s3cret!" not in repr(record)


def test_udp_identify_query() -> None:
    host = "127.0.0.59"
    got: list[bytes] = []
    answer = UdpMessage(
        1,
        f"{host}.1.1",
        10000,
        [(5, b"CX-4711\x00"), (3, bytes([3, 1]) + (4024).to_bytes(2, "little"))],
        response=True,
    )
    thread = _udp_responder(host, got, {1: answer})
    identity = asyncio.run(identify_udp(QueryTarget(host, 48899)))
    thread.join(timeout=5)
    assert identity is not None
    assert (identity.vendor, identity.name, identity.firmware) == ("Beckhoff", "CX-4711", "3.1.4024")
    assert identity.extra["ams_net_id"] == f"{host}.1.1"
    assert dissect_udp(got[0]).fields["service"] == "IDENTIFY"
