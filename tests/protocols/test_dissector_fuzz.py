"""A fixed fuzz budget for every registered dissector (protocols/registry.py), run in CI.

tests/sensor/pipeline/test_fuzz.py covers the reader, decoder, flow table and four TCP dissectors with random
streams; this adds every registered dissector, seeded with its own traffic and then mutated (bytes
replaced, inserted, cut, re-chunked), which reaches far deeper than random bytes. The seeds are what
the sensor would feed each dissector from the public captures (real traffic), topped up from the
synthetic generators (sensor/capture/synth.py) for the protocols the captures lack; no protocol goes
unseeded. ``feed``, ``detect`` and ``identity_from`` must never raise on wire bytes.

The budget comes from the Hypothesis profile (tests/conftest.py): "ci" (default) is derandomised,
so `make test` is repeatable; ``HYPOTHESIS_PROFILE=fuzz`` runs a long, random campaign.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from functools import cache, partial

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otwatch.protocols import sv
from otwatch.protocols.base import ProtocolSpec, Record
from otwatch.protocols.c37118.messages import Command, Config, PmuConfig
from otwatch.protocols.c37118.messages import frame as c37_frame
from otwatch.protocols.ethercat import datagram, ethercat_frame
from otwatch.protocols.ge_srtp import mailbox
from otwatch.protocols.registry import PROTOCOLS
from otwatch.protocols.sv import Asdu as SvAsdu
from otwatch.protocols.sv import SvPdu
from otwatch.sensor.capture import synth
from otwatch.sensor.capture.decode import PROTO_TCP, PROTO_UDP, decode
from otwatch.sensor.capture.pcapfile import CaptureReader, PcapError
from otwatch.sensor.tracking.flows import FlowTable
from tests.conftest import CAPTURES
from tests.protocols.profinet_io import test_profinet_io as pnio

PER_SPEC = 200  # seed payloads kept per protocol
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
Seeds = list[tuple[bytes, bool]]


def _key(spec: ProtocolSpec) -> str:
    return f"{spec.name}/{spec.transport}"


class _Tap:
    """Stands in for a dissector: keeps what the sensor feeds it (the seeds), dissects nothing."""

    def __init__(self, seeds: Seeds) -> None:
        self.seeds = seeds

    def feed(self, data: bytes, from_client: bool) -> list[Record]:
        if len(self.seeds) < PER_SPEC:
            self.seeds.append((bytes(data), from_client))
        return []


def _synthetic() -> synth.Net:
    """Traffic of the protocols the public captures lack (DNP3 on UDP, DHCP, mDNS, LLMNR, HTTP, LLDP,
    CDP, more PROFINET DCP), from the generators the sensor tests use."""
    n = synth.Net()
    laptop = n.host("laptop", "10.10.0.77", 0x3C22FB)
    dhcpd = n.host("dhcpd", "10.10.0.1", synth.OUI_DELL)
    plc = n.host("plc", "10.10.0.10", synth.OUI_SIEMENS)
    rtu = n.host("rtu", "10.10.0.11", synth.OUI_SCHNEIDER)
    bcast = synth.Host("255.255.255.255", b"\xff" * 6)
    unknown = synth.Host("0.0.0.0", laptop.mac)
    for seq, func in enumerate((1, 2, 3, 4, 5, 13, 20)):  # read, write, select, operate, ... over UDP
        n.udp(laptop, rtu, 50000, 20000, synth.dnp3_request(func, seq, objects=b"\x3c\x02\x06"))
        n.udp(rtu, laptop, 20000, 50000, synth.dnp3_response(0x8000 >> seq, seq))
    for msg_type in (1, 3, 7, 8):  # DISCOVER, REQUEST, RELEASE, INFORM from the client
        msg = synth.dhcp_message(1, laptop.mac, msg_type, hostname="ENG-LAPTOP-7", vendor_class="MSFT 5.0",
                                 requested="10.10.0.77")  # fmt: skip
        n.udp(unknown, bcast, 68, 67, msg)
    for msg_type in (2, 5, 6):  # OFFER, ACK, NAK from the server
        msg = synth.dhcp_message(2, laptop.mac, msg_type, yiaddr="10.10.0.77", server_id="10.10.0.1")
        n.udp(dhcpd, bcast, 67, 68, msg)
    mdns = synth.Host("224.0.0.251", bytes.fromhex("01005e0000fb"))
    n.udp(laptop, mdns, 5353, 5353, synth.dns_query("_http._tcp.local", 0))
    n.udp(plc, mdns, 5353, 5353, synth.dns_answer("plc-web.local", [plc.ip, "10.10.1.10"], 0))
    llmnr = synth.Host("224.0.0.252", bytes.fromhex("01005e0000fc"))
    n.udp(laptop, llmnr, 49800, 5355, synth.dns_query("historian", 9))
    n.udp(plc, laptop, 5355, 49800, synth.dns_answer("historian", [plc.ip], 9))
    web = n.session(laptop, plc, 8080, 50001).open()
    web.exchange(synth.http_request("10.10.0.10:8080", "/Portal/Portal.mwsl"), synth.http_response("Siemens"))
    web.exchange(synth.http_request("plc", "/api?x=1", "curl/8.0"), synth.http_response("httpd", b"{}" * 9))
    web.close()
    tls = n.session(laptop, plc, 443, 50002).open()
    tls.exchange(synth.tls_client_hello("plc.plant.local"), synth.tls_server_hello())
    tls.close()
    for i, (name, caps) in enumerate((("SCALANCE-X208", 0x0014), ("core-sw1", 0x0004), ("ap-3", 0x0008))):
        n.emit(synth.lldp_frame(synth.mac(0x200 + i), name, f"{name} FW V4.{i}", f"Port {i + 1}", caps))
        cdp_src, cdp_ip = synth.mac(0x400 + i, 0x00000C), f"10.10.0.{250 + i}"
        n.emit(synth.cdp_frame(cdp_src, f"{name}.plant", "cisco WS-C2960-24TT-L", "IOS 12.2", cdp_ip))
    pmu = n.host("pmu", "10.10.0.20", synth.OUI_SIEMENS)  # C37.118 over UDP (the public capture is TCP)
    cfg = Config(
        1_000_000, [PmuConfig("BAY 4 PMU", 20, 6, ["VA", "VB"], ["MW"], [f"B{i}" for i in range(16)])], 30
    )
    n.udp(laptop, pmu, 4713, 4713, c37_frame(4, 20, Command(5).encode()))
    n.udp(pmu, laptop, 4713, 4713, c37_frame(3, 20, cfg.encode()))
    for i in range(8):
        n.udp(pmu, laptop, 4713, 4713, c37_frame(0, 20, bytes(2 + 8 * 2 + 4 + 4 + 2), soc=1_700_000_000 + i))
    ecat_master = synth.mac(0x500, 0x000105)
    for state in (1, 2, 4, 8):  # EtherCAT: a master's start-up and cycle (no public capture has it)
        al = ethercat_frame(
            datagram(8, 0, 0x0120, bytes((state, 0)), more=True), datagram(7, 0, 0x0130, bytes(2))
        )
        n.emit(synth.ethernet(ecat_master, b"\xff" * 6, 0x88A4, al))
        cyc = ethercat_frame(
            datagram(12, 0, 1, bytes(16), more=True, idx=state), datagram(4, 0x1001, 0x0130, bytes(2))
        )
        n.emit(synth.ethernet(ecat_master, b"\xff" * 6, 0x88A4, cyc))
    srtp = n.session(laptop, plc, 18245, 50003).open()  # GE SRTP: a programmer's session
    srtp.exchange(bytes(56), b"\x01" + bytes(55))
    for seq, (code, text) in enumerate(
        ((0x00, b""), (0x03, b""), (0x07, b"\x01\x00"), (0x23, b""), (0x3F, b"x" * 40))
    ):
        request = mailbox(2, seq, 0x80 if text else 0xC0, code, text=text, mseq=seq)
        srtp.exchange(request, mailbox(3, seq, 0x94 if code == 3 else 0xD4, text=b"PRG1\x00" if code == 3 else b"",
                                       status=0x0100, mseq=seq))  # fmt: skip
    srtp.close()
    _melsec(n, laptop, plc)
    _roc_plus(n, laptop)
    _bsap(n, laptop)
    _genisys(n, laptop)
    n.emit(synth.dcp_identify_request(laptop.mac))
    for role in (1, 2, 4, 8):
        station = synth.mac(0x300 + role)
        n.emit(synth.dcp_identify_response(station, laptop.mac, f"io-{role}", "ET 200SP", 0x002A, 0x0313, role,
                                           f"10.10.0.{30 + role}"))  # fmt: skip
    io_device = n.host("io-device", "10.10.0.40", synth.OUI_SIEMENS)
    for payload, to_device in pnio.FRAMES * 2:  # PROFINET IO CM: connect, write, control, I&M0 read
        src, dst = (plc, io_device) if to_device else (io_device, plc)
        n.udp(src, dst, 49152 if to_device else 34964, 34964 if to_device else 49152, payload)
    for count in range(0, 4000, 400):  # IEC 61850-9-2 Sampled Values (no public capture has them)
        asdus = [SvAsdu(f"MU0{count % 3}MU/LLN0$SV$MSVCB01", count + i, 1, 2, bytes(32)) for i in range(2)]
        n.emit(synth.ethernet(synth.mac(0x500), bytes.fromhex("010ccd040001"), sv.ETHERTYPE,
                              SvPdu(0x4000, asdus).encode()))  # fmt: skip
    return n


def _melsec(n: synth.Net, client: synth.Host, plc: synth.Host) -> None:
    """MC protocol / SLMP (no public capture has it): reads, writes, remote operations and files,
    3E and 4E, binary and ASCII, over TCP and UDP."""
    from otwatch.protocols.melsec.messages import CpuModel, DeviceRange, Request, Response

    pairs: list[tuple[Request, Response]] = []
    for ascii_code in (False, True):
        for serial in (None, 7):
            reply_model = CpuModel("Q03UDVCPU", 0x0268).encode(ascii_code)
            pairs += [
                (Request(0x0101, 0, b"", serial=serial, ascii=ascii_code), Response(0, reply_model, serial=serial, ascii=ascii_code)),
                (Request(0x0401, 0, DeviceRange("D", 100, 2).encode(ascii=ascii_code), serial=serial, ascii=ascii_code),
                 Response(0, b"0000" * 2 if ascii_code else bytes(4), serial=serial, ascii=ascii_code)),
                (Request(0x1401, 3, DeviceRange("M", 10, 2).encode(3, ascii_code) + b"11", serial=serial, ascii=ascii_code),
                 Response(0, serial=serial, ascii=ascii_code)),
                (Request(0x1002, 0, b"0001" if ascii_code else b"\x01\x00", serial=serial, ascii=ascii_code),
                 Response(0xC059, serial=serial, ascii=ascii_code)),
            ]  # fmt: skip
    pairs += [
        (
            Request(0x1827, 0x40, b"\x00" * 6 + "$MELPRJ$\\MAIN.PRG".encode("utf-16-le")),
            Response(0, b"\x01\x00"),
        ),
        (Request(0x1828, 0, b"\x01\x00" + bytes(6)), Response(0, b"\x04\x00abcd")),
        (Request(0x1829, 0, b"\x01\x00" + bytes(6) + b"\x02\x00xy"), Response(0, b"\x02\x00")),
    ]
    tcp = n.session(client, plc, 5007, 50010).open()
    for request, response in pairs:
        tcp.exchange(request.encode(), response.encode())
    tcp.close()
    for request, response in pairs[:8]:
        n.udp(client, plc, 50011, 5006, request.encode())
        n.udp(plc, client, 5006, 50011, response.encode())


def _roc_plus(n: synth.Net, host: synth.Host) -> None:
    """Emerson ROC Plus (no public capture has it): a ROCLINK session over TCP 4000 (identify, clock
    read and set, parameter reads and writes, a login, a file write) and polls over UDP 4000."""
    from otwatch.protocols.roc_plus.messages import (
        Address,
        Clock,
        Frame,
        PointRange,
        SystemConfig,
        encode_tlps,
    )

    roc = n.host("roc", "10.10.0.50", 0x004003)  # an Emerson OUI
    station, me = Address(240, 240), Address(3, 1)
    config = SystemConfig(1, 4000, 0, 2, 1, 1, 6, bytes(196)).encode()
    pairs = [
        (6, b"", config),
        (7, b"", Clock(2026, 12, 6, 20, 15, 0, 1).encode()),
        (8, Clock(2030, 1, 1, 0, 0, 0).encode(), b""),
        (17, b"LOI" + bytes((0xE8, 0x03, 5)), b""),
        (167, PointRange(91, 0, 2, 0).encode(), PointRange(91, 0, 2, 0, bytes(8)).encode()),
        (180, encode_tlps([(91, 0, 10), (16, 1, 2)]), bytes((2, 91, 0, 10, 1, 16, 1, 2)) + bytes(4)),
        (181, bytes((1, 16, 1, 2)) + bytes(4), b""),
        (166, PointRange(16, 1, 1, 2, bytes(4)).encode(), b""),
        (11, bytes((1, 0, 2, 9, 9)), b""),
        (24, bytes((3, 1, 1, 2, 240, 240, 0, 0, 0, 0, 8, 7)) + Clock(2030, 1, 1, 0, 0, 0).encode(), b""),
        (
            203,
            bytes((1, 2)) + b"/flash".ljust(100, b"\x00") + b"p.tar".ljust(25, b"\x00"),
            bytes((1, 7, 0, 0, 0)),
        ),
        (
            203,
            bytes((3, 7, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4)) + b"\x7fELF",
            bytes((3, 7, 0, 0, 0, 4, 0, 0, 0)),
        ),
        (50, b"\x00", bytes(27)),
        (119, bytes(3), bytes(40)),
        (100, bytes(3), bytes((255, 1)) + bytes(6)),  # answered with an error indicator below
    ]
    tcp = n.session(host, roc, 4000, 50020).open()
    for opcode, request, reply in pairs:
        answer = Frame(255, me, station, reply[:2]) if opcode == 100 else Frame(opcode, me, station, reply)
        tcp.exchange(Frame(opcode, station, me, request).encode(), answer.encode())
    tcp.close()
    for opcode, request, reply in pairs[:6]:
        n.udp(host, roc, 50021, 4000, Frame(opcode, station, me, request).encode())
        n.udp(roc, host, 4000, 50021, Frame(opcode, me, station, reply).encode())


def _bsap(n: synth.Net, host: synth.Host) -> None:
    """BSAP over UDP 1234 (no public capture has it): OpenBSI's RDB reads and writes by name and by
    address, polls and responses, and BSAP serial frames carried over IP."""
    from otwatch.protocols.bsap.messages import IpMessage, IpRequest, IpResponse, RdbRequest, SerialFrame
    from otwatch.protocols.bsap.messages import names_request as names

    rtu = n.host("bsap-rtu", "10.10.0.51", 0x004003)
    rdbs = [
        names(0x04, ["@GV.DS1", "@GV.SystemShutDown", "@GV.Tank1Bypass"]),
        names(0x84, ["@GV.ManualSwitch"]),
        RdbRequest(0x80, bytes(3) + bytes((2,)) + bytes.fromhex("11000a120001")),
        RdbRequest(0x00, bytes(8)),
        RdbRequest(0x0C, bytes(4)),
    ]
    for seq, rdb in enumerate(rdbs):
        app = 0x68 if seq == 4 else 0xA0
        request = IpMessage(0x0006, 1, 19331 + seq, 19316 + seq, IpRequest(app, seq, rdb.encode()).encode())
        reply = IpMessage(
            0x0005, 1, 19317 + seq, 19332 + seq, IpResponse(19331 + seq, 0, 1, bytes(6)).encode()
        )
        n.udp(host, rtu, 1234, 1234, request.encode())
        n.udp(rtu, host, 1234, 1234, reply.encode())
        n.udp(host, rtu, 1234, 1234, IpMessage(0x0000, 0, 19320 + seq, 19335 + seq).encode())
    tap = n.host("bsap-tap", "10.10.0.52", 0x004003)
    for xfun in (0x0101, 0x0201, 0x0281, 0x0400):
        frame = SerialFrame(
            0x05, 0x40, 0xA1, xfun, 0x03, 0x00, bytes(5) + xfun.to_bytes(2, "little") + b"\x10"
        )
        n.udp(host, tap, 50030, 1235, frame.encode())
        n.udp(tap, host, 1235, 50030, SerialFrame(0x05, 0x40, 0x03, xfun, 0xA1, 0x00, b"\x00").encode())


def _genisys(n: synth.Net, office: synth.Host) -> None:
    """Genisys over TCP 10001 (no public capture has it): the poll / recall / indication cycle of
    ICSNPP's baseline, controls with escaped bytes, checkbacks and executes."""
    from otwatch.protocols.genisys.messages import Message

    unit = n.host("code-unit", "10.10.0.53", 0x000B8E)
    line = n.session(office, unit, 10001, 50040).open()
    indications = [(i, 4 + i % 3) for i in range(56)]
    for station in (1, 2, 0xF3):
        line.exchange(Message(0xFB, station).encode(), Message(0xF1, station).encode())
        line.exchange(Message(0xFD, station).encode(), Message(0xF2, station, indications).encode())
        line.exchange(Message(0xFC, station, [(0, 0xF6), (1, 2)]).encode(),
                      Message(0xF3, station, [(0, 0xF6), (1, 2)]).encode())  # fmt: skip
        line.exchange(Message(0xFE, station).encode(), Message(0xF2, station, indications[:8]).encode())
        line.exchange(Message(0xFA, station).encode() + Message(0xFB, station, checked=False).encode(),
                      Message(0xF1, station).encode())  # fmt: skip
    line.close()


