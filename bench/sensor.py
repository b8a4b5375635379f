"""Sensor benchmark: packets/s, Mbps and peak memory on an OT traffic mix, beside tshark and dpkt.

    .venv/bin/python -m bench.sensor                      # quick: 200k packets
    .venv/bin/python -m bench.sensor --packets 1000000    # the reference run
    .venv/bin/python -m bench.sensor --workers 2          # flows sharded over 2 processes
    .venv/bin/python -m bench.sensor --packets 10000000 --hosts 1000   # memory: a fixed host count

The mix is written to a temporary pcap once: the public captures (../shared/captures, Ethernet ones)
repeated with rewritten addresses (about 30 % of the packets), plus a generated plant (Modbus/TCP
polling with ACKs, S7 reads, DNP3 and IEC 104 polls, CIP explicit messages, EtherNet/IP class-1 I/O,
DNS and ARP). With ``--hosts N`` the repetitions reuse a fixed pool of about N addresses instead (and
shift the client ports, so each repetition is still new connections): the host count then does not
grow with the mix's length, which is how to see that memory follows flows and assets, not packets.
Then, in the same run and each in its own process (so peak RSS is its own):

* ``otwatch``: :class:`otwatch.sensor.pipeline.sensor.Sensor` with every engine on, reading the file;
* ``tshark``: ``tshark -r FILE -T fields`` extracting the same OT fields (function codes, services,
  ASDU types) for every packet;
* ``dpkt``: a bare read loop, ``dpkt.ethernet.Ethernet(buf)`` per packet (no dissection at all).

Results are printed as a table and as ratios against the peers.
"""

from __future__ import annotations

import argparse
import functools
import heapq
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CAPTURES = REPO.parent / "shared" / "captures"
TSHARK_FIELDS = (
    "frame.number",
    "modbus.func_code",
    "s7comm.param.func",
    "enip.command",
    "cip.sc",
    "dnp3.al.func",
    "iec60870_asdu.typeid",
    "bacapp.confirmed_service",
)
PUBLIC_SHARE = 0.3
PLANT_HOSTS = 52  # the generated plant's stations (plant_stream)
EPHEMERAL = 32768  # client ports from here up are shifted per repetition with --hosts
RATE = 2000.0  # packets per second of capture time in the mix

Frame = tuple[float, int, bytes]


# -- the mix ---------------------------------------------------------------------------------------
def _public_frames() -> list[bytes]:
    from otwatch.sensor.capture.decode import LINKTYPE_ETHERNET
    from otwatch.sensor.capture.pcapfile import CaptureReader, PcapError

    frames: list[bytes] = []
    for path in sorted(CAPTURES.rglob("*.pcap*")):
        try:
            frames += [p.data for p in CaptureReader(path) if p.linktype == LINKTYPE_ETHERNET]
        except PcapError:
            continue
    return frames


def _rewrite(frame: bytes, rep: int, copies: int | None = None) -> bytes:
    """Shift the MACs and the second octet of IPv4 addresses so each repetition is new hosts; with
    ``copies``, repetition ``rep`` reuses the addresses of copy ``rep % copies`` and shifts the
    TCP/UDP ports in the ephemeral range that are not a dissector's (the clients' ports), so it is
    new connections between the same hosts to the same services."""
    if rep == 0 or len(frame) < 34:
        return frame
    pool = rep if copies is None else rep % copies
    out = bytearray(frame)
    out[5] ^= pool & 0xFF
    out[11] ^= pool & 0xFF
    if out[12:14] == b"\x08\x00" and out[14] >> 4 == 4:
        out[27] = (out[27] + pool) & 0xFF
        out[31] = (out[31] + pool) & 0xFF
        ports = 14 + (out[14] & 0x0F) * 4
        if (
            copies is not None
            and out[23] in (6, 17)
            and not (out[20] & 0x1F or out[21])
            and len(out) >= ports + 4
        ):
            for at in (ports, ports + 2):
                port = out[at] << 8 | out[at + 1]
                if port >= EPHEMERAL and port not in _service_ports():
                    port = EPHEMERAL + (port - EPHEMERAL + rep * 7919) % (65536 - EPHEMERAL)
                    out[at : at + 2] = port.to_bytes(2, "big")
    return bytes(out)


