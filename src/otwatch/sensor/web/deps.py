"""What every page of the sensor console shares: the console state, the signed-in user, CSRF,
flash messages and the dependency aliases (``ConsoleDep``, ``CurrentUser``, ``SupportUser``).

Page modules import this, never :mod:`otwatch.sensor.web.app`, which imports them: no cycle.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from otwatch import __version__
from otwatch.inventory.vocabulary import AlertStatus, Engine, Severity
from otwatch.sensor.config.syssettings import LocalSecrets
from otwatch.sensor.config.timefmt import format_time, zone_label
from otwatch.sensor.local.hostnet import HostNetwork
from otwatch.sensor.local.store import Role, SensorStore
from otwatch.sensor.local.uploads import PcapLibrary
from otwatch.sensor.node.mailer import Mailer
from otwatch.sensor.node.managed import LOCAL_GROUP_DEFAULTS, apply_reading_settings
from otwatch.sensor.pipeline.sensor import Sensor
from otwatch.sensor.tracking.timeline import EventType, LogBook, sensor_logs
from otwatch.sensor.web.host import SensorHost
from otwatch.ui import csrf
from otwatch.ui.signin import USER_FAILURES_ANYWHERE, MemoryThrottle

WEB_DIR = Path(__file__).resolve().parent
HIGH_SEVERITY = (Severity.CRITICAL, Severity.MAJOR)  # "open alerts with high severity levels"
TOP_ALERTS = 5


class NotSignedIn(Exception):
    """A page was asked for without a session: go to the sign-in page."""


class Forbidden(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)


@dataclass
class SensorConsole:
    """Everything the pages use, kept on ``app.state.console``."""

    host: SensorHost
    store: SensorStore
    library: PcapLibrary
    network: HostNetwork
    templates: Jinja2Templates
    mailer: Mailer  # the sensor's own e-mail (the node's, or the console's for a bare pipeline)
    secrets: LocalSecrets  # the sensor's own secrets (mail password, SNMP community, AD bind password)
    logs: LogBook = field(default_factory=sensor_logs)
    players: list[threading.Thread] = field(default_factory=list)
    throttle: MemoryThrottle = field(default_factory=MemoryThrottle)  # per (name, client address)
    throttle_anywhere: MemoryThrottle = field(
        default_factory=lambda: MemoryThrottle(limit=USER_FAILURES_ANYWHERE)
    )  # per name, from every address

    def render(
        self, request: Request, name: str, user: Role | None, status_code: int = 200, **context: Any
    ) -> Response:
        region = self.store.time_region
        flash = request.session.pop("flash", None) if "session" in request.scope else None
        base = {
            "user": user,
            "Role": Role,
            "region": region,
            "zone": zone_label(region),
            "sensor_name": self.sensor_name(),
            "link": self.host.link_status(),
            "pcaps_enabled": self.store.pcaps_enabled,
            "csrf": csrf_token(request),  # the sign-in form carries one too (login CSRF)
            "flash": flash,
            "version": __version__,
            "admin_roles": ADMIN_ROLES,
            "port_failures": self.host.port_failures(),
        }
        return self.templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)

    def sensor_name(self) -> str:
        import socket

        net = self.store.network
        return (net.hostname if net and net.hostname else "") or socket.gethostname()

    def fmt_time(self, value: Any) -> str:
        """A time as every page shows it (the saved Time & Region)."""
        return format_time(value, self.store.time_region)

    def event(self, type_: EventType, title: str, **details: Any) -> None:
        """Record a console action on the event timeline (wall-clock time)."""
        with self.host.lock:
            self.host.sensor.timeline.add(time.time(), type_, title, **details)

    def apply_detection(self) -> None:
        """A locally managed sensor runs with the detection settings saved on its own console
        (at start, after a save); a console-connected one keeps what its console sends."""
        self.host.apply_detection(self.store.detection)

    def apply_monitoring(self) -> None:
        """The saved monitoring-port limits onto the running node's port watch."""
        node = self.host.node
        if node is not None:
            node.ports.configure(*self.store.monitoring)

    def apply_system(self, reset: bool = False) -> None:
        """The setting groups saved on a locally managed sensor's pages (mail server, SNMP, AD, DNS,
        subnets, port aliases) onto what uses them; ``reset`` after Clear data."""
        node = self.host.node
        if node is not None:
            node.apply_local_settings(reset)
            return
        saved = self.store.system_groups()  # a bare pipeline: subnets and port aliases are all it has
        values = {k: saved.get(k, LOCAL_GROUP_DEFAULTS[k]) for k in ("subnets", "port_aliases")}
        if reset or any(k in saved for k in values):
            with self.host.lock:
                apply_reading_settings(self.host.sensor, values)

    def group_in_force(self, name: str) -> Any:
        """What a setting group is now (the console's on a managed sensor, the saved one otherwise)."""
        if name in ("subnets", "port_aliases"):
            with self.host.lock:
                st = self.host.sensor.settings
                if name == "subnets":
                    return [str(n) for n in st.subnets]
                return dict(sorted(st.port_aliases.items()))
        node = self.host.node
        if node is not None:
            return getattr(node.system, name)
        return self.store.system_group(name)

    def apply_retention(self) -> None:
        """The saved retention limits onto the running sensor and the log book, enforced now."""
        retention = self.store.retention
        self.logs.set_limit(retention.logs)
        with self.host.lock:
            self.host.sensor.set_retention(retention)

    def wait_for_players(self, timeout: float = 30.0) -> None:
        """Block until every Play started so far has finished (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        for t in list(self.players):
            t.join(max(0.0, deadline - time.monotonic()))
        self.players = [t for t in self.players if t.is_alive()]

    def stop_players(self, timeout: float = 10.0) -> None:
        """Stop every replay in progress (Clear All, Clear data) and wait for it to end."""
        self.library.stop.set()
        try:
            self.wait_for_players(timeout)
        finally:
            self.library.stop.clear()


def csrf_token(request: Request) -> str:
    return csrf.token(request)


def check_csrf(request: Request, token: str) -> None:
    if not csrf.matches(request, token):
        raise Forbidden("The form expired or did not come from this console; reload the page and try again.")


def flash(request: Request, message: str, kind: str = "ok") -> None:
    request.session["flash"] = {"message": message, "kind": kind}


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# ---------------------------------------------------------------- dependencies


def _console(request: Request) -> SensorConsole:
    console: SensorConsole = request.app.state.console
    return console


def _user(request: Request) -> Role:
    name = request.session.get("user")
    try:
        return Role(str(name))
    except ValueError:
        raise NotSignedIn() from None


#: Roles with the seed's Admin rights on the sensor console (the privileged support user has them too).
ADMIN_ROLES = frozenset({Role.ADMIN, Role.SUPPORT})


def _admin(user: Annotated[Role, Depends(_user)]) -> Role:
    if user not in ADMIN_ROLES:
        raise Forbidden("Only an Admin user may change this setting.")
    return user


def _support(user: Annotated[Role, Depends(_user)]) -> Role:
    if user is not Role.SUPPORT:
        raise Forbidden("Only the privileged support user may clear the sensor's data.")
    return user


ConsoleDep = Annotated[SensorConsole, Depends(_console)]
CurrentUser = Annotated[Role, Depends(_user)]
AdminUser = Annotated[Role, Depends(_admin)]
SupportUser = Annotated[Role, Depends(_support)]
CsrfField = Annotated[str, Form(max_length=200)]


def engines_of(sensor: Sensor) -> list[tuple[str, bool]]:
    return [(e.value, e in sensor.settings.engines) for e in Engine]


def open_high_alerts(sensor: Sensor, limit: int = TOP_ALERTS) -> list[dict[str, Any]]:
    """The Top open alerts widget: open alerts of high severity, most severe and most recent first."""
    out = []
    for a in sensor.alerts.open_alerts():
        if a.severity in HIGH_SEVERITY and a.status == AlertStatus.OPEN:
            out.append(a.as_dict())
        if len(out) >= limit:
            break
    return out
