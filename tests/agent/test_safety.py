"""Scope, rate limits, broadcast budget, abort token and the process send guard."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from otwatch.agent.safety import (
    AbortToken,
    ScanAborted,
    ScanContext,
    ScanPolicy,
    Scope,
    ScopeError,
    TokenBucket,
    activate,
)


class FakeClock:
    """Deterministic time: ``sleep`` advances the clock instead of waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


def test_scope_networks_minus_exclusions() -> None:
    scope = Scope(["10.1.2.0/24", "192.168.7.10"], exclusions=["10.1.2.128/25", "10.1.2.5"])
    assert "10.1.2.4" in scope
    assert "192.168.7.10" in scope
    for outside in ("10.1.2.5", "10.1.2.200", "10.1.3.1", "192.168.7.11", "plc.example", "::1"):
        assert outside not in scope
        with pytest.raises(ScopeError):
            scope.check(outside)


def test_expand_clips_to_scope_and_refuses_the_rest() -> None:
    scope = Scope(["127.0.0.8/29"], exclusions=["127.0.0.10"])
    hosts, refused = scope.expand(["127.0.0.0/28", "127.0.0.200", "10.0.0.0/8"], limit=1000)
    # .8 and .15 are the configured network's own network and broadcast addresses: never unicast
    assert hosts == ["127.0.0.9", "127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"]
    assert refused == ["127.0.0.200/32", "10.0.0.0/8"]


def test_expand_of_a_huge_target_iterates_only_the_scope() -> None:
    scope = Scope(["127.0.0.0/30"])
    start = time.perf_counter()
    hosts, refused = scope.expand(["0.0.0.0/0"], limit=100)
    assert hosts == ["127.0.0.1", "127.0.0.2"]
    assert refused == []
    assert time.perf_counter() - start < 1.0
    with pytest.raises(ScopeError, match="narrow"):
        Scope(["10.0.0.0/8"]).expand(["10.0.0.0/8"], limit=65536)


def test_token_bucket_never_exceeds_rate_in_any_window() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10.0, clock=clock, sleep=clock.sleep)
    grants: list[float] = []

    async def worker() -> None:
        for _ in range(10):
            await bucket.acquire()
            grants.append(clock.now)

    async def main() -> None:
        await asyncio.gather(*(worker() for _ in range(8)))

    asyncio.run(main())
    assert bucket.granted == len(grants) == 80
    for t in grants:  # rate * window + burst
        assert sum(1 for g in grants if t <= g < t + 1.0) <= 10 + 1
    assert 7.8 <= grants[-1] <= 8.0  # and it is not slower than the rate either


def test_before_send_charges_host_and_scan_limits_and_refuses_out_of_scope() -> None:
    clock = FakeClock()
    policy = ScanPolicy(networks=("10.9.0.0/24",), rate_pps=100, per_host_pps=10)
    ctx = ScanContext(policy, Scope(policy.networks), clock=clock, sleep=clock.sleep)

    async def main() -> None:
        for _ in range(20):
            await ctx.before_send("10.9.0.5")
        for _ in range(5):
            await ctx.before_send("10.9.0.6")
        with pytest.raises(ScopeError):
            await ctx.before_send("10.9.1.5")

    asyncio.run(main())
    assert ctx.guard("10.9.0.5").bucket.granted == 20
    assert ctx.bucket.granted == 25
    assert clock.now >= 1.9  # 20 sends to one host at 10/s need ~2 s, whatever the scan-wide rate
    assert "10.9.1.5" not in ctx.hosts  # refused before any token was spent on it


def test_one_broadcast_per_subnet_per_scan() -> None:
    policy = ScanPolicy(networks=("10.9.0.0/24", "10.9.1.0/24"))
    ctx = ScanContext(policy, Scope(policy.networks))
    ctx.check_send("10.9.0.255")
    ctx.check_send("10.9.1.255")
    with pytest.raises(ScopeError, match="broadcast budget"):
        ctx.check_send("10.9.0.255")
    with pytest.raises(ScopeError):
        ctx.check_send("255.255.255.255")  # limited broadcast is never inside a configured network
    assert len(ctx.refused_sends) == 2


def test_abort_token_stops_sends() -> None:
    token = AbortToken()
    ctx = ScanContext(ScanPolicy(networks=("10.9.0.0/24",)), Scope(["10.9.0.0/24"]), token)
    ctx.check_send("10.9.0.1")
    token.abort()
    with pytest.raises(ScanAborted):
        ctx.check_send("10.9.0.1")
    with pytest.raises(ScanAborted):
        asyncio.run(ctx.before_send("10.9.0.1"))


@pytest.mark.network
def test_send_guard_refuses_sockets_that_bypass_the_scanner() -> None:
    """A protocol query opening its own socket still cannot reach an address outside the scope."""
    outside = "127.0.0.200"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind((outside, 0))
        listener.settimeout(0.3)
        port = listener.getsockname()[1]
        policy = ScanPolicy(networks=("127.0.0.8/29",))
        ctx = ScanContext(policy, Scope(policy.networks))

        async def rogue_query() -> None:
            loop = asyncio.get_running_loop()
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.setblocking(False)
                await loop.sock_sendto(s, b"rogue", (outside, port))

        async def rogue_tcp() -> None:
            await asyncio.open_connection(outside, port)

        async def main() -> None:
            with activate(ctx):
                udp = asyncio.create_task(rogue_query())
                tcp = asyncio.create_task(rogue_tcp())
            for task in (udp, tcp):
                with pytest.raises(ScopeError):
                    await task

        asyncio.run(main())
        with pytest.raises(TimeoutError):
            listener.recvfrom(64)  # nothing arrived
        assert len(ctx.refused_sends) == 2
        # outside a scan the guard is inert
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"ok", (outside, port))
        assert listener.recvfrom(64)[0] == b"ok"
