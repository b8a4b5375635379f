"""The scan pipeline against real loopback listeners: per-host rule, scope refusal, abort."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from otwatch.agent.result import ScanPhase, ScanProgress, ScanStatus
from otwatch.agent.safety import READ_ONLY_QUERIES, ScanPolicy
from otwatch.agent.scan import Scanner
from otwatch.inventory.identity import Identity
from otwatch.protocols.base import ProtocolSpec, QueryTarget, Record
from tests.peers import CountingServer, free_port

pytestmark = pytest.mark.network


def _spec(name: str, port: int, query: object) -> ProtocolSpec:
    """A protocol entry like the registry's; its query is a real socket exchange written here."""
    return ProtocolSpec(
        name=name,
        transport="tcp",
        ports=(port,),
        detect=lambda _b: False,
        dissector=lambda: _NoDissector(),
        identity_from=lambda _r: None,
        query=query,  # type: ignore[arg-type]
    )


class _NoDissector:
    def feed(self, data: bytes, from_client: bool) -> list[Record]:
        return []


async def _hello_query(target: QueryTarget) -> Identity | None:
    """Connect, send one request, hold the connection a moment (a slow PLC), close with FIN."""
    _reader, writer = await asyncio.wait_for(
        asyncio.open_connection(target.host, target.port), target.connect_timeout
    )
    try:
        writer.write(b"hello")
        await writer.drain()
        await asyncio.sleep(0.2)
        return Identity(protocol="probe", vendor="Acme", model="X1", firmware="1.2", state="Run")
    finally:
        writer.close()
        await writer.wait_closed()


def _policy(networks: tuple[str, ...], **kw: object) -> ScanPolicy:
    return ScanPolicy(
        networks=networks,
        read_only_queries=READ_ONLY_QUERIES | {"probe", "rogue", "slow"},
        response_timeout=1.0,
        **kw,  # type: ignore[arg-type]
    )


def test_one_connection_per_host_during_a_scan() -> None:
    hosts = ["127.0.0.51", "127.0.0.52"]
    ssh, http, probe = (free_port(hosts[0]) for _ in range(3))
    events: list[ScanProgress] = []

    async def main() -> None:
        servers = [
            await CountingServer(h, [ssh, http, probe], {ssh: b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"}).start()
            for h in hosts
        ]
        try:
            scanner = Scanner(
                _policy(("127.0.0.48/29",)),
                ports=[ssh, http, probe],
                port_map={"ssh": ssh, "probe": probe},
                protocols=[_spec("probe", probe, _hello_query)],
                use_icmp=False,
                on_progress=events.append,
            )
            result = await scanner.run(hosts)
            await asyncio.sleep(0.2)  # let the server see the last FINs
        finally:
            for s in servers:
                await s.stop()
        assert result.status is ScanStatus.COMPLETED, result.error
        for server in servers:
            assert server.max_concurrent == 1  # never two connections to one device at once
            assert server.total >= 5  # discovery, 3 port checks, banner, query
            assert server.closed_by_peer == server.total  # every connection closed with FIN
        by_ip = {a.ip: a for a in result.assets}
        assert sorted(by_ip) == hosts
        for asset in by_ip.values():
            assert asset.open_ports == sorted([ssh, http, probe])
            assert (asset.vendor, asset.model, asset.firmware, asset.state) == ("Acme", "X1", "1.2", "Run")
            assert asset.protocols == ["probe"]
            assert asset.banners["ssh"] == "SSH-2.0-OpenSSH_9.2p1 Debian-2"
            assert asset.os == "Linux"

    asyncio.run(main())
    phases = list(dict.fromkeys(e.phase for e in events))
    assert phases == list(ScanPhase)  # the seed's order
    last = {e.phase: e for e in events}
    assert all(last[p].done == last[p].total for p in ScanPhase)


def test_refuses_targets_and_sends_outside_its_networks() -> None:
    inside, outside = "127.0.0.49", "127.0.0.77"
    port = free_port(inside)

    async def rogue_query(target: QueryTarget) -> Identity | None:
        """A buggy protocol package that talks to a fixed address instead of its target."""
        _r, writer = await asyncio.open_connection(outside, port)
        writer.close()
        return None

    async def main() -> None:
        async with (
            CountingServer(inside, [port]) as in_server,
            CountingServer(outside, [port]) as out_server,
        ):
            scanner = Scanner(
                _policy(("127.0.0.48/29",)),
                ports=[port],
                protocols=[_spec("rogue", port, rogue_query)],
                use_icmp=False,
            )
            result = await scanner.run([outside, inside, "10.0.0.0/8"])
            assert out_server.total == 0  # not one connection left the configured networks
            assert in_server.total >= 1  # the in-scope host was port-checked
            assert "127.0.0.77/32" in result.refused and "10.0.0.0/8" in result.refused
            assert any("127.0.0.77 is outside" in r for r in result.refused)
            assert [a.ip for a in result.assets] == [inside]

            everything_outside = await scanner.run([outside])
            assert everything_outside.status is ScanStatus.FAILED
            assert everything_outside.error and "no target" in everything_outside.error
            assert out_server.total == 0

    asyncio.run(main())


def test_abort_stops_sends_within_a_second_and_closes_sockets() -> None:
    host = "127.0.0.57"
    port = free_port(host)

    async def main() -> None:
        query_open = asyncio.Event()

        async def slow_query(target: QueryTarget) -> Identity | None:
            """A device that accepts and never answers; the query waits as long as it may."""
            reader, writer = await asyncio.open_connection(target.host, target.port)
            query_open.set()
            try:
                await reader.read(1)
                return None
            finally:
                writer.close()

        async with CountingServer(host, [port]) as server:
            scanner = Scanner(
                _policy(("127.0.0.56/29",), query_timeout=60.0),
                ports=[port],
                protocols=[_spec("slow", port, slow_query)],
                use_icmp=False,
            )
            task = asyncio.create_task(scanner.run([host]))
            await asyncio.wait_for(query_open.wait(), 10)
            assert server.current == 1
            started = time.monotonic()
            scanner.abort()
            result = await task
            assert time.monotonic() - started < 1.0
            assert result.status is ScanStatus.FAILED and result.aborted
            deadline = time.monotonic() + 1.0
            while server.current and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert server.current == 0  # the held connection was closed
            total = server.total
            await asyncio.sleep(0.3)
            assert server.total == total  # and nothing new was sent

    asyncio.run(main())


def test_abort_from_another_thread_during_the_ports_check() -> None:
    """The console link aborts from its own thread while 16 hosts are being port-checked."""

    async def main() -> None:
        scanner = Scanner(
            _policy(("127.0.1.0/26",), per_host_pps=5.0),
            ports=list(range(40000, 40040)),
            protocols=[],
            use_icmp=False,
        )
        aborted_at: list[float] = []

        def abort() -> None:
            aborted_at.append(time.monotonic())
            scanner.abort()

        timer = threading.Timer(1.0, abort)
        timer.start()
        try:
            result = await scanner.run(["127.0.1.0/26"])
        finally:
            timer.cancel()
        assert aborted_at, "the scan finished before the abort; make it longer"
        assert time.monotonic() - aborted_at[0] < 1.0
        assert result.status is ScanStatus.FAILED and result.aborted
        assert scanner.token.open_count == 0

    asyncio.run(main())
