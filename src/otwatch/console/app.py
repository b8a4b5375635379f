"""The console's FastAPI application: API routers, sessions, error bodies."""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel
from starlette.middleware.sessions import SessionMiddleware
from starlette.staticfiles import StaticFiles

from otwatch import __version__
from otwatch.console import errors, handover
from otwatch.console.alerts import pages as alerts_pages
from otwatch.console.alerts.routes import router as alerts_router
from otwatch.console.assets import pages as assets_pages
from otwatch.console.assets.routes import router as assets_router
from otwatch.console.audit import pages as audit_pages
from otwatch.console.audit.routes import router as audit_router
from otwatch.console.auth import pages as auth_pages
from otwatch.console.auth.routes import router as auth_router
from otwatch.console.background import BackgroundWorkers
from otwatch.console.bodylimit import bounded
from otwatch.console.context import ConsoleContext
from otwatch.console.credentials import pages as credentials_pages
from otwatch.console.credentials.routes import router as credentials_router
from otwatch.console.dashboard import pages as dashboard_pages
from otwatch.console.dashboard.routes import router as dashboard_router
from otwatch.console.deps import CtxDep, SessionDep, Viewer, csrf_guard, principal_from_request
from otwatch.console.errors import APIError
from otwatch.console.fleet import pages as fleet_pages
from otwatch.console.fleet.activation import router as activation_router
from otwatch.console.fleet.fastpath import CheckinFastPath, is_checkin
from otwatch.console.fleet.routes import router as fleet_router
from otwatch.console.fleet.wire_routes import router as wire_router
from otwatch.console.forwarding import pages as forwarding_pages
from otwatch.console.forwarding.routes import deliveries_router
from otwatch.console.forwarding.routes import router as forwarding_router
from otwatch.console.mail import pages as mail_pages
from otwatch.console.mail.routes import router as mail_router
from otwatch.console.netmap import pages as netmap_pages
from otwatch.console.netmap.routes import router as netmap_router
from otwatch.console.networks import pages as networks_pages
from otwatch.console.networks.routes import router as networks_router
from otwatch.console.notifications import pages as notifications_pages
from otwatch.console.notifications.routes import router as notifications_router
from otwatch.console.updates import pages as updates_pages
from otwatch.console.updates.routes import router as updates_router
from otwatch.console.vulnerabilities import pages as vulnerabilities_pages
from otwatch.console.vulnerabilities.routes import router as vulnerabilities_router
from otwatch.console.web import apidocs, signin
from otwatch.console.web import certificates as certificate_pages
from otwatch.console.web.render import PASSWORD_PAGE, STATIC_DIR, PasswordChangeRequired


class CertificateOut(BaseModel):
    subject: str
    issuer: str
    not_before: str
    not_after: str
    fingerprint_sha256: str
    ca_fingerprint_sha256: str


class Health(BaseModel):
    status: str
    version: str
    database: str


GIL_SWITCH_INTERVAL = 0.0005  # seconds; see the lifespan
GC_FULL_AFTER = 1000  # generation-1 collections between full ones (Python's default: 10); see the lifespan


#: what every page and API answer of the console carries (the sensor console sends the same)
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"strict-transport-security", b"max-age=31536000"),  # the console is only served over HTTPS
]
CSP = b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
#: the API reference: Swagger UI's files come from the console itself (web/apidocs.py), its page starts
#: them with an inline script and style; no other host, no framing
DOCS_CSP = (
    b"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"
)


def _secured(scope: MutableMapping[str, Any], send: Any) -> Any:
    """``send`` with the security headers added to the response; pages and API answers are never
    cached (they carry inventory, alerts, settings), static files may be."""
    path: str = scope.get("path", "")
    csp = DOCS_CSP if path in ("/docs", "/redoc") or path.startswith("/docs/") else CSP
    extra = [*SECURITY_HEADERS, (b"content-security-policy", csp)]
    if not path.startswith("/static/"):
        extra.append((b"cache-control", b"no-store"))

    async def wrapped(message: Any) -> None:
        if message["type"] == "http.response.start":
            have = {k.lower() for k, _ in message.get("headers", [])}
            headers = list(message.get("headers", []))
            headers.extend((k, v) for k, v in extra if k not in have)
            message = {**message, "headers": headers}
        await send(message)

    return wrapped


class ConsoleApp(FastAPI):
    """The FastAPI application, answering agents' and sensors' check-ins itself first
    (``fleet/fastpath.py``: nearly all requests at 10,000 nodes) and everything else as usual."""

    checkin: CheckinFastPath | None = None

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if self.checkin is not None and is_checkin(scope):
            await self.checkin(scope, receive, send)  # bounded by itself (fastpath.MAX_BODY)
        else:
            send = _secured(scope, send) if scope["type"] == "http" else send
            await bounded(super().__call__, scope, receive, send)  # bodies bounded per route


