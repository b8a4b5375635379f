"""The agent's scan pipeline, in the seed's order: Discovery, Open ports check, Initial Enrichment,
OT Queries, IT Queries.

It walks ``protocols.registry.PROTOCOLS`` generically: any SPEC with a ``query`` that is on the
policy's read-only allowlist is asked, OT protocols (``ot=True``) in phase 4 and IT protocols in phase
5 (only those the operator gave credentials for). Protocol packages land without touching this file.

Every phase runs at most ``max_hosts_in_flight`` hosts at once and holds each host exclusively, so a
device never sees two connections or two requests from this agent at the same time.

Per device, PEERS.md asks for one TCP connection reused for its queries. A TCP query marked with
:func:`~otwatch.protocols.base.shares_connection` (Modbus, S7, EtherNet/IP, DNP3) has no separate port
check: in its query phase the scan connects to the protocol's port (that connect is the port check)
and hands the open connection to the query in ``QueryTarget.connection``. Other TCP queries keep the
port check of phase 2 and connect again. Every query gets the host's rate limiter as
``QueryTarget.pace`` and awaits it before each request. A UDP query with a broadcast sweep (BACnet
Who-Is, :func:`~otwatch.protocols.base.with_sweep`) is broadcast once per on-link subnet and then asks
only the hosts that answered; off-link hosts are asked one by one.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from otwatch.agent import discovery, fingerprint, ports
from otwatch.agent.result import Asset, ScanPhase, ScanProgress, ScanResult, ScanStatus
from otwatch.agent.safety import (
    AbortToken,
    HostGaveUp,
    ScanAborted,
    ScanContext,
    ScanPolicy,
    Scope,
    ScopeError,
    activate,
)
from otwatch.inventory.identity import Identity
from otwatch.protocols.base import (
    ProtocolSpec,
    QueryTarget,
    Streams,
    SweepTarget,
    query_shares_connection,
    query_sweep,
)

__all__ = ["Scanner", "scan"]

ProgressFn = Callable[[ScanProgress], None]

#: How long a cancelled pipeline may take to unwind before the scan reports the abort anyway.
ABORT_GRACE_S = 0.8


@dataclass(slots=True)
class _Host:
    ip: str
    discovered_by: str
    mac: str | None = None
    open_ports: list[int] = field(default_factory=list)
    banners: dict[str, str] = field(default_factory=dict)
    answers: list[Identity] = field(default_factory=list)  # protocol identities, best first
    hints: dict[str, dict[str, Any]] = field(default_factory=dict)  # protocol -> sweep answer


@dataclass(slots=True)
class _State:
    hosts: dict[str, _Host] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    scanned: int = 0


class Scanner:
    """One scan engine configured for one agent. ``run`` may be called repeatedly (scheduled scans).

    ``port_map`` overrides the port of a protocol or banner service by name (``{"modbus": 5020}``);
    ``credentials`` are per protocol (``{"snmp": {"community": "plant"}}``) and passed to the query
    as ``QueryTarget.extra``. ``protocols`` defaults to the registry, read at ``run`` time.
    """

    def __init__(
        self,
        policy: ScanPolicy,
        *,
        ports: Sequence[int] = ports.DEFAULT_PORTS,
        port_map: Mapping[str, int] | None = None,
        credentials: Mapping[str, Mapping[str, Any]] | None = None,
        protocols: Sequence[ProtocolSpec] | None = None,
        on_progress: ProgressFn | None = None,
        use_icmp: bool | None = None,
        use_arp: bool | None = None,
    ) -> None:
        self.policy = policy
        self.ports = tuple(ports)
        self.port_map = dict(port_map or {})
        self.credentials = {k: dict(v) for k, v in (credentials or {}).items()}
        self._protocols = tuple(protocols) if protocols is not None else None
        self.on_progress = on_progress
        self.use_icmp = use_icmp
        self.use_arp = use_arp
        self.token = AbortToken()

    # --- configuration helpers ------------------------------------------------------------------

    @property
    def protocols(self) -> tuple[ProtocolSpec, ...]:
        if self._protocols is not None:
            return self._protocols
        from otwatch.protocols import registry  # late: protocol packages land while agents run

        return registry.PROTOCOLS

    def port_of(self, spec: ProtocolSpec) -> int:
        return self.port_map.get(spec.name, spec.ports[0] if spec.ports else 0)

    def ports_to_check(self) -> list[int]:
        """The configured list plus every port the port map moved a TCP service to."""
        moved = [
            port
            for name, port in self.port_map.items()
            if name in fingerprint.BANNER_SERVICES
            or any(s.name == name and s.transport == "tcp" for s in self.protocols)
        ]
        return ports.tcp_ports([*self.ports, *moved])

    def abort(self) -> None:
        """Stop new sends within a second and close open sockets; the scan ends Failed. Thread-safe."""
        self.token.abort()

    def _emit(self, phase: ScanPhase, done: int, total: int, message: str = "") -> None:
        if self.on_progress is not None:
            self.on_progress(ScanProgress(phase, done, total, message))

    # --- the scan -------------------------------------------------------------------------------

    async def run(self, targets: Sequence[str]) -> ScanResult:
        started = time.monotonic()
        started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.token = token = AbortToken() if self.token.aborted else self.token
        result = ScanResult(ScanStatus.FAILED, started_at, 0.0, list(targets))
        try:
            if not self.policy.networks:
                raise ScopeError("no networks configured for this agent; refusing to scan")
            scope = Scope(self.policy.networks, self.policy.exclusions)
            hosts, result.refused = scope.expand(targets, self.policy.max_hosts)
        except (ScopeError, ValueError) as exc:
            result.error = str(exc)
            result.duration_s = round(time.monotonic() - started, 3)
            return result
        for refused in result.refused:
            result.notes.append(f"{refused} is outside the configured networks; not scanned")
        if not hosts:
            result.error = "no target lies inside the configured networks; nothing scanned"
            result.duration_s = round(time.monotonic() - started, 3)
            return result
        ctx = ScanContext(self.policy, scope, token)
        state = _State()
        aborted_event = token.bind()
        with activate(ctx):  # tasks created here inherit the send guard
            work = asyncio.create_task(self._pipeline(ctx, hosts, state))
        waiter = asyncio.create_task(aborted_event.wait())
        try:
            await asyncio.wait({work, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not work.done():  # aborted (or run() itself cancelled): stop now, close sockets
                work.cancel()
                token.close_all()
                await asyncio.wait({work}, timeout=ABORT_GRACE_S)
            waiter.cancel()
        error: BaseException | None = None
        if work.done() and not work.cancelled():
            error = work.exception()
        result.aborted = token.aborted or isinstance(error, ScanAborted)
        if result.aborted:
            result.error = "scan aborted"
        elif error is not None:
            result.error = f"{type(error).__name__}: {error}"
        else:
            result.status = ScanStatus.COMPLETED
        token.close_all()
        result.assets = [self._asset(h) for h in state.hosts.values()]
        result.hosts_scanned = len(hosts)
        result.notes = list(dict.fromkeys([*result.notes, *state.notes]))
        result.refused.extend(dict.fromkeys(ctx.refused_sends))
        result.duration_s = round(time.monotonic() - started, 3)
        return result

    def _active_specs(self, notes: list[str]) -> tuple[list[ProtocolSpec], list[ProtocolSpec]]:
        """The OT and IT protocols this scan queries; a note for each one it leaves out."""
        ot_specs, it_specs = [], []
        for spec in self.protocols:
            if spec.query is None:
                continue
            if spec.name in self.policy.disabled_queries:
                notes.append(f"{spec.name} query skipped: disabled by the scan policy")
            elif not self.policy.query_allowed(spec.name):
                notes.append(f"{spec.name} query skipped: not on the read-only allowlist")
            elif spec.ot:
                ot_specs.append(spec)
            elif spec.name in self.credentials:
                it_specs.append(spec)
            else:
                notes.append(f"{spec.name} query skipped: no credentials configured")
        return ot_specs, it_specs

    async def _pipeline(self, ctx: ScanContext, hosts: list[str], st: _State) -> None:
        # 1 Discovery
        self._emit(ScanPhase.DISCOVERY, 0, len(hosts))
        probe = list(dict.fromkeys([*discovery.DISCOVERY_PORTS, *self.ports_to_check()]))[:12]
        live = await discovery.discover(
            ctx,
            hosts,
            probe_ports=probe,
            use_icmp=self.use_icmp,
            use_arp=self.use_arp,
            notes=st.notes,
            progress=lambda d, t: self._emit(ScanPhase.DISCOVERY, d, t),
        )
        found_open: dict[str, int] = {}
        for lh in live:
            st.hosts[lh.ip] = _Host(lh.ip, lh.method, lh.mac)
            if lh.open_port is not None:
                found_open[lh.ip] = lh.open_port
        ips = list(st.hosts)
        ot_specs, it_specs = self._active_specs(st.notes)

        # 2 Open ports check: not for ports whose query connects anyway (that connect is the check)
        check = self.ports_to_check()
        shared = {
            self.port_of(spec)
            for spec in (*ot_specs, *it_specs)
            if spec.transport == "tcp" and query_shares_connection(spec.query)
        } & set(check)

        async def ports_of(h: _Host) -> None:
            known = found_open.get(h.ip)
            if known is not None and known not in shared:
                h.open_ports.append(known)  # the discovery probe found it open already
            rest = [p for p in check if p not in shared and p not in h.open_ports]
            h.open_ports.extend(await ports.check_ports(ctx, h.ip, rest))

        await self._each(ctx, st, ScanPhase.OPEN_PORTS, ips, ports_of)

        # 3 Initial Enrichment (the port hints are applied when the asset is built, once the query
        # phases have checked the shared ports too)
        async def enrich(h: _Host) -> None:
            for service, default in fingerprint.BANNER_SERVICES.items():
                port = self.port_map.get(service, default)
                if port in h.open_ports and (
                    banner := await fingerprint.grab_banner(ctx, h.ip, port, service)
                ):
                    h.banners[service] = banner

        await self._each(ctx, st, ScanPhase.ENRICHMENT, ips, enrich)

        # 4 OT Queries, 5 IT Queries
        for phase, specs in ((ScanPhase.OT_QUERIES, ot_specs), (ScanPhase.IT_QUERIES, it_specs)):
            skip = await self._sweep(ctx, st, specs, ips)

            async def ask(
                h: _Host, specs: list[ProtocolSpec] = specs, skip: set[tuple[str, str]] = skip
            ) -> None:
                for spec in specs:
                    if ctx.guard(h.ip).gave_up:
                        break
                    if (spec.name, h.ip) in skip:
                        continue
                    port = self.port_of(spec)
                    conn: Streams | None = None
                    if spec.transport == "tcp" and port in shared:
                        try:
                            conn = await ctx.open_tcp(h.ip, port)
                        except (TimeoutError, OSError):
                            continue  # refused or silent: the port is closed
                        if port not in h.open_ports:
                            h.open_ports.append(port)
                    elif spec.transport == "tcp" and port not in h.open_ports:
                        continue
                    try:
                        ident = await self._query(ctx, st, spec, h, port, conn)
                    finally:
                        if conn is not None:
                            await ctx.close_tcp(conn[1])
                    if ident is not None:
                        h.answers.append(ident)

            await self._each(ctx, st, phase, ips if specs else [], ask)

    async def _sweep(
        self, ctx: ScanContext, st: _State, specs: list[ProtocolSpec], ips: list[str]
    ) -> set[tuple[str, str]]:
        """Broadcast each sweeping protocol once per on-link subnet holding live hosts (the scope's
        broadcast budget allows one per subnet); returns (protocol, host) pairs not to query: the
        live hosts of a swept subnet that did not answer."""
        skip: set[tuple[str, str]] = set()
        sweeping = [(spec, sweep) for spec in specs if (sweep := query_sweep(spec.query)) is not None]
        if not sweeping or not ips:
            return skip
        groups = discovery.on_link_groups(ips)
        for spec, sweep in sweeping:
            for group in groups:
                net = group.route.network
                broadcast = str(net.broadcast_address)
                if net.prefixlen >= 31 or broadcast not in ctx.scope:
                    continue  # no broadcast there, or not ours to send: ask the hosts one by one
                target = SweepTarget(
                    broadcast,
                    self.port_of(spec),
                    frozenset(group.hosts),
                    self.policy.response_timeout,
                    pace=functools.partial(ctx.before_send, broadcast),
                )
                try:
                    answers = await asyncio.wait_for(sweep(target), self.policy.query_timeout)
                except (ScopeError, ScanAborted, asyncio.CancelledError):
                    raise
                except Exception as exc:  # the hosts are then asked one by one
                    st.notes.append(f"{spec.name} broadcast to {net} failed: {type(exc).__name__}: {exc}")
                    continue
                st.notes.append(
                    f"{spec.name}: {len(answers)} of {len(group.hosts)} live hosts in {net} answered the broadcast"
                )
                for ip in group.hosts:
                    if ip in answers:
                        st.hosts[ip].hints[spec.name] = dict(answers[ip])
                    else:
                        skip.add((spec.name, ip))
        return skip

    async def _each(
        self,
        ctx: ScanContext,
        st: _State,
        phase: ScanPhase,
        ips: list[str],
        fn: Callable[[_Host], Awaitable[None]],
    ) -> None:
        """Run ``fn`` per host: at most ``max_hosts_in_flight`` at once, each host held exclusively."""
        sem = asyncio.Semaphore(self.policy.max_hosts_in_flight)
        done = 0
        self._emit(phase, 0, len(ips))

        async def one(ip: str) -> None:
            nonlocal done
            async with sem:
                try:
                    async with ctx.exclusive(ip):
                        await fn(st.hosts[ip])
                    if ctx.guard(ip).gave_up:
                        raise HostGaveUp(ip)
                except HostGaveUp:
                    st.notes.append(f"{ip}: gave up after {self.policy.max_consecutive_timeouts} timeouts")
                except ScopeError as exc:
                    st.notes.append(str(exc))
                done += 1
                self._emit(phase, done, len(ips))

        async with asyncio.TaskGroup() as tg:
            for ip in ips:
                tg.create_task(one(ip))

    async def _query(
        self,
        ctx: ScanContext,
        st: _State,
        spec: ProtocolSpec,
        h: _Host,
        port: int,
        connection: Streams | None = None,
    ) -> Identity | None:
        """One protocol query under the host's lock, bounded in time; its failures are notes.

        The query gets the host's rate limiter as ``QueryTarget.pace`` and awaits it before every
        request it sends (PEERS.md: at most 10/s per host, whole scan 100/s), keeps one request in
        flight, and runs on ``connection`` when the scan opened one for it; the send guard re-checks
        the scope of every socket it opens.
        """
        assert spec.query is not None
        ip = h.ip
        if connection is None:
            await ctx.before_send(ip)  # abort and scope first; and a query that opens its own socket
        target = QueryTarget(
            ip,
            port,
            connect_timeout=self.policy.connect_timeout,
            response_timeout=self.policy.response_timeout,
            extra={
                "backplane": self.policy.backplane_modules,
                **self.credentials.get(spec.name, {}),
                **h.hints.get(spec.name, {}),
            },
            pace=functools.partial(ctx.before_send, ip),
            connection=connection,
        )
        try:
            ident = await asyncio.wait_for(spec.query(target), self.policy.query_timeout)
        except TimeoutError:
            ctx.record_timeout(ip)
            st.notes.append(f"{ip}: {spec.name} query timed out")
            return None
        except (ScopeError, ScanAborted, asyncio.CancelledError):
            raise
        except Exception as exc:  # a protocol bug must not end the scan of the other hosts
            st.notes.append(f"{ip}: {spec.name} query failed: {type(exc).__name__}: {exc}")
            return None
        if ident is not None:
            ctx.record_answer(ip)
        return ident

    def _as_standard_ports(self, open_ports: Iterable[int]) -> set[int]:
        """Open ports as the port hints know them: a protocol the port map moved (a Modbus server on
        5020) hints at its kind of device from its own port (502), or it would stay untyped."""
        moved = {port: spec.ports[0] for spec in self.protocols if spec.ports
                 for name, port in self.port_map.items() if name == spec.name}  # fmt: skip
        return {moved.get(p, p) for p in open_ports}

    def _asset(self, h: _Host) -> Asset:
        asset = Asset(ip=h.ip, mac=h.mac, discovered_by=h.discovered_by, open_ports=sorted(h.open_ports))
        asset.banners = dict(h.banners)
        guess = fingerprint.classify(h.banners, self._as_standard_ports(h.open_ports)).as_identity()
        asset.merge([*h.answers, guess])
        return asset


async def scan(
    targets: Sequence[str],
    policy: ScanPolicy | None = None,
    **options: Any,
) -> ScanResult:
    """One-shot helper: scan ``targets`` with the policy (its networks default to the targets)."""
    policy = policy or ScanPolicy()
    if not policy.networks:
        policy.networks = tuple(targets)
    return await Scanner(policy, **options).run(targets)