def _frames() -> Iterator[tuple[int, bytes]]:
    """(linktype, frame) of every packet of the public captures, then of :func:`_synthetic`."""
    for path in sorted(CAPTURES.rglob("*.pcap*")):
        try:
            packets = list(CaptureReader(path))
        except (PcapError, OSError):
            continue
        yield from ((p.linktype, p.data) for p in packets)
    yield from ((linktype, data) for _ts, linktype, data in _synthetic())


def _need_captures() -> None:
    if not CAPTURES.is_dir():
        pytest.skip(f"public captures {CAPTURES} are absent: the mutation seeds come from them")


@cache
def _seeds() -> dict[str, Seeds]:
    """(payload, from_client) each dissector gets from the traffic, by `_key`: chosen and fed as the
    sensor does (FlowTable: by port, else by content, TCP reassembled; layer 2 as ``Sensor._layer2``:
    by ethertype, else an LLC frame by content)."""
    seeds: dict[str, Seeds] = {_key(s): [] for s in PROTOCOLS}
    flows = FlowTable([replace(s, dissector=partial(_Tap, seeds[_key(s)])) for s in PROTOCOLS])
    by_ethertype = {port: s for s in PROTOCOLS if s.transport == "eth" for port in s.ports}
    llc = [s for s in PROTOCOLS if s.transport == "eth" and not s.ports]
    for linktype, data in _frames():
        pkt = decode(linktype, data)
        if pkt is None:
            continue
        if pkt.proto in (PROTO_TCP, PROTO_UDP):
            flows.process_decoded(0.0, pkt)
        elif pkt.ip_version == 0 and pkt.payload:
            payload = bytes(pkt.payload)
            spec = by_ethertype.get(pkt.ethertype)
            spec = spec or next((s for s in llc if not pkt.ethertype and s.detect(payload)), None)
            if spec is not None and len(seeds[_key(spec)]) < PER_SPEC:
                seeds[_key(spec)].append((payload, True))
    return seeds