def create_app(ctx: ConsoleContext) -> FastAPI:
    @asynccontextmanager
    async def lifespan(this: FastAPI) -> AsyncIterator[None]:
        ctx.notifier.bind(asyncio.get_running_loop())
        this.state.presence.hold()  # Apply refuses while another console serves this data directory
        workers = BackgroundWorkers(ctx)
        if ctx.settings.background_workers:
            workers.start()
        # Everything alive now (modules, ORM mappers, pydantic schemas, templates: ~180,000 objects)
        # lives as long as the process: freeze it so that full garbage collections skip it. Without
        # this, every gen-2 collection walked it for 110-170 ms in the middle of some request
        # (bench/pages.py, docs/benchmarks.md "Pages"). Unfrozen on shutdown, so an app that stops
        # (tests) leaves nothing uncollectable behind.
        gc.freeze()
        # The event loop gives the GIL up around every socket and TLS operation and then waits for it
        # behind whichever check-in thread holds it, up to the switch interval (5 ms by default) each
        # time: with a few threads busy, that convoy, not work, set the check-in p99 at 12,000 nodes
        # (docs/benchmarks.md, "Fleet"). A shorter interval hands it back sooner.
        switch = sys.getswitchinterval()
        sys.setswitchinterval(min(switch, GIL_SWITCH_INTERVAL))
        # A full (generation 2) collection walks every live object with the GIL held: with 12,000
        # nodes connected it took ~800 ms every ~8 s, and those pauses were the check-ins' p99
        # (docs/benchmarks.md, "Fleet"). Long-polls keep their objects alive past the young
        # collections, so the default of one full collection per 10 middle ones ran that often. Young
        # and middle collections are unchanged; cycles that reach the old generation wait longer.
        thresholds = gc.get_threshold()
        gc.set_threshold(thresholds[0], thresholds[1], max(thresholds[2], GC_FULL_AFTER))
        yield
        gc.set_threshold(*thresholds)
        sys.setswitchinterval(switch)
        gc.unfreeze()
        await workers.stop()
        ctx.liveness.flush()  # the last second's idle check-ins
        ctx.close_loop_reader()
        ctx.notifier.close()  # the PostgreSQL wake-up listener, if any
        this.state.presence.release()

    app = ConsoleApp(
        title="OTWatch console",
        version=__version__,
        lifespan=lifespan,
        description="Inventory, alerts and the fleet of OT agents and sensors.",
        dependencies=[Depends(csrf_guard)],
        docs_url=None,  # served below, to signed-in users only
        redoc_url=None,
        openapi_url=None,
    )
    app.state.ctx = ctx
    app.state.presence = handover.Presence(ctx.settings)
    app.add_middleware(
        SessionMiddleware,
        secret_key=ctx.session_secret,
        session_cookie="otwatch_session",
        max_age=ctx.settings.session_max_age,
        same_site="strict",
        https_only=True,
    )
    errors.install(app)

    @app.exception_handler(PasswordChangeRequired)
    async def _password_first(_: Request, exc: PasswordChangeRequired) -> Response:
        return RedirectResponse(PASSWORD_PAGE, status_code=303)

    app.checkin = CheckinFastPath(ctx)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_document(request: Request, db: SessionDep) -> JSONResponse:
        """The OpenAPI document, for signed-in users and API keys (it maps every route)."""
        if principal_from_request(request, db) is None:
            raise APIError(401, "unauthorized", "sign in or send an API key")
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def api_reference(request: Request, db: SessionDep) -> Response:
        if principal_from_request(request, db) is None:
            return RedirectResponse("/login", status_code=303)
        return apidocs.swagger_ui(request)  # Swagger UI from the package, no CDN

    @app.get("/api/v1/health", response_model=Health, tags=["system"])
    def health(c: CtxDep) -> Health:
        return Health(status="ok", version=__version__, database=c.db.engine.dialect.name)

    @app.get("/api/v1/certificates", response_model=CertificateOut, tags=["system"])
    def certificates(_: Viewer, c: CtxDep) -> CertificateOut:
        cert = c.pki.server_cert
        from otwatch.wire.pki import fingerprint

        return CertificateOut(
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            not_before=cert.not_valid_before_utc.isoformat(),
            not_after=cert.not_valid_after_utc.isoformat(),
            fingerprint_sha256=c.pki.fingerprint,
            ca_fingerprint_sha256=fingerprint(c.pki.ca_cert),
        )

    for r in (
        wire_router,
        auth_router,
        networks_router,
        credentials_router,
        assets_router,
        alerts_router,
        updates_router,
        fleet_router,
        forwarding_router,
        deliveries_router,
        notifications_router,
        mail_router,
        dashboard_router,
        vulnerabilities_router,
        netmap_router,
        audit_router,
    ):
        app.include_router(r)
    # the server-rendered pages: each domain's own, in the console's menu order
    for pages in (
        signin,
        dashboard_pages,  # the page after signing in
        fleet_pages,  # Agents, Sites and Sensors
        assets_pages,
        netmap_pages,  # Network Map
        networks_pages,
        credentials_pages,
        auth_pages,
        certificate_pages,
        audit_pages,
        alerts_pages,
        vulnerabilities_pages,
        forwarding_pages,
        mail_pages,
        notifications_pages,
        updates_pages,
    ):
        app.include_router(pages.router)
    app.include_router(activation_router)
    app.mount(apidocs.STATIC_URL, StaticFiles(directory=apidocs.STATIC_DIR), name="apidocs")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
