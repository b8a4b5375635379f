"""The node side of the API: enrollment (TLS, pinned by the node) and check-ins (mTLS)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine, Mapping
from typing import Annotated, Any, NoReturn, TypeVar

from cryptography import x509
from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy import Connection, select
from sqlalchemy.exc import DataError, StatementError
from sqlalchemy.orm import Session

from otwatch.console.audit import service as audit
from otwatch.console.auth.service import LockedOut, check_lockout
from otwatch.console.context import ConsoleContext
from otwatch.console.db import utcnow
from otwatch.console.deps import CtxDep, SessionDep
from otwatch.console.errors import APIError
from otwatch.console.fleet import certificates, checkins, commands, enrolment, lifecycle, packages
from otwatch.console.fleet.liveness import NotWritten
from otwatch.console.fleet.models import Command, Node
from otwatch.console.fleet.notify import IdleState
from otwatch.console.fleet.status import DisconnectReason
from otwatch.console.updates import service as updates
from otwatch.console.updates.models import UpdatePackage
from otwatch.wire import pki
from otwatch.wire.messages import (
    CheckinRequest,
    CheckinResponse,
    EnrollRequest,
    EnrollResponse,
    GoodbyeRequest,
)

# What a check-in can raise when the data a node sent cannot be stored (e.g. malformed asset reports).
UNPROCESSABLE = (ValueError, TypeError, KeyError, AttributeError, DataError, StatementError)


def _mark_unprocessable(ctx: ConsoleContext, serial: str) -> None:
    """The console can't process data received from this node: it shows Disconnected with that reason
    (fleet/status.py) until a check-in is processed again (record_checkin clears the reason)."""
    with ctx.db.session() as db:
        try:
            node = certificates.node_for_certificate(db, serial)
        except APIError:
            return
        node.disconnect_reason = DisconnectReason.CANT_PROCESS


class _MarkUnprocessable(APIRoute):
    """A node's mTLS request refused as malformed (422) marks the node "can't process data"."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError:
                if request.scope.get("extensions", {}).get("tls", {}).get("client_cert_chain"):
                    serial = client_cert_serial(request)
                    await run_in_threadpool(_mark_unprocessable, request.app.state.ctx, serial)
                raise

        return route


_T = TypeVar("_T")
router = APIRouter(prefix="/api/v1/wire", tags=["wire"], route_class=_MarkUnprocessable)
ENROLL_FAILURES = 20  # refused enrolments per client address in 15 minutes before it is locked out


def client_cert_serial(request: Request) -> str:
    """The serial of the verified client certificate, or 401."""
    return scope_cert_serial(request.scope)


def scope_cert_serial(scope: Mapping[str, Any]) -> str:
    """``client_cert_serial`` from an ASGI scope."""
    tls = scope.get("extensions", {}).get("tls", {})
    if tls.get("otwatch_client_serial"):
        return str(tls["otwatch_client_serial"])
    chain = tls.get("client_cert_chain") or []
    if not chain:
        raise APIError(
            401, "client_certificate_required", "this endpoint needs the node's client certificate (mTLS)"
        )
    return pki.serial_hex(x509.load_pem_x509_certificate(chain[0].encode()))


CertSerial = Annotated[str, Depends(client_cert_serial)]


@router.post("/enroll", response_model=EnrollResponse)
def enroll(body: EnrollRequest, request: Request, ctx: CtxDep, db: SessionDep) -> EnrollResponse:
    client_ip = request.client.host if request.client else ""
    actor = f"anonymous ({client_ip})"
    try:
        check_lockout(db, actor, "node.enroll_refused", limit=ENROLL_FAILURES)
    except LockedOut as exc:
        raise APIError(
            429,
            "locked_out",
            f"too many refused enrolments from {client_ip}; {exc}",
            {"retry_after": exc.retry_after},
        ) from exc
    try:
        chain = request.scope.get("extensions", {}).get("tls", {})
        proof = scope_cert_serial(request.scope) if chain.get("client_cert_chain") else None
        resp = enrolment.enroll(db, ctx, body, client_ip, proof)
        db.commit()
        return resp
    except APIError as exc:
        db.rollback()  # nothing of a refused enrolment is kept ...
        audit.record(db, actor, "node.enroll_refused", body.install_id, reason=exc.code, ip=client_ip)
        db.commit()  # ... but the refusal itself is audited
        raise


