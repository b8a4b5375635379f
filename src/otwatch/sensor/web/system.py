"""System Settings and Support: SSL/TLS certificate, network, Time & Region, Play PCAP, Advanced
Configurations and Clear data. Every form is validated in full before anything is changed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile as StarletteUpload

from otwatch.sensor.config.netsettings import NetworkErrors, NetworkSettings, validate
from otwatch.sensor.config.timefmt import (
    DateFormat,
    TimeRegion,
    format_time,
    time_zones,
    validate_date_format,
    validate_timezone,
)
from otwatch.sensor.local.certs import CertificateError, fetch_crl, validate_import
from otwatch.sensor.local.hostnet import RecordOnly
from otwatch.sensor.local.store import ADVANCED, CertificateMode, parse_advanced
from otwatch.sensor.local.trust import ConsoleTrust, ConsoleValidation
from otwatch.sensor.local.uploads import UploadError
from otwatch.sensor.tracking.timeline import EventType
from otwatch.sensor.web.deps import (
    ConsoleDep,
    CsrfField,
    CurrentUser,
    Forbidden,
    SupportUser,
    check_csrf,
    flash,
    redirect,
)
from otwatch.ui import csrf as csrf_tokens

router = APIRouter(prefix="")
MAX_CERT_FILE = 256 * 1024  # a key, a certificate, a chain or a CRL: far below this


@router.get("/system")
def system_index(user: CurrentUser) -> Response:
    return redirect("/system/certificate")


# ---------------------------------------------------------------- SSL/TLS certificate


def _certificate_page(
    request: Request, c: ConsoleDep, user: CurrentUser, status_code: int = 200, **extra: Any
) -> Response:
    trust = c.store.console_trust
    return c.render(
        request,
        "certificate.html",
        user,
        status_code,
        active="certificate",
        mode=c.store.certificate_mode,
        Mode=CertificateMode,
        certificate=c.store.certificate_info(),
        certificate_name=c.store.certificate_name,
        validation=trust.validation,
        pin=trust.pin or "",
        Validation=ConsoleValidation,
        error=extra.pop("error", None),
        form=extra.pop("form", {}),
        **extra,
    )


@router.get("/system/certificate", response_class=HTMLResponse)
def certificate_page(request: Request, c: ConsoleDep, user: CurrentUser) -> Response:
    return _certificate_page(request, c, user)


async def _file_bytes(upload: Any, what: str) -> bytes | None:
    if not isinstance(upload, StarletteUpload) or not upload.filename:
        return None
    data = await upload.read(MAX_CERT_FILE + 1)
    if len(data) > MAX_CERT_FILE:
        raise CertificateError(f"{what}: the file is larger than {MAX_CERT_FILE // 1024} KB")
    return data


@router.get("/system/certificate/download")
def certificate_download(c: ConsoleDep, user: CurrentUser) -> Response:
    """The certificate in use (with its chain), PEM: to trust a self-signed one in a browser or to
    have it signed by the organisation's certificate tools, as the seed describes."""
    cert_file, _ = c.store.tls_files()
    name = (
        "sensor-self-signed.crt" if c.store.certificate_mode is CertificateMode.SELF_SIGNED else "sensor.crt"
    )
    return Response(
        cert_file.read_bytes(),
        media_type="application/x-pem-file",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post("/system/certificate", response_class=HTMLResponse)
async def certificate_save(request: Request, c: ConsoleDep, user: CurrentUser) -> Response:
    form = await request.form(max_files=5, max_fields=20)
    check_csrf(request, str(form.get("csrf", "")))
    fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    mode = fields.get("mode", "")
    try:
        trust = ConsoleTrust.parse(fields.get("validation", ""), fields.get("pin", ""))
    except ValueError as exc:
        return _certificate_page(request, c, user, 400, error=str(exc), form=fields)
    imported = None
    name = fields.get("name", "").strip()
    try:
        if mode == "imported":
            key = await _file_bytes(form.get("key_file"), "Private key")
            cert = await _file_bytes(form.get("cert_file"), "Certificate")
            chain = await _file_bytes(form.get("chain_file"), "Certificate chain")
            crl = await _file_bytes(form.get("crl_file"), "CRL")
            if fields.get("use_crl") and crl is None and cert is not None:
                # No file: fetch the certificate's own CRL once, through the proxy if one is set.
                crl = await asyncio.to_thread(fetch_crl, cert, c.store.proxy_url)
            if key is None and cert is None and c.store.certificate_mode is CertificateMode.IMPORTED:
                pass  # keep the certificate already imported; only the validation setting changes
            else:
                if not name:
                    raise CertificateError("Certificate Name: enter a name for this certificate")
                imported = validate_import(
                    key or b"",
                    cert or b"",
                    chain_pem=chain,
                    passphrase=fields.get("passphrase") or None,
                    crl=crl if fields.get("use_crl") else None,
                )
        elif mode == "self-signed":
            if not fields.get("confirm"):
                raise CertificateError(
                    "Confirm that you understand the self-signed certificate warning to use it"
                )
        else:
            raise CertificateError("Choose a certificate option")
    except CertificateError as exc:
        return _certificate_page(request, c, user, 400, error=str(exc), form=fields)
    # every check passed: now change things
    if mode == "self-signed":
        c.store.use_self_signed()
    elif imported is not None:
        c.store.import_certificate(name, imported)
    c.store.set_console_trust(trust)
    flash(request, "Certificate settings saved.")
    return redirect("/system/certificate")


# ---------------------------------------------------------------- network settings


def _network_form(net: NetworkSettings | None) -> dict[str, str]:
    if net is None:
        return {"interface": "eth0"}
    p = net.proxy
    return {
        "ip": net.ip,
        "mask": net.mask,
        "gateway": net.gateway,
        "dns": ", ".join(net.dns),
        "hostname": net.hostname,
        "interface": net.interface,
        "proxy_enabled": "1" if p else "",
        "proxy_host": p.host if p else "",
        "proxy_port": str(p.port) if p else "",
        "proxy_username": p.username if p else "",
        "proxy_password": "",  # never sent back to the browser
    }


@router.get("/system/network", response_class=HTMLResponse)
def network_page(request: Request, c: ConsoleDep, user: CurrentUser) -> Response:
    net = c.store.network
    return c.render(
        request,
        "network.html",
        user,
        active="network",
        form=_network_form(net),
        errors={},
        has_password=bool(net and net.proxy and net.proxy.password),
        target=c.network.name,
        applies=not isinstance(c.network, RecordOnly),
    )


@router.post("/system/network", response_class=HTMLResponse)
async def network_save(request: Request, c: ConsoleDep, user: CurrentUser) -> Response:
    form = await request.form(max_files=0, max_fields=20)
    check_csrf(request, str(form.get("csrf", "")))
    fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    old = c.store.network
    if (
        not fields.get("proxy_password")
        and old is not None
        and old.proxy is not None
        and old.proxy.password
        and fields.get("proxy_username", "").strip() == old.proxy.username
    ):
        fields["proxy_password"] = old.proxy.password  # left blank: keep the saved password
    has_password = bool(old and old.proxy and old.proxy.password)
    try:
        settings = validate(fields)
    except NetworkErrors as exc:
        shown = {**fields, "proxy_password": ""}
        return c.render(
            request,
            "network.html",
            user,
            400,
            active="network",
            form=shown,
            errors=exc.fields,
            has_password=has_password,
            target=c.network.name,
            applies=not isinstance(c.network, RecordOnly),
        )
    try:
        written = c.network.apply(settings)
    except OSError as exc:
        return c.render(
            request,
            "network.html",
            user,
            500,
            active="network",
            form={**fields, "proxy_password": ""},
            errors={"host": f"The settings could not be applied to the host ({c.network.name}): {exc}"},
            has_password=has_password,
            target=c.network.name,
            applies=not isinstance(c.network, RecordOnly),
        )
    c.store.set_network(settings)
    if written:
        files = ", ".join(str(p) for p in written)
        flash(
            request,
            f"Network settings saved. Written: {files}. {c.network.takes_effect(settings)}",
        )
    else:
        flash(
            request,
            "Network settings saved in the sensor's settings only: this host's network is managed elsewhere, "
            "so its address, DNS and hostname did not change. The proxy is used by the sensor's own "
            "connections (the console link, CRL fetches) from now on.",
        )
    return redirect("/system/network")


# ---------------------------------------------------------------- time & region


@router.get("/system/time", response_class=HTMLResponse)
def time_page(request: Request, c: ConsoleDep, user: CurrentUser) -> Response:
    region = c.store.time_region
    return c.render(
        request,
        "time.html",
        user,
        active="time",
        zones=time_zones(),
        formats=list(DateFormat),
        current=region,
        now=format_time(datetime.now(UTC), region),
        error=None,
    )


@router.post("/system/time", response_class=HTMLResponse)
def time_save(
    request: Request,
    c: ConsoleDep,
    user: CurrentUser,
    csrf: CsrfField,
    timezone: Annotated[str, Form(max_length=100)] = "",
    date_format: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    check_csrf(request, csrf)
    try:
        region = TimeRegion(validate_timezone(timezone), validate_date_format(date_format))
    except ValueError as exc:
        current = c.store.time_region
        return c.render(
            request,
            "time.html",
            user,
            400,
            active="time",
            zones=time_zones(),
            formats=list(DateFormat),
            current=current,
            now=format_time(datetime.now(UTC), current),
            error=str(exc),
        )
    c.store.set_time_region(region)
    flash(request, f"Time & Region saved: {region.timezone}, {region.date_format.value}.")
    return redirect("/system/time")


# ---------------------------------------------------------------- play PCAP


def _pcaps_on(c: ConsoleDep) -> None:
    if not c.store.pcaps_enabled:
        raise Forbidden(
            "Play PCAP is off. Enable it in System Settings > Advanced Configurations (pcaps: enabled=1)."
        )


@router.get("/system/pcap", response_class=HTMLResponse)
def pcap_page(request: Request, c: ConsoleDep, user: CurrentUser) -> Response:
    return c.render(
        request,
        "pcap.html",
        user,
        active="pcap",
        enabled=c.store.pcaps_enabled,
        files=c.library.files() if c.store.pcaps_enabled else [],
        max_bytes=c.library.max_bytes,
    )


@router.post("/system/pcap/upload", response_class=HTMLResponse)
async def pcap_upload(request: Request, c: ConsoleDep, user: CurrentUser) -> Response:
    """Multipart upload streamed to disk. The CSRF token is the form's first field (checked before
    any file byte is written) or the X-CSRF-Token header; never the URL, which logs keep."""
    header = request.headers.get("x-csrf-token", "")
    if header:
        check_csrf(request, header)
    _pcaps_on(c)

    def gate(fields: dict[str, str]) -> bool:
        return bool(header) or csrf_tokens.matches(request, fields.get("csrf", ""))

    try:
        names = await c.library.receive(request.headers.get("content-type", ""), request.stream(), gate)
    except UploadError as exc:
        return c.render(
            request,
            "pcap.html",
            user,
            exc.status,
            active="pcap",
            enabled=True,
            files=c.library.files(),
            max_bytes=c.library.max_bytes,
            error=str(exc),
        )
    flash(request, f"Uploaded {len(names)} file{'s' if len(names) != 1 else ''}: {', '.join(names)}.")
    return redirect("/system/pcap")


def _play(c: ConsoleDep, names: list[str]) -> None:
    frames = c.library.replay(names, c.store.pcap_speed)
    c.players.append(c.host.play(frames))
    c.event(EventType.PCAP, f"PCAP played: {', '.join(names)}", files=names)


@router.post("/system/pcap/play")
def pcap_play(
    request: Request,
    c: ConsoleDep,
    user: CurrentUser,
    csrf: CsrfField,
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_csrf(request, csrf)
    _pcaps_on(c)
    try:
        c.library.path(name)
    except FileNotFoundError as exc:
        flash(request, str(exc), "error")
        return redirect("/system/pcap")
    _play(c, [name])
    flash(request, f"Playing {name}.")
    return redirect("/system/pcap")


@router.post("/system/pcap/play-all")
def pcap_play_all(request: Request, c: ConsoleDep, user: CurrentUser, csrf: CsrfField) -> Response:
    check_csrf(request, csrf)
    _pcaps_on(c)
    names = [f.name for f in c.library.files()]
    if not names:
        flash(request, "No capture files are loaded.", "error")
        return redirect("/system/pcap")
    _play(c, names)
    flash(request, f"Playing all {len(names)} files.")
    return redirect("/system/pcap")


@router.post("/system/pcap/clear")
def pcap_clear(request: Request, c: ConsoleDep, user: CurrentUser, csrf: CsrfField) -> Response:
    check_csrf(request, csrf)
    _pcaps_on(c)
    c.stop_players()
    n = c.library.clear()
    flash(request, f"Cleared {n} capture file{'s' if n != 1 else ''}.")
    return redirect("/system/pcap")


# ---------------------------------------------------------------- advanced configurations


def _advanced_text(c: ConsoleDep) -> dict[str, str]:
    return {cat: "\n".join(f"{k}={v}" for k, v in c.store.advanced(cat).items()) for cat in ADVANCED}


@router.get("/system/advanced", response_class=HTMLResponse)
def advanced_page(request: Request, c: ConsoleDep, user: CurrentUser) -> Response:
    return c.render(
        request,
        "advanced.html",
        user,
        active="advanced",
        categories=ADVANCED,
        texts=_advanced_text(c),
        error=None,
        error_category=None,
    )


@router.post("/system/advanced", response_class=HTMLResponse)
def advanced_save(
    request: Request,
    c: ConsoleDep,
    user: CurrentUser,
    csrf: CsrfField,
    category: Annotated[str, Form(max_length=40)] = "",
    values: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    check_csrf(request, csrf)
    try:
        parsed = parse_advanced(category, values)
    except ValueError as exc:
        texts = _advanced_text(c)
        if category in texts:
            texts[category] = values
        return c.render(
            request,
            "advanced.html",
            user,
            400,
            active="advanced",
            categories=ADVANCED,
            texts=texts,
            error=f"{category}: {exc}",
            error_category=category,
        )
    c.store.set_advanced(category, parsed)
    flash(request, f"Advanced configuration {category!r} saved.")
    return redirect("/system/advanced")


# ---------------------------------------------------------------- support: clear data


@router.get("/support", response_class=HTMLResponse)
def support_page(request: Request, c: ConsoleDep, user: CurrentUser) -> Response:
    return c.render(
        request,
        "support.html",
        user,
        active="support",
        console_address=None if c.host.locally_managed() else c.host.console_address(),
    )


@router.post("/support/clear-data")
def clear_data(
    request: Request,
    c: ConsoleDep,
    user: SupportUser,
    csrf: CsrfField,
    confirm: Annotated[str, Form(max_length=10)] = "",
    console: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    check_csrf(request, csrf)
    if confirm != "yes":
        flash(request, "Clear data was not confirmed; nothing was cleared.", "error")
        return redirect("/support")
    connected = not c.host.locally_managed()
    console_too = connected and console == "yes"
    c.stop_players()
    c.host.clear_data(console_too)
    c.library.clear()
    c.store.clear()
    if not connected:
        after = ""
    elif console_too:
        after = " The console removes this sensor's assets and alerts at the next check-in."
    else:
        after = " The console keeps the assets and alerts this sensor reported before."
    flash(
        request,
        "All learned data, alerts, devices, allowlists, policies and configuration were cleared. "
        "Network settings were kept." + after,
    )
    return redirect("/support")
