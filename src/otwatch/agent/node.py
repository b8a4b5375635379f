"""The agent managed by a console: check-in loop, Scan Now / Abort Scan, scheduled scans.

The console's configuration (active query networks, schedule, credentials, safety overrides) is
applied to the local scan engine; the networks are enforced again here by the engine's Scope, so
a console (or anyone speaking for it) can never make this agent send outside them.

Paused (from the console's Agents page) stops everything but the check-in: the console holds back
commands, and the agent runs no scheduled scan and aborts one in progress (:meth:`AgentNode.schedule_tick`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from dataclasses import fields
from typing import Any

from otwatch import __version__
from otwatch.agent import hostinfo
from otwatch.agent.engine import EngineStore
from otwatch.agent.result import ScanProgress, ScanStatus
from otwatch.agent.safety import ScanPolicy
from otwatch.agent.scan import Scanner
from otwatch.wire import package
from otwatch.wire.client import ConsoleLink, NodeState
from otwatch.wire.messages import AssetReport, CommandMessage, Report
from otwatch.wire.runtime import NodeRuntime

log = logging.getLogger("otwatch.agent")
UNIT_SECONDS = {"minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}
_POLICY_FIELDS = {f.name for f in fields(ScanPolicy)} - {"networks", "read_only_queries"}


def scan_networks(config: dict[str, Any]) -> list[str]:
    """What the agent scans: its active query networks and its copies of duplicated networks (the
    console excludes the other sites' copies in ``policy.exclusions``)."""
    nets = [str(n) for n in config.get("active_query_networks") or []]
    for copy in config.get("duplicated_networks") or []:
        cidr = str(copy.get("cidr", "")) if isinstance(copy, dict) else ""
        if cidr and cidr not in nets:
            nets.append(cidr)
    return nets


def policy_from(config: dict[str, Any]) -> ScanPolicy:
    overrides = {k: v for k, v in (config.get("policy") or {}).items() if k in _POLICY_FIELDS}
    for k in ("exclusions", "disabled_queries"):
        if k in overrides:
            overrides[k] = (frozenset if k == "disabled_queries" else tuple)(overrides[k])
    return ScanPolicy(networks=tuple(scan_networks(config)), **overrides)


def credentials_from(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Vault credentials as the protocol queries take them (SNMP only for now)."""
    out: dict[str, dict[str, Any]] = {}
    for c in config.get("credentials", []):
        if str(c.get("kind", "")).startswith("snmp") and "snmp" not in out:
            out["snmp"] = {k: v for k, v in c.items() if k not in ("id", "name")}
    return out


class AgentNode:
    def __init__(
        self, state: NodeState, *, port_map: dict[str, int] | None = None, longpoll: float = 25.0
    ) -> None:
        self.port_map = port_map or {}
        self.runtime = NodeRuntime(
            state,
            version=__version__,
            engine_version=EngineStore(state.dir).current().version,
            handlers={"scan": self._scan, "abort_scan": self._abort, "update": self._update},
            longpoll=longpoll,
        )
        self.engines = EngineStore(state.dir)
        self._scanner: Scanner | None = None
        self._scan_lock = threading.Lock()
        self._last_scheduled = time.monotonic()
        self._host_sent: tuple[list[dict[str, Any]], float] | None = None  # what, and when (monotonic)

    # ------------------------------------------------------------ commands
    def _scan(self, cmd: CommandMessage, rt: NodeRuntime) -> dict[str, Any]:
        if not self._scan_lock.acquire(blocking=False):
            raise RuntimeError("a scan is already running on this agent")
        try:
            return self._run_scan(rt, list(cmd.args.get("targets") or []))
        finally:
            self._scan_lock.release()

    def _run_scan(self, rt: NodeRuntime, targets: list[str] | None = None) -> dict[str, Any]:
        """Scan ``targets`` (default: the active query networks). The scope is always the configured
        networks, so targets outside them are refused here even when the console asks for them."""
        config = rt.config
        networks = scan_networks(config)
        if not networks:
            raise RuntimeError("no active query networks configured")

        def progress(p: ScanProgress) -> None:
            rt.report(
                "scanning", {"phase": str(p.phase), "done": p.done, "total": p.total, "message": p.message}
            )

        scanner = Scanner(
            policy_from(config),
            port_map=self.port_map,
            credentials=credentials_from(config),
            on_progress=progress,
        )
        self._scanner = scanner
        rt.report("scanning", {"phase": "Discovery", "done": 0, "total": 0})
        try:
            result = asyncio.run(scanner.run(targets or networks))
        finally:
            self._scanner = None
            rt.report(None)
        data = result.as_dict()
        own = hostinfo.own_macs()
        for asset in data["assets"]:  # this host, reached by the scan: its MAC, so it matches its report
            if not asset.get("mac") and asset.get("ip") in own:
                asset["mac"] = own[asset["ip"]]
        if result.status is not ScanStatus.COMPLETED:
            reason = result.error or ("aborted" if result.aborted else "scan failed")
            if result.refused:
                reason += f" (refused as outside the active query networks: {', '.join(result.refused)})"
            raise RuntimeError(reason)
        return {
            "started_at": result.started_at,
            "duration": round(result.duration_s, 3),
            "asset_count": len(result.assets),
            "assets": data["assets"],
            "refused": data["refused"],
            "notes": data["notes"],
        }

    def _abort(self, cmd: CommandMessage, rt: NodeRuntime) -> dict[str, Any]:
        scanner = self._scanner
        if scanner is not None:
            scanner.abort()
        return {"aborted": scanner is not None}

    def _update(self, cmd: CommandMessage, rt: NodeRuntime) -> dict[str, Any]:
        """Update OTD Version: download, verify against the pinned release keys, stage, switch."""
        if self._scan_lock.locked():
            raise RuntimeError("a scan is running; update again when it has finished")
        rt.report("updating", {"percent": 0, "version": cmd.args.get("version")})
        try:
            with ConsoleLink(rt.state) as link:
                data = link.download_package(str(cmd.args.get("package_id", "")))
            rt.report("updating", {"percent": 50, "version": cmd.args.get("version")})
            trusted = package.load_trusted(rt.state.dir / "release-keys")
            engine, before = self.engines.install(data, trusted)
        finally:
            rt.report(None)
        rt.engine_version = engine.version
        return {"from": before, "to": engine.version, "ports": len(engine.ports)}

    # ------------------------------------------------------------ schedule
    @property
    def paused(self) -> bool:
        """Paused from the console (its check-in answer says so): the agent does nothing but check in."""
        return self.runtime.status == "Paused"

    def _scheduler(self) -> None:
        """Run the configured scheduled scan ("Repeats Every") while the agent runs, and report the
        agent's own host."""
        while not self.runtime.stopping:
            now = time.monotonic()
            self.schedule_tick(now)
            try:
                self.host_tick(now)
            except Exception:  # an odd interface must not stop the schedule
                log.exception("reporting the agent's own host failed")
            threading.Event().wait(1.0)

    def host_tick(self, now: float, assets: list[dict[str, Any]] | None = None) -> bool:
        """Report the agent's own host (``hostinfo.host_assets``) as inventory assets when it changed,
        and every ``hostinfo.REPORT_EVERY_S`` otherwise; True when a report was queued. Not while
        Paused (the agent then does nothing but check in); the console takes nothing before approval
        and the runtime holds the report until then."""
        if self.paused:
            return False
        assets = hostinfo.host_assets() if assets is None else assets
        sent = self._host_sent
        if not assets or (sent is not None and sent[0] == assets and now - sent[1] < hostinfo.REPORT_EVERY_S):
            return False
        reports = [AssetReport.model_validate(a) for a in assets]
        self.runtime.send_report(Report(id=uuid.uuid4().hex, kind="assets", assets=reports))
        self._host_sent = (assets, now)
        return True

    def schedule_tick(self, now: float) -> bool:
        """One look at the schedule; True when a scheduled scan was started.

        No scheduled scan before the console has answered a check-in (the agent does not know yet
        whether it is paused), and none while Paused: a scan still running when the pause arrives is
        aborted, and the period starts again at Resume (no scan fires the moment the agent resumes)."""
        rt = self.runtime
        if rt.status == "unknown" or self.paused:
            self._last_scheduled = now
            scanner = self._scanner
            if self.paused and scanner is not None:
                log.info("paused from the console: aborting the scan in progress")
                scanner.abort()
            return False
        sched = rt.config.get("schedule") or {}
        if not sched.get("enabled"):
            return False
        every = int(sched.get("every", 1)) * UNIT_SECONDS.get(str(sched.get("unit", "minutes")), 60)
        if now - self._last_scheduled >= every and not self._scan_lock.locked():
            self._last_scheduled = now
            threading.Thread(target=self._scheduled_scan, daemon=True).start()
            return True
        return False

    def _scheduled_scan(self) -> None:
        """A scheduled scan reports like Scan Now, under an id of its own (console side: created on receipt)."""
        scan_id = f"sched-{uuid.uuid4().hex[:26]}"  # 32 characters, like console ids
        with self._scan_lock:
            try:
                result = self._run_scan(self.runtime)
                self.runtime.finish(scan_id, True, {**result, "scheduled": True})
            except Exception as exc:
                log.warning("scheduled scan failed: %s", exc)
                self.runtime.finish(scan_id, False, {"scheduled": True}, error=str(exc))

    def run(self) -> None:
        threading.Thread(target=self._scheduler, name="scheduler", daemon=True).start()
        self.runtime.run()

    def stop(self) -> None:
        if self._scanner is not None:
            self._scanner.abort()
        self.runtime.stop()