def _run(spec: ProtocolSpec, chunks: list[tuple[bytes, bool]]) -> None:
    dissector = spec.dissector()
    for data, from_client in chunks:
        spec.detect(data)
        for record in dissector.feed(data, from_client):
            spec.identity_from(record)


edits = st.lists(
    st.tuples(st.sampled_from(["set", "insert", "delete"]), st.integers(0, 4096), st.integers(0, 255)),
    max_size=6,
)


def _mutate(data: bytes, ops: list[tuple[str, int, int]], cut: int) -> bytes:
    out = bytearray(data)
    for op, pos, value in ops:
        i = pos % (len(out) + 1)
        if op == "insert":
            out[i:i] = bytes([value]) * (1 + value % 8)
        elif out and op == "set":
            out[i % len(out)] = value
        elif out:
            del out[i % len(out) : i % len(out) + 1 + value % 16]
    return bytes(out[: max(0, len(out) - cut)])


@pytest.mark.parametrize("spec", PROTOCOLS, ids=_key)
@FUZZ
@given(
    start=st.integers(0, PER_SPEC),
    ops=edits,
    cut=st.integers(0, 64),
    step=st.integers(1, 64),
    which=st.integers(0, 7),
)
def test_mutated_real_traffic(spec: ProtocolSpec, start: int, ops: list[tuple[str, int, int]], cut: int,
                              step: int, which: int) -> None:  # fmt: skip
    _need_captures()
    seeds = _seeds()[_key(spec)]
    assert seeds, f"no {spec.name} seed traffic"
    window = seeds[start % len(seeds) : start % len(seeds) + 12]
    chunks: list[tuple[bytes, bool]] = []
    for n, (payload, from_client) in enumerate(window):
        data = _mutate(payload, ops, cut) if n % 8 == which else payload  # one mutated message of a few
        chunks += [(data[i : i + step], from_client) for i in range(0, len(data), step)] or [
            (b"", from_client)
        ]
    _run(spec, chunks)