def _checkin_tx(
    ctx: ConsoleContext, serial: str, body: CheckinRequest, first: bool, try_idle: bool = True
) -> tuple[CheckinResponse, str]:
    """One check-in's database work. An idle check-in of a node without open commands reads one
    row and writes nothing (cached certificate lookup, notifier's idle marker, liveness slack).
    ``try_idle=False``: the event loop already tried the idle read (`_idle_on_loop`)."""
    cached_id = certificates.cached_node_id(serial)
    # taken before any read, so a command committed after it always changes the token (notify.py)
    token = ctx.notifier.idle_token(cached_id) if cached_id else None
    if try_idle and first and cached_id and _may_be_idle(body):
        idle, _ = _idle_answer(ctx, cached_id, serial, body)
        if idle is not None:
            return idle[0], cached_id
    if first and cached_id and body.reports:
        ctx.liveness.settle(cached_id)  # batched statistics of this node go first: these are newer
    with ctx.db.session() as db:
        node = certificates.node_for_certificate(db, serial)
        if first and node.kind == "sensor" and body.version and updates.newer_than_console(body.version):
            _refuse_too_new(db, node, body.version)
        if first:
            try:
                checkins.record_checkin(db, ctx, node, body)
            except UNPROCESSABLE as exc:
                kind = node.kind
                db.rollback()
                _mark_unprocessable(ctx, serial)
                raise APIError(
                    422, "unprocessable", f"the console can't process data received from this {kind}: {exc}"
                ) from exc
            packages.auto_update(db, ctx, node)
            if (
                node.kind == "sensor"
                and node.approved_at is not None
                and any(r.kind == "stats" for r in body.reports)
            ):
                packages.offer_threat_intel(db, ctx, node)  # it just said which package it uses
        # a woken long-poll (first=False) always looks: it was woken for a reason
        skip = (
            first and token is not None and node.id == cached_id and not ctx.notifier.maybe_pending(node.id)
        )
        resp = checkins.deliverables(db, ctx, node, body.config_version, query_commands=not skip)
        db.commit()
    if token is not None and not skip and node.id == cached_id and not resp.commands and not body.results:
        ctx.notifier.mark_idle(node.id, token)  # a skipped query proves nothing: the mark ages out
    return resp, node.id


async def _on_checkin_pool(ctx: ConsoleContext, fn: Callable[..., _T], *args: Any) -> _T:
    """``fn(*args)`` on the console's check-in threads (``ConsoleContext.checkin_pool``)."""
    return await asyncio.get_running_loop().run_in_executor(ctx.checkin_pool, fn, *args)


def _may_be_idle(body: CheckinRequest) -> bool:
    """Worth trying `checkins.idle_checkin`: no results, and no reports but statistics."""
    return not body.results and all(r.kind == "stats" for r in body.reports)


def _idle_on_loop(
    ctx: ConsoleContext, cached_id: str | None, serial: str, body: CheckinRequest
) -> tuple[tuple[CheckinResponse, str] | None, bool]:
    """The idle check-in (`checkins.idle_checkin`) on the event loop itself, SQLite only: one indexed
    read of ~0.1 ms, cheaper than the hop to the thread pool and back, which under load also waited
    for the GIL behind 40 threads (the busy budget filled and nodes got 503: docs/benchmarks.md,
    "Fleet"). Anything else (or PostgreSQL, or the reader in use) goes the usual way. The second
    value says whether the idle read was made, so that the usual way does not make it again."""
    if cached_id is None or not _may_be_idle(body):
        return None, False
    with ctx.loop_reader() as conn:
        if conn is None:
            return None, False
        idle, tried = _idle_answer(ctx, cached_id, serial, body, conn)
    if idle is None:
        return None, tried
    resp, flush_due = idle
    if flush_due:
        _flush_soon(ctx)
    return (resp, cached_id), True


def _idle_answer(
    ctx: ConsoleContext, node_id: str, serial: str, body: CheckinRequest, conn: Connection | None = None
) -> tuple[tuple[CheckinResponse, bool] | None, bool]:
    """`checkins.idle_checkin` as the notifier's marker allows: not after a wake-up, with a read of
    open commands when the marker is unsure (then marked again). The second value says whether the
    idle read was made."""
    token = ctx.notifier.idle_token(node_id)  # before the read (notify.py)
    state = ctx.notifier.idle_state(node_id)
    if state is IdleState.WOKEN:
        return None, False
    unsure = state is IdleState.UNSURE
    idle = checkins.idle_checkin(ctx, node_id, serial, body, conn=conn, check_commands=unsure)
    if idle is not None and unsure:  # read: none open
        ctx.notifier.mark_idle(node_id, token)
    return idle, True


def _flush_soon(ctx: ConsoleContext) -> None:
    """The batched liveness UPDATE, off the event loop (it may wait for SQLite's writer)."""
    asyncio.get_running_loop().run_in_executor(ctx.checkin_pool, ctx.liveness.flush)