@functools.cache
def _service_ports() -> frozenset[int]:
    from otwatch.protocols.registry import PROTOCOLS

    return frozenset(port for spec in PROTOCOLS for port in spec.ports)


def public_copies(hosts: int) -> int:
    """How many copies of the public captures' addresses make about ``hosts`` hosts in the mix."""
    addresses = {f[at : at + 4] for f in _public_frames() if f[12:14] == b"\x08\x00" for at in (26, 30)}
    return max(1, (hosts - PLANT_HOSTS) // max(1, len(addresses)))


def public_stream(count: int, start: float, step: float, copies: int | None = None) -> Iterator[Frame]:
    frames = _public_frames()
    if not frames:
        return
    for i in range(count):
        rep, index = divmod(i, len(frames))
        yield start + i * step, 1, _rewrite(frames[index], rep, copies)


def plant_stream(count: int, start: float, step: float) -> Iterator[Frame]:
    """A generated plant; ``step`` seconds between frames."""
    sys.path.insert(0, str(REPO))
    from tests.sensor.packets import (
        Net,
        arp_request,
        cip_request,
        cip_response,
        dnp3_request,
        dnp3_response,
        dns_query,
        iec104_command,
        modbus,
        s7_read_db,
        s7_read_db_ack,
    )

    from otwatch.protocols.modbus.messages import ReadRequest, ReadResponse

    net = Net(t=start, step=step)
    hmis = [net.host(f"hmi{i}", f"10.20.0.{10 + i}", 0x001422) for i in range(4)]
    plcs = [net.host(f"plc{i}", f"10.20.1.{10 + i}", 0x000E8C) for i in range(24)]
    io_devices = [net.host(f"io{i}", f"10.20.2.{10 + i}", 0x00001D9C) for i in range(16)]
    es = net.host("es", "10.20.0.50", 0x001422)
    s7plc = net.host("s7", "10.20.1.100", 0x001B1B)
    scada = net.host("scada", "10.20.0.60", 0x001422)
    rtus = [net.host(f"rtu{i}", f"10.20.3.{10 + i}", 0x0030A7) for i in range(4)]
    dns = net.host("dns", "10.20.0.2", 0x001422)
    mb = [net.session(hmis[i % 4], plc, 502, 40000 + i).open() for i, plc in enumerate(plcs)]
    s7 = net.session(es, s7plc, 102, 41000).open()
    dnp = [net.session(scada, rtu, 20000, 42000 + i).open() for i, rtu in enumerate(rtus[:2])]
    iec = [net.session(scada, rtu, 2404, 43000 + i).open() for i, rtu in enumerate(rtus[2:])]
    cip = net.session(hmis[0], io_devices[0], 44818, 44000).open()
    emitted = 0
    cycle = 0
    while emitted < count:
        cycle += 1
        tid = cycle & 0xFFFF
        for session in mb:
            session.exchange(
                modbus(tid, 1, ReadRequest(3, 100, 20).encode()),
                modbus(tid, 1, ReadResponse(3, bytes(40)).encode()),
                ack=True,
            )
        for device in io_devices:  # class-1 I/O both ways
            io = b"\x02\x00\x02\x80\x08\x00" + (0x1000 + device.mac[-1]).to_bytes(4, "little")
            io += cycle.to_bytes(4, "little") + b"\xb1\x00\x0a\x00" + cycle.to_bytes(2, "little") + bytes(8)
            net.udp(device, hmis[1], 2222, 2222, io)
            net.udp(hmis[1], device, 2222, 2222, io)
        s7.exchange(s7_read_db(tid, 1 + cycle % 3), s7_read_db_ack(tid), ack=True)
        for i, session in enumerate(dnp):
            session.exchange(
                dnp3_request(1, cycle & 0xF, 1, 10 + i), dnp3_response(0, cycle & 0xF, 1, 10 + i)
            )
        for session in iec:
            session.send(iec104_command(100, 0, cycle & 0x7FFF), True, ack=True)
        cip.exchange(cip_request(0x0E, 0x04, 0x64, 0x03), cip_response(0x0E), ack=True)
        if cycle % 10 == 0:
            net.udp(es, dns, 50000 + cycle % 1000, 53, dns_query("historian.plant.local"))
            net.emit(arp_request(es.mac, es.ip, s7plc.ip))
        yield from net.frames
        emitted += len(net.frames)
        net.frames.clear()


def build_mix(path: Path, packets: int, hosts: int | None = None) -> dict[str, Any]:
    from otwatch.sensor.capture.pcapfile import pcap_header, pcap_record

    public = int(packets * PUBLIC_SHARE)
    generated = packets - public
    duration = packets / RATE
    start = 1_700_000_000.0
    copies = public_copies(hosts) if hosts is not None else None
    streams = [
        public_stream(public, start, duration / max(public, 1), copies),
        plant_stream(generated, start, duration / max(generated, 1)),
    ]
    written = 0
    size = 0
    with path.open("wb") as fh:
        fh.write(pcap_header(1))
        for ts, _lt, data in heapq.merge(*streams, key=lambda f: f[0]):
            if written >= packets:
                break
            fh.write(pcap_record(ts, data))
            written += 1
            size += len(data)
    return {"packets": written, "bytes": size, "public": public, "duration_s": duration, "copies": copies}


# -- contenders, each run in its own process -------------------------------------------------------
def worker_otwatch(path: str, shard: int, shards: int) -> dict[str, Any]:
    from otwatch.sensor.pipeline.sensor import Sensor

    sensor = Sensor(shard=(shard, shards) if shards > 1 else None)
    t0 = time.perf_counter()
    sensor.process_capture(path)
    sensor.finish()
    seconds = time.perf_counter() - t0
    out: dict[str, Any] = {
        "seconds": seconds,
        "packets": sensor.packets,
        "bytes": sensor.bytes,
        "assets": len(sensor.inventory.assets),
        "connections": len(sensor.inventory.connections),
        "alerts": len(sensor.alerts.alerts),
        "errors": sensor.errors,
        "flow_states": len(sensor._states),
        "flows": len(sensor.flows.flows),
        "timeline_events": len(sensor.timeline),
        "alert_pcap_mb": round(sensor.forensics.bytes / 1e6, 1),
        "cpu_seconds": time.process_time(),
    }
    if shards > 1:  # the parent merges the shards' reports into one
        t0 = time.perf_counter()
        out["report"] = sensor.report()
        out["report_seconds"] = time.perf_counter() - t0
    return out


def worker_dpkt(path: str) -> dict[str, Any]:
    import dpkt

    t0 = time.perf_counter()
    n = 0
    with open(path, "rb") as fh:
        for _ts, buf in dpkt.pcap.Reader(fh):
            try:  # noqa: SIM105 - a bare try is the cheapest loop, and this is the speed baseline
                dpkt.ethernet.Ethernet(buf)
            except (dpkt.UnpackError, IndexError):
                pass
            n += 1
    return {"seconds": time.perf_counter() - t0, "packets": n}


def _spawn(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, stdout=subprocess.PIPE, cwd=REPO)


def _reap(proc: subprocess.Popen[bytes]) -> tuple[bytes, int]:
    """Output and the child's own peak RSS in kB."""
    assert proc.stdout is not None
    out = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{proc.args!r} failed with {proc.returncode}")
    return out, usage.ru_maxrss


def run_python(kind: str, path: Path, shards: int = 1) -> dict[str, Any]:
    """Run ``shards`` workers at once; sharded otwatch runs are merged into one report.

    ``seconds`` is the processing time, comparable with the single-process row: the slowest shard's
    read-and-process time plus its report and the merge (interpreter start-up and imports are left out
    of every row); ``wall`` includes them."""
    t0 = time.perf_counter()
    procs = [_spawn([sys.executable, "-m", "bench.sensor", "--worker", kind, str(path), str(i), str(shards)])
             for i in range(shards)]  # fmt: skip
    results = [(json.loads(out), rss) for out, rss in (_reap(p) for p in procs)]
    first = results[0][0]
    merged: dict[str, Any] = {
        "seconds": max(r["seconds"] + r.get("report_seconds", 0.0) for r, _ in results),
        "peak_rss_mb": max(rss for _, rss in results) / 1024,
    }
    for key in ("packets", "alerts", "assets", "connections", "errors", "bytes"):
        if key in first:
            merged[key] = sum(r[key] for r, _ in results)
    merged["flow_states"] = max(r.get("flow_states", 0) for r, _ in results)
    if shards > 1 and "report" in first:
        from otwatch.sensor.pipeline.shard import merge_reports

        t1 = time.perf_counter()
        report = merge_reports([r["report"] for r, _ in results])
        merged["seconds"] += time.perf_counter() - t1
        summary = report["summary"]
        for key in ("assets", "connections", "alerts"):
            merged[key] = summary[key]
    merged["wall"] = time.perf_counter() - t0
    return merged


def run_tshark(path: Path) -> dict[str, Any] | None:
    tshark = shutil.which("tshark")
    if tshark is None:
        return None
    cmd = [tshark, "-n", "-r", str(path), "-T", "fields"]
    for name in TSHARK_FIELDS:
        cmd += ["-e", name]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    lines = sum(1 for _ in proc.stdout)
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"seconds": time.perf_counter() - t0, "packets": lines, "peak_rss_mb": usage.ru_maxrss / 1024}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--packets", type=int, default=200_000, help="packets in the mix (default 200k)")
    parser.add_argument("--workers", type=int, default=1, help="otwatch processes, flows sharded (default 1)")
    parser.add_argument("--no-tshark", action="store_true", help="skip the tshark run")
    parser.add_argument("--keep", type=Path, help="keep the generated mix at this path")
    parser.add_argument(
        "--hosts", type=int, help="about this many hosts whatever the length (default: they grow with it)"
    )
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        kind, path, shard, shards = args.worker
        result = worker_otwatch(path, int(shard), int(shards)) if kind == "otwatch" else worker_dpkt(path)
        sys.stdout.write(json.dumps(result))
        return

    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "mix.pcap"
        t0 = time.perf_counter()
        mix = build_mix(path, args.packets, args.hosts)
        pool = f", {mix['copies']} copies of their addresses" if mix["copies"] is not None else ""
        print(
            f"mix: {mix['packets']:,} packets, {mix['bytes'] / 1e6:.1f} MB "
            f"({mix['public']:,} from public captures with rewritten addresses{pool}, the rest generated), "
            f"built in {time.perf_counter() - t0:.1f} s"
        )
        rows: dict[str, dict[str, Any]] = {}
        rows["otwatch"] = run_python("otwatch", path)
        if args.workers > 1:
            rows[f"otwatch x{args.workers}"] = run_python("otwatch", path, args.workers)
        rows["dpkt loop"] = run_python("dpkt", path)
        if not args.no_tshark:
            tshark = run_tshark(path)
            if tshark is not None:
                rows["tshark -T fields"] = tshark
    n = mix["packets"]
    print(f"\n{'contender':<20}{'packets/s':>12}{'Mbps':>10}{'seconds':>10}{'peak MB':>10}")
    for name, r in rows.items():
        pps = n / r["seconds"]
        mbps = mix["bytes"] * 8 / r["seconds"] / 1e6
        print(f"{name:<20}{pps:>12,.0f}{mbps:>10,.1f}{r['seconds']:>10.2f}{r['peak_rss_mb']:>10.0f}")
    for name, r in rows.items():
        if name.startswith("otwatch"):
            print(
                f"\n{name} (all engines): {r['assets']} assets, {r['connections']} connections, "
                f"{r['alerts']} alerts, {r['errors']} internal errors, {r['flow_states']} flow states "
                f"at the end (largest shard); {r['wall']:.2f} s wall with interpreter start-up"
            )
    ours = rows["otwatch"]
    base = n / ours["seconds"]
    for name, r in rows.items():
        if name != "otwatch":
            print(f"  otwatch / {name}: {base / (n / r['seconds']):.2f}x packets/s")
    target = 100_000
    best = max(n / r["seconds"] for k, r in rows.items() if k.startswith("otwatch"))
    print(f"  target {target:,} packets/s: {'met' if best >= target else 'NOT met'} (best {best:,.0f})")


if __name__ == "__main__":
    main()