@pytest.mark.parametrize("spec", PROTOCOLS, ids=_key)
@FUZZ
@given(chunks=st.lists(st.tuples(st.binary(max_size=300), st.booleans()), max_size=12))
def test_random_streams(spec: ProtocolSpec, chunks: list[tuple[bytes, bool]]) -> None:
    _run(spec, chunks)


def test_every_dissector_has_seed_traffic() -> None:
    """The mutation test is only as good as its seeds; the ICS ones come from real captures."""
    _need_captures()
    seeds = _seeds()
    assert [k for k, v in seeds.items() if not v] == []
    for k in ("modbus/tcp", "dnp3/tcp", "iec104/tcp", "s7comm/tcp", "enip/tcp", "enip/udp", "bacnet/udp",
              "opcua/tcp", "profinet_dcp/eth", "mms/tcp", "goose/eth", "sv/eth", "melsec/tcp", "melsec/udp",
              "melsoft/tcp", "melsoft/udp", "roc_plus/tcp", "roc_plus/udp",
              "bsap/udp", "genisys/tcp"):  # fmt: skip
        assert len(seeds[k]) >= 10, k


#: inputs the fuzzing above once found to raise, kept as fixed regressions
FOUND = [
    ("s7comm", b"\x03\x00W x\xfb}\xbb"),  # COTP length byte pointing past the payload (IndexError)
    ("melsec", b"5000zz"),  # ASCII subheader with non-hex fields
    ("melsoft", b"\xd7\x00" + bytes(19) + b"\x9c\x00\x18"),  # MELSOFT header without its command header
]


@pytest.mark.parametrize(("name", "payload"), FOUND)
def test_inputs_fuzzing_found(name: str, payload: bytes) -> None:
    for spec in PROTOCOLS:
        if spec.name == name:
            _run(spec, [(payload, True), (payload, False)])
