"""The sensor managed by a console: capture -> pipeline, reports up, settings down.

Every ``report_every`` seconds the assets and alerts that changed since the last report, and a
statistics snapshot, are queued durably; the check-in loop carries them. The console's sensor
configuration (learning mode, analytics engines, Smart IT Learning, subnets, port aliases) is
applied to the running pipeline as it arrives, and so are the system settings pushed from another
sensor: DNS reverse lookup names assets (on its own worker thread), SNMP MIB monitoring serves the
sensor's health (:mod:`otwatch.sensor.node.snmpagent`), Active Directory signs users in to the sensor's
console (:mod:`otwatch.sensor.local.adauth`), and the mail server carries the sensor's own e-mail
(:mod:`otwatch.sensor.node.mailer`): SPAN monitoring-port failures raised and cleared, backup results.

A locally managed sensor (no console) takes the same setting groups from its own console's pages
(:meth:`SensorNode.attach_store`, saved in :class:`~otwatch.sensor.local.store.SensorStore`).
"""

from __future__ import annotations

import base64
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from otwatch import __version__
from otwatch.inventory.asset import Asset, ConnectionKey
from otwatch.inventory.identity import Identity
from otwatch.inventory.vocabulary import AlertStatus, Engine
from otwatch.sensor.capture.sources import Frame
from otwatch.sensor.config.settings import SensorSettings
from otwatch.sensor.config.syssettings import LocalSecrets, SystemSettings
from otwatch.sensor.local.adauth import AdConfig
from otwatch.sensor.local.store import SensorStore
from otwatch.sensor.node.dnslookup import MISS_TTL, ReverseLookup
from otwatch.sensor.node.mailer import Mailer, MailResult, MailSetup, mail_setup
from otwatch.sensor.node.portwatch import port_up, rx_packets
from otwatch.sensor.node.snmpagent import (
    SensorHealth,
    SnmpService,
    disk_path,
    host_usage,
    interface_state,
    kernel_drops,
)
from otwatch.sensor.node.threatintel import IntelStore
from otwatch.sensor.pipeline.sensor import Sensor
from otwatch.sensor.tracking.monitoring import PortNotice, PortSample, PortWatch
from otwatch.sensor.tracking.timeline import EventType
from otwatch.wire import package
from otwatch.wire.client import ConsoleLink, LinkError, NodeState
from otwatch.wire.messages import (
    AlertReport,
    AssetReport,
    CommandMessage,
    ConnectionReport,
    ProtocolReport,
    Report,
    finite_only,
)
from otwatch.wire.runtime import NodeRuntime

log = logging.getLogger("otwatch.sensor")
MAX_ASSETS_PER_REPORT = 5000
MAX_ALERTS_PER_REPORT = 500
MAX_CONNECTIONS_PER_REPORT = 5000
LINK_MAIL_AFTER = 300.0  # seconds without the console before the sensor e-mails about it
#: The six pushable setting groups with the value that means "not set" (a locally managed sensor's
#: Clear data puts these back).
LOCAL_GROUP_DEFAULTS: dict[str, Any] = {
    "mail_server": None,
    "snmp_mib_monitoring": None,
    "active_directory": None,
    "dns_reverse_lookup": None,
    "subnets": [],
    "port_aliases": {},
}


def apply_reading_settings(s: Sensor, config: dict[str, Any]) -> None:
    """Subnets and port aliases onto a pipeline (the caller holds its lock)."""
    if "subnets" in config:
        subnets = SensorSettings.parse_subnets(list(config["subnets"] or []))
        if subnets != s.settings.subnets:
            s.settings.subnets = subnets
            # which addresses are local is cached per address: decide again from now on
            # (assets already keyed keep their key; new addresses follow the new subnets)
            s.inventory._local_cache.clear()
    if "port_aliases" in config:
        s.settings.port_aliases = {int(k): str(v) for k, v in dict(config["port_aliases"] or {}).items()}