def _note_alive(ctx: ConsoleContext, node_id: str) -> None:
    """Liveness of a node the console turns away as busy (503), on the event loop: it presented its
    certificate (verified by TLS; its serial maps to the node in this process's cache, which every
    revocation clears) and will come back after Retry-After. Without this a fleet refused for a
    minute of overload (a console restart's herd) would show Disconnected and raise disconnection
    notifications while every node was trying to talk."""
    if ctx.liveness.note(node_id, utcnow(), flush=False):
        _flush_soon(ctx)


def _refuse_too_new(db: Session, node: Node, version: str) -> NoReturn:
    """A sensor newer than its console cannot connect: the console keeps the version it reported
    and shows it Disconnected with the reason until it checks in with a version the console takes."""
    if node.disconnect_reason != DisconnectReason.VERSION_TOO_NEW:
        audit.record(db, f"node:{node.id}", "node.version_refused", node.id, version=version)
    node.version = version
    node.disconnect_reason = DisconnectReason.VERSION_TOO_NEW
    db.commit()
    raise APIError(409, "version_too_new", updates.too_new_message(version))


@router.post("/checkin", response_model=CheckinResponse)
async def checkin(body: CheckinRequest, ctx: CtxDep, serial: CertSerial) -> CheckinResponse:
    """Report status and results; long-poll up to ``wait`` seconds for configuration or commands.

    Over budget (``checkin_concurrency`` check-ins already in their database phase) the console
    answers 503 with a jittered Retry-After instead of queueing without bound: nodes keep their
    results on disk and come back, and operators' pages stay responsive.

    A running console serves this route through ``fleet/fastpath.py`` (same function, without the
    framework's per-request layers); this declaration is what the OpenAPI document and apps without
    that middleware use.
    """
    return await serve_checkin(ctx, serial, body)


def _stopping() -> APIError:
    retry = random.randint(5, 15)
    return APIError(
        503,
        "shutting_down",
        f"the console is restarting; check in again in {retry} s",
        {"retry_after": retry},
    )


async def serve_checkin(ctx: ConsoleContext, serial: str, body: CheckinRequest) -> CheckinResponse:
    """The check-in itself, for the route above and the fast path."""
    if ctx.notifier.draining:
        raise _stopping()
    cached_id = certificates.cached_node_id(serial)
    if cached_id:  # the read below sees every earlier wake-up: don't let one end the next long-poll
        ctx.notifier.forget_missed(cached_id)
    inline, tried_idle = _idle_on_loop(ctx, cached_id, serial, body)
    if inline is not None:
        resp, node_id = inline
    else:
        if not ctx.checkin_budget.acquire(blocking=False):
            if cached_id is not None:  # refused for load, not silent: it stays Connected meanwhile
                _note_alive(ctx, cached_id)
            retry = random.randint(2, 10)
            raise APIError(
                503, "busy", f"the console is busy; check in again in {retry} s", {"retry_after": retry}
            )
        try:
            resp, node_id = await _on_checkin_pool(ctx, _checkin_tx, ctx, serial, body, True, not tried_idle)
        finally:
            ctx.checkin_budget.release()
    wait = min(body.wait, ctx.settings.longpoll_seconds)
    if wait > 0 and resp.config is None and not resp.commands:
        if await ctx.notifier.wait(node_id, wait):
            if ctx.notifier.draining:  # woken because the console is stopping; what it sent is stored
                raise _stopping()
            resp, _ = await _on_checkin_pool(ctx, _checkin_tx, ctx, serial, body, False)
        else:
            resp = resp.model_copy(update={"server_time": utcnow()})
    if body.reports and ctx.liveness.holds(node_id):  # answered: the node drops them (liveness.py)
        try:
            await _on_checkin_pool(ctx, ctx.liveness.settle, node_id)
        except NotWritten as exc:
            raise APIError(
                503, "busy", f"the console could not store the report yet: {exc}", {"retry_after": 5}
            ) from exc
    return resp


@router.post("/goodbye", status_code=204)
def goodbye(body: GoodbyeRequest, db: SessionDep, serial: CertSerial) -> None:
    node = certificates.node_for_certificate(db, serial)
    lifecycle.goodbye(db, node, body.reason)
    db.commit()


@router.get("/packages/{package_id}", response_class=Response)
def download_package(package_id: str, ctx: CtxDep, db: SessionDep, serial: CertSerial) -> Response:
    """The package of an update (or threat-intelligence package) this node was told to install, and
    only that."""
    node = certificates.node_for_certificate(db, serial)
    cmds = db.scalars(
        select(Command).where(
            Command.node_id == node.id,
            Command.type.in_(("update", "threat_intel")),
            Command.state.in_(commands.OPEN_STATES),
        )
    )
    row = db.get(UpdatePackage, package_id)
    if row is None or not any(c.args.get("package_id") == package_id for c in cmds):
        raise APIError(404, "not_found", "no update of this package is pending for this node")
    return Response(updates.package_bytes(ctx, row), media_type="application/x-tar")
