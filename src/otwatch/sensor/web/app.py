"""The sensor's own console: one sensor maintained from its own web pages (served by the sensor).

Pages: Overview (the five widgets), Devices, Alerts, Event timeline, Data mining, System Settings
(SSL/TLS certificate, sensor network settings, Time & Region, Play PCAP, Network monitoring >
Detection engines and network modeling, Advanced Configurations) and Support > Clear data.

Sign-in is local: ``admin`` and the privileged ``support`` user (the only one allowed to Clear
data), argon2-hashed in the sensor's state directory; on a managed sensor with the pushed Active
Directory settings enabled, AD accounts in a group mapped to Admin sign in as ``admin``
(:mod:`otwatch.sensor.local.adauth`; local users still work when AD cannot be reached). Sessions are signed cookies (SameSite=Strict,
Secure when served over HTTPS) and every form carries the session's CSRF token.

Build it with :func:`create_sensor_app`; :mod:`otwatch.sensor.web.server` serves it over HTTPS.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from starlette.middleware.sessions import SessionMiddleware

from otwatch.sensor.config.syssettings import LocalSecrets
from otwatch.sensor.config.timefmt import format_time
from otwatch.sensor.local import adauth
from otwatch.sensor.local.hostnet import HostNetwork, RecordOnly
from otwatch.sensor.local.store import Role, SensorStore
from otwatch.sensor.local.uploads import PcapLibrary
from otwatch.sensor.node.mailer import Mailer, mail_setup
from otwatch.sensor.node.managed import SensorNode
from otwatch.sensor.pipeline.sensor import Sensor
from otwatch.sensor.tracking.timeline import EventType
from otwatch.sensor.web import (
    activation_page,
    backup_page,
    detection,
    integrations,
    mining,
    pages,
    system,
)
from otwatch.sensor.web.deps import (
    WEB_DIR,
    ConsoleDep,
    Forbidden,
    NotSignedIn,
    SensorConsole,
    redirect,
)
from otwatch.sensor.web.host import SensorHost
from otwatch.ui import csrf, signin
from otwatch.ui.charts import format_bytes, format_number

SESSION_MAX_AGE = 8 * 3600  # seconds a sign-in lasts

# ---------------------------------------------------------------- the application


def create_sensor_app(
    node_or_sensor: SensorNode | Sensor,
    settings_store: SensorStore,
    *,
    network: HostNetwork | None = None,
    pcap_max_bytes: int | None = None,
    https_only: bool = True,
) -> FastAPI:
    """The sensor console for a running sensor. ``https_only`` marks the session cookie Secure
    (the console is served over HTTPS; tests then use ``base_url="https://testserver"``)."""
    templates = Jinja2Templates(directory=WEB_DIR / "templates")
    library = PcapLibrary(settings_store.pcap_dir)
    if pcap_max_bytes is not None:
        library.max_bytes = pcap_max_bytes
    host = SensorHost(node_or_sensor)
    if host.node is not None:
        host.node.attach_store(settings_store)  # recipients; a locally managed sensor's own groups
        mailer, secrets = host.node.mailer, host.node.secrets
    else:  # a bare pipeline (tests, analysis): the console sends the e-mail itself
        secrets = LocalSecrets(settings_store.dir.parent)
        mailer = Mailer(
            lambda: mail_setup(
                settings_store.system_group("mail_server"),
                settings_store.mail_recipients,
                secrets.for_use({"mail_server": settings_store.system_group("mail_server")}),
            )
        )
    console = SensorConsole(
        host, settings_store, library, network or RecordOnly(), templates, mailer, secrets
    )
    mailer.sensor_name = console.sensor_name
    if host.node is None:
        mailer.on_result = lambda r: console.event(
            EventType.MAIL, f"E-mail {'sent' if r.sent else 'not sent'}: {r.subject}", sent=r.sent,
            detail=r.detail, attempts=r.attempts,
        )  # fmt: skip

    @pass_context
    def fmt_time(ctx: Context, value: Any) -> str:
        return format_time(value, ctx.get("region") or settings_store.time_region)

    templates.env.filters["fmt_time"] = fmt_time

    def setting_saved(key: str) -> None:
        console.event(EventType.SETTINGS, f"Settings changed: {key.replace('_', ' ')}", setting=key)
        if key == "advanced":
            console.apply_retention()
            console.apply_monitoring()

    def data_cleared() -> None:
        console.apply_retention()
        console.apply_detection()
        console.apply_system(reset=True)
        console.event(EventType.CLEAR, "Data cleared: learned data, alerts, devices and configuration")

    settings_store.on_changed = setting_saved
    settings_store.on_cleared = data_cleared
    console.apply_retention()
    console.apply_detection()
    console.apply_monitoring()
    console.apply_system()
    templates.env.filters["fmt_bytes"] = format_bytes
    templates.env.filters["fmt_number"] = format_number

    app = FastAPI(title="OTWatch sensor", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.console = console

    @app.middleware("http")
    async def _ended_sessions(request: Request, call_next: Callable[[Request], Any]) -> Response:
        """Inside the session middleware: a signed-in session without an id, or one signed out (a
        copy of its cookie), is no session."""
        session = request.scope.get("session")
        if session and session.get("user"):
            sid = session.get("sid")
            if not isinstance(sid, str) or settings_store.session_ended(sid):
                session.clear()
        response: Response = await call_next(request)
        return response

    app.add_middleware(
        SessionMiddleware,
        secret_key=settings_store.session_secret(),
        session_cookie="otwatch_sensor_session",
        max_age=SESSION_MAX_AGE,
        same_site="strict",
        https_only=https_only,
    )
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")

    @app.exception_handler(NotSignedIn)
    def _to_login(request: Request, exc: NotSignedIn) -> Response:
        return redirect("/login")

    @app.exception_handler(Forbidden)
    def _forbidden(request: Request, exc: Forbidden) -> Response:
        name = request.session.get("user")
        user = Role(name) if name in {r.value for r in Role} else None
        return console.render(request, "error.html", user, 403, title="Not allowed", message=str(exc))

    @app.middleware("http")
    async def _headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
        )
        return response

    app.include_router(_auth_router())
    app.include_router(pages.router)
    app.include_router(system.router)
    app.include_router(detection.router)
    app.include_router(mining.router)
    app.include_router(activation_page.router)
    app.include_router(backup_page.router)
    app.include_router(integrations.router)
    return app


def _auth_router() -> Any:
    from fastapi import APIRouter

    router = APIRouter()

    @router.get("/")
    def index(request: Request) -> RedirectResponse:
        return redirect("/overview" if request.session.get("user") else "/login")

    @router.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, c: ConsoleDep) -> Response:
        if request.session.get("user"):
            return redirect("/overview")
        return c.render(request, "login.html", None, error=None, username="")

    @router.post("/login", response_class=HTMLResponse)
    def login(
        request: Request,
        c: ConsoleDep,
        username: Annotated[str, Form(max_length=100)] = "",
        password: Annotated[str, Form(max_length=1000)] = "",
        csrf_field: Annotated[str, Form(alias=csrf.FIELD, max_length=200)] = "",
    ) -> Response:
        node = c.host.node

        def verify(name: str, secret: str) -> tuple[Role, str | None] | None:
            """Local users first, then Active Directory (AD refusals and outages raise)."""
            local = c.store.authenticate(name, secret)
            if local is not None:
                return local, None
            if node is None:
                return None
            held = node.secrets.for_use(node.system.groups())  # a bind password for its server only
            signed = adauth.sign_in(node.system.active_directory, held, name, secret)
            return None if signed is None else (signed[0], signed[1].username)

        try:  # login CSRF, lockout per normalised name, one answer (otwatch.ui.signin)
            address = request.client.host if request.client else ""
            throttle = signin.PerAddressThrottle(c.throttle, c.throttle_anywhere, address)
            outcome = signin.sign_in(request, username, password, throttle, verify, csrf_field=csrf_field)
        except adauth.AdRefused as exc:
            return c.render(request, "login.html", None, 403, error=str(exc), username=username)
        except adauth.AdUnavailable as exc:
            error = f"Active Directory cannot be reached, so only local users can sign in now ({exc})."
            return c.render(request, "login.html", None, 503, error=error, username=username)
        if outcome.principal is None:
            return c.render(
                request, "login.html", None, outcome.status, error=outcome.error, username=username
            )
        role, ad_user = outcome.principal
        request.session["user"] = role.value
        request.session["sid"] = secrets.token_urlsafe(24)  # ended at sign-out (store.end_session)
        if ad_user is not None:
            request.session["ad_user"] = ad_user  # who signed in, for the record
        return redirect("/overview")

    @router.post("/logout")
    def logout(request: Request) -> RedirectResponse:
        sid = request.session.get("sid")
        if isinstance(sid, str) and sid:
            request.app.state.console.store.end_session(sid, SESSION_MAX_AGE)
        request.session.clear()
        return redirect("/login")

    return router