def asset_report(a: Asset) -> AssetReport:
    """One sensor asset as the console takes it, with the source of every identity value (the
    console merges by source rank; a class the sensor inferred from behaviour says so)."""
    d = a.as_dict()
    sources = dict(a.identity.sources)
    if a.typed_by_behaviour:
        sources["device_type"] = "behaviour"
    return AssetReport(
        ip=a.ip,
        mac=a.mac,
        name=d["name"],
        vendor=d["vendor"],
        vendor_id=d.get("vendor_id"),
        model=d["model"],
        product_code=d.get("product_code"),
        firmware=d["firmware"],
        serial=d["serial"],
        device_type=d["device_type"],
        type_reason=d["type_reason"],
        ghost=d["ghost"],
        state=d["state"],
        protocols=[ProtocolReport(name=p.protocol, role=p.role.value) for p in a.protocols.values()],
        modules=d.get("modules", []),
        sources=sources,
    )


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class SensorNode:
    def __init__(
        self,
        state: NodeState,
        sources: Iterable[Iterable[Frame]],
        *,
        report_every: float = 10.0,
        longpoll: float = 25.0,
        dns: ReverseLookup | None = None,
        snmp_host: str = "0.0.0.0",
    ) -> None:
        self.intel = IntelStore(state.dir)
        self.installed_intel = self.intel.load()
        self.sensor = self._new_sensor()
        self.system = SystemSettings()
        self.secrets = LocalSecrets(state.dir)
        self.snmp = SnmpService(self.snmp_health, self.secrets.get, host=snmp_host)
        self._drops = 0
        self._drops_by_port: dict[str, int] = {}
        self.ports = PortWatch()  # SPAN monitoring-port failures (tracking/monitoring.py)
        self.port_check_every = 5.0
        self._port_lock = threading.Lock()
        self.dns = dns or ReverseLookup()
        self.store: SensorStore | None = None  # the sensor console's settings (attach_store)
        self.mailer = Mailer(self._mail_setup)
        self.mailer.on_result = self._mail_result
        self.link_mail_after = LINK_MAIL_AFTER
        self._link_down_since: float | None = None
        self._link_mailed = False
        self._dns_due: dict[int, float] = {}  # asset id -> when to hand its address to the lookup again
        self.lock = threading.Lock()
        self.sources = list(sources)
        self.report_every = report_every
        self.run_id = uuid.uuid4().hex[:8]  # alert keys stay unique across sensor restarts
        self._sent_assets: dict[int, float] = {}
        self._sent_alerts: dict[int, tuple[int, float]] = {}
        self._sent_connections: dict[ConnectionKey, tuple[float, int]] = {}
        self.runtime = NodeRuntime(
            state,
            version=__version__,
            on_config=self.apply_config,
            longpoll=longpoll,
            handlers={"threat_intel": self._install_intel},
        )
        if self.runtime.config:
            self.apply_config(self.runtime.config)
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------ threat intelligence
    def _new_sensor(self) -> Sensor:
        """A pipeline that also hashes HTTP file bodies, using the installed threat intelligence."""
        intel = self.installed_intel.intel if self.installed_intel else None
        return Sensor(
            SensorSettings(),
            intel=intel,
        )

    def _install_intel(self, cmd: CommandMessage, rt: NodeRuntime) -> dict[str, Any]:
        """The console's threat_intel command: download, verify against the pinned release keys,
        install atomically, and hand the indicators to the running Malware engine."""
        current = self.installed_intel
        if current is not None and current.version == cmd.args.get("version"):
            return {"from": current.version, "to": current.version, "already_installed": True}
        with ConsoleLink(rt.state) as link:
            data = link.download_package(str(cmd.args.get("package_id", "")))
        installed, before = self.intel.install(data, package.load_trusted(rt.state.dir / "release-keys"))
        with self.lock:
            self.installed_intel = installed
            s = self.sensor
            s.malware_engine.intel = installed.intel
            s.set_engine(Engine.MALWARE, Engine.MALWARE in s.settings.engines)  # DNS watching follows
        log.info("threat intelligence %s installed (was %s)", installed.version, before)
        return {"from": before, "to": installed.version, **installed.summary()}

    def _intel_status(self, s: Sensor) -> dict[str, Any]:
        """The package in use, as the statistics report carries it to the console."""
        if self.installed_intel is not None:
            return self.installed_intel.summary()
        return {
            "name": s.malware_engine.intel.name,
            "version": None,
            "patterns": len(s.malware_engine.intel.patterns),
        }

    # ------------------------------------------------------------ settings from the console
    def apply_config(self, config: dict[str, Any], *, local: bool = False) -> None:
        """Settings from the console (or, ``local``, saved on a locally managed sensor's own console,
        which records its own timeline event)."""
        with self.lock:
            s = self.sensor
            if "engines" in config:
                wanted = {Engine(e) for e in config["engines"] if e in {x.value for x in Engine}}
                for e in Engine:
                    s.set_engine(e, e in wanted)
            if "smart_it_learning" in config:
                s.settings.smart_it_learning = bool(config["smart_it_learning"])
            apply_reading_settings(s, config)
            if "learning" in config and bool(config["learning"]) != s.learning:
                s.learning = bool(config["learning"])
            self.system.update(config)
            if "dns_reverse_lookup" in config and self.dns.configure(config["dns_reverse_lookup"]):
                self._dns_due.clear()  # other servers or subnets: every asset is considered again
            if config and not local:
                s.timeline.add(
                    time.time(), EventType.SETTINGS, "Settings received from the management console",
                    settings=sorted(config),
                )  # fmt: skip
        if "snmp_mib_monitoring" in config:  # outside the lock: the agent reads health under it
            self.snmp.apply(self.system.snmp_mib_monitoring)
        log.info("applied %s settings: %s", "local" if local else "console", sorted(config))

    # ------------------------------------------------------------ a locally managed sensor's own settings
    def locally_managed(self) -> bool:
        return not self.runtime.state.exists()

    def attach_store(self, store: SensorStore) -> None:
        """The sensor console's settings: the mail recipients, and for a locally managed sensor the
        setting groups saved on its pages (applied now; a managed sensor keeps its console's)."""
        self.store = store
        self.mailer.sensor_name = self._name
        self.apply_local_settings()

    def apply_local_settings(self, reset: bool = False) -> None:
        """Apply the setting groups saved on this sensor's console (``reset``: every group to "not
        set" first, after Clear data). Does nothing on a console-managed sensor."""
        if self.store is None or not self.locally_managed():
            return
        saved = self.store.system_groups()
        values = {k: saved.get(k, d) for k, d in LOCAL_GROUP_DEFAULTS.items()} if reset else saved
        values = {k: v for k, v in values.items() if k in LOCAL_GROUP_DEFAULTS}
        if values:
            self.apply_config(values, local=True)

    def _name(self) -> str:
        import socket

        net = self.store.network if self.store is not None else None
        return (net.hostname if net and net.hostname else "") or socket.gethostname()

    def _mail_setup(self) -> MailSetup | None:
        """The mail server in force (pushed, or saved here) with this sensor's secrets and recipients."""
        recipients = self.store.mail_recipients if self.store is not None else []
        return mail_setup(self.system.mail_server, recipients, self.secrets.get())

    def _mail_result(self, result: MailResult) -> None:
        title = f"E-mail {'sent' if result.sent else 'not sent'}: {result.subject}"
        with self.lock:
            self.sensor.timeline.add(
                result.at, EventType.MAIL, title, sent=result.sent, detail=result.detail,
                attempts=result.attempts,
            )  # fmt: skip

    def _ad_in_use(self) -> bool:
        """Whether the sensor console would ask Active Directory at sign-in (settings usable)."""
        try:
            return AdConfig.from_settings(self.system.active_directory, {}) is not None
        except ValueError:
            return False

    def check_link(self, now: float | None = None) -> None:
        """E-mail when the sensor has not reached its console for ``link_mail_after`` seconds (the
        seed's disconnected-sensor e-mail, from the sensor's side: its own mail server may still be
        reachable when the console is not), and once more when the connection is back."""
        now = time.time() if now is None else now
        error = self.runtime.last_error
        if error is None:
            if self._link_mailed:
                self.mailer.notify(
                    "Connection to the management console restored",
                    f"The sensor reaches its management console again at {self._console_address()}.",
                )
            self._link_down_since, self._link_mailed = None, False
            return
        if self._link_down_since is None:
            self._link_down_since = now
        if not self._link_mailed and now - self._link_down_since >= self.link_mail_after:
            minutes = max(1, round((now - self._link_down_since) / 60))
            self._link_mailed = self.mailer.notify(
                "Sensor not communicating with the management console",
                f"The sensor has not reached its management console at {self._console_address()} for "
                f"{minutes} min. Check network connectivity or certificate validation.\n\nLast error: {error}",
            )

    def _console_address(self) -> str:
        try:
            return self.runtime.state.load().address
        except (LinkError, OSError, ValueError, TypeError):
            return "(unknown)"

    def _mail_in_use(self) -> bool:
        setup = self._mail_setup()
        return setup is not None and bool(setup.recipients)

    def snmp_health(self) -> SensorHealth:
        """The figures SNMP MIB monitoring serves (see :mod:`otwatch.sensor.node.snmpagent`)."""
        with self.lock:
            s = self.sensor
            packets, errors, assets = s.packets, s.errors, len(s.inventory.assets)
            alerts_open = sum(1 for a in s.alerts.alerts.values() if a.status != AlertStatus.CLOSED)
        live = self._live()
        self._collect_drops()
        cpu, memory, disk = host_usage(disk_path(self.runtime.state.dir))
        return SensorHealth(
            packets=packets, dropped=self._drops, errors=errors, alerts_open=alerts_open,
            cpu_percent=cpu, memory_percent=memory, disk_percent=disk,
            interface=interface_state([str(src.name) for src in live]), assets=assets,
        )  # fmt: skip

    # ------------------------------------------------------------ SPAN monitoring ports
    def _live(self) -> list[Any]:
        """The live capture interfaces (a replayed capture has no port to watch)."""
        return [src for src in self.sources if hasattr(src, "sock") and hasattr(src, "name")]

    def _collect_drops(self) -> None:
        """Add the kernel's drop counters (reset by every read) to the totals SNMP and the port watch use."""
        with self._port_lock:
            for src in self._live():
                n = kernel_drops(src.sock)
                self._drops += n
                self._drops_by_port[str(src.name)] = self._drops_by_port.get(str(src.name), 0) + n

    def check_ports(self, now: float | None = None) -> list[PortNotice]:
        """Sample every live monitoring interface once; raise or clear SPAN monitoring-port failures as
        system notifications (System Messages of the sensor console, the event timeline, the log)."""
        now = time.time() if now is None else now
        self._collect_drops()
        notices: list[PortNotice] = []
        for src in self._live():
            name = str(src.name)
            sample = PortSample(port_up(name), rx_packets(name), self._drops_by_port.get(name, 0))
            with self._port_lock:
                notices += self.ports.check(name, sample, now)
        for n in notices:
            (log.warning if n.failure else log.info)("%s: %s", n.title, n.message)
            self.mailer.notify(n.title, n.message)  # queued: the watcher never waits on the mail server
            with self.lock:
                self.sensor.timeline.add(
                    now, EventType.MONITORING, n.title, interface=n.interface,
                    failure=n.failure.value if n.failure else None, message=n.message,
                )  # fmt: skip
        return notices

    def port_failures(self) -> list[PortNotice]:
        with self._port_lock:
            return self.ports.active()

    def port_status(self) -> list[dict[str, object]]:
        with self._port_lock:  # the watcher thread adds interfaces
            return self.ports.status()

    def _port_watcher(self) -> None:
        stop = threading.Event()
        while not self.runtime.stopping:
            try:
                self.check_ports()
            except Exception:
                log.exception("checking the monitoring ports failed")
            stop.wait(self.port_check_every)

    # ------------------------------------------------------------ capture
    def _capture(self, source: Iterable[Frame]) -> None:
        lock = self.lock
        batch: list[Frame] = []
        try:
            for frame in source:
                batch.append(frame)
                if len(batch) >= 256:
                    with lock:
                        process = self.sensor.process  # looked up per batch: Clear data swaps the sensor
                        for f in batch:
                            process(*f)
                    batch.clear()
                if self.runtime.stopping:
                    break
            with lock:
                process = self.sensor.process
                for f in batch:
                    process(*f)
        except Exception as exc:  # a broken source must not stop the sensor's link to the console
            log.exception("packet source stopped: %s", exc)
            self.sensor.warnings.append(f"packet source stopped: {exc}")

    def play(self, source: Iterable[Frame], on_done: Callable[[], None] | None = None) -> threading.Thread:
        """Feed one more source (the sensor console's Play PCAP) into the running pipeline."""

        def work() -> None:
            try:
                self._capture(source)
                with self.lock:
                    self.sensor.finish()  # the replay's last minute counts in the statistics now
            finally:
                if on_done is not None:
                    on_done()

        t = threading.Thread(target=work, name="play-pcap", daemon=True)
        t.start()
        return t

    def clear_data(self, console_too: bool = False) -> None:
        """The sensor console's Clear data: a fresh pipeline (baseline, inventory, alerts, statistics
        and settings forgotten; learning starts again). The console's own configuration is asked for
        again (config version 0), so a managed sensor gets its engines and learning mode back.

        ``console_too``: the console forgets this sensor's assets, conversations and alerts as well (a
        ``cleared`` report, queued before anything the fresh pipeline reports, so the console applies
        it first); otherwise the console keeps what this sensor reported before."""
        with self.lock:
            if console_too:
                self.runtime.send_report(Report(id=uuid.uuid4().hex, kind="cleared"))
            self.sensor = self._new_sensor()
            self.run_id = uuid.uuid4().hex[:8]  # new alert ids start at 1 again: keep keys unique
            self._sent_assets.clear()
            self._sent_alerts.clear()
            self._sent_connections.clear()
            self._dns_due.clear()
            self.runtime.config, self.runtime.config_version = {}, 0

    # ------------------------------------------------------------ reports
    def _reverse_lookup(self, s: Sensor) -> None:
        """Hand new addresses to the DNS worker and put the names it found on the assets (under the
        lock, on the reporter's thread: the capture never waits on DNS)."""
        names = self.dns.take_names()
        if not self.dns.config.active and not names:
            return
        now = time.monotonic()
        due = self._dns_due
        for a in s.inventory.assets:
            if a.ip is None:
                continue
            name = names.get(a.ip)
            if name is not None:
                before = a.identity.identity.name  # a name the device gives itself outranks DNS
                a.identity.add(Identity(protocol="dns", name=name))
                if a.identity.identity.name != before:
                    self._sent_assets.pop(a.id, None)  # report the asset again, with its name
            if due.get(a.id, 0.0) > now:
                continue
            if self.dns.wanted(a.ip):
                self.dns.submit(a.ip)  # cached answers cost nothing; the cache decides when to ask
                due[a.id] = now + MISS_TTL
            else:
                due[a.id] = float("inf")  # outside the lookup subnets until the settings change

    def build_reports(self) -> list[Report]:
        """What changed since the last report, as wire reports (assets, alerts, stats)."""
        with self.lock:
            s = self.sensor
            s.tick(s.last_ts)
            s.inventory.classify()
            self._reverse_lookup(s)
            by_id = {a.id: a for a in s.inventory.assets}
            assets = []
            for a in s.inventory.assets:
                if self._sent_assets.get(a.id) == a.last_seen:
                    continue
                assets.append(asset_report(a))
                self._sent_assets[a.id] = a.last_seen
            alerts = []
            for al in s.alerts.alerts.values():
                stamp = (al.count, al.last_seen)
                if self._sent_alerts.get(al.id) == stamp:
                    continue
                src, dst = by_id.get(al.source or -1), by_id.get(al.destination or -1)
                alerts.append(
                    AlertReport(
                        key=f"{self.run_id}-{al.id}",
                        code=al.type.code,
                        engine=al.engine.value,
                        severity=al.severity.value,
                        title=al.title,
                        description=al.description,
                        protocol=al.protocol,
                        technique=al.type.technique.id if al.type.technique else None,
                        technique_name=al.type.technique.name if al.type.technique else None,
                        source_ip=src.ip if src else None,
                        source_mac=src.mac if src else None,
                        destination_ip=dst.ip if dst else None,
                        destination_mac=dst.mac if dst else None,
                        first_seen=_dt(al.first_seen),
                        last_seen=_dt(al.last_seen),
                        count=al.count,
                        details=finite_only(
                            {k: v for k, v in al.details.items() if isinstance(v, str | int | float | bool)}
                        ),
                        pcap_b64=base64.b64encode(al.pcap).decode() if al.pcap else None,
                    )
                )
                self._sent_alerts[al.id] = stamp
            connections = []
            for c in s.inventory.connections.values():
                seen = (c.last_seen, c.packets)
                client, server = by_id.get(c.key.client), by_id.get(c.key.server)
                if self._sent_connections.get(c.key) == seen or client is None or server is None:
                    continue
                connections.append(
                    ConnectionReport(
                        client_ip=client.ip,
                        client_mac=client.mac,
                        server_ip=server.ip,
                        server_mac=server.mac,
                        protocol=c.key.protocol,
                        transport=c.key.transport,
                        port=c.key.port,
                        first_seen=_dt(c.first_seen),
                        last_seen=_dt(c.last_seen),
                        packets=c.packets,
                        bytes=c.bytes,
                        messages=c.messages,
                        functions=dict(c.functions),
                    )
                )
                self._sent_connections[c.key] = seen
            stats = s.stats.report(s.inventory, s.alerts)
            summary = {
                "packets": s.packets,
                "bytes": s.bytes,
                "assets": len(s.inventory.assets),
                "learning": s.learning,
            }
            system = {
                **self.system.status(
                    self.snmp.status(), ad_in_use=self._ad_in_use(), mail_in_use=self._mail_in_use()
                ),
                "dns_reverse_lookup": self.dns.status(),
                "subnets": [str(n) for n in s.settings.subnets],
                "port_aliases": {str(k): v for k, v in sorted(s.settings.port_aliases.items())},
                "threat_intel": self._intel_status(s),
                "monitoring_ports": self.port_status(),
            }
        reports = []
        for i in range(0, len(assets), MAX_ASSETS_PER_REPORT):
            reports.append(
                Report(id=uuid.uuid4().hex, kind="assets", assets=assets[i : i + MAX_ASSETS_PER_REPORT])
            )
        for i in range(0, len(connections), MAX_CONNECTIONS_PER_REPORT):  # after their assets
            chunk = connections[i : i + MAX_CONNECTIONS_PER_REPORT]
            reports.append(Report(id=uuid.uuid4().hex, kind="connections", connections=chunk))
        for i in range(0, len(alerts), MAX_ALERTS_PER_REPORT):
            reports.append(
                Report(id=uuid.uuid4().hex, kind="alerts", alerts=alerts[i : i + MAX_ALERTS_PER_REPORT])
            )
        reports.append(
            Report(
                id=uuid.uuid4().hex,
                kind="stats",
                stats=finite_only({**stats, "summary": summary, "system": system}),
            )
        )
        return reports

    def report_once(self) -> int:
        """Build the reports and queue them, unless Clear data came in between: the old pipeline's
        data must never follow its "cleared" report to the console. Returns how many were queued."""
        run = self.run_id
        reports = self.build_reports()
        with self.lock:
            if self.run_id != run:
                return 0
            for r in reports:
                self.runtime.send_report(r)
        return len(reports)

    def _reporter(self) -> None:
        stop = threading.Event()
        while not self.runtime.stopping:
            stop.wait(self.report_every)
            try:
                self.report_once()
            except Exception:
                log.exception("building a report failed")
            self.snmp.apply(self.system.snmp_mib_monitoring)  # new secrets, a port that became free
            self.check_link()

    # ------------------------------------------------------------ lifecycle
    def run(self, connected: bool = True) -> None:
        """Capture and report to the console; ``connected=False`` (a locally managed sensor, see
        sensor/node/activation.py) captures and analyses with no console to report to, until stopped."""
        for src in self.sources:
            t = threading.Thread(target=self._capture, args=(src,), name="capture", daemon=True)
            t.start()
            self._threads.append(t)
        if self._live():
            threading.Thread(target=self._port_watcher, name="port-watch", daemon=True).start()
        if not connected:
            while not self.runtime.stopping:
                time.sleep(0.5)
            return
        threading.Thread(target=self._reporter, name="reporter", daemon=True).start()
        self.runtime.run()

    def stop(self) -> None:
        for src in self.sources:
            if hasattr(src, "stopped"):
                src.stopped = True
        self.dns.stop()
        self.snmp.stop()
        self.mailer.stop()
        self.runtime.stop()
