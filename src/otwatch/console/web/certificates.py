"""Local Settings > Certificates: the console's own server certificate and certificate authority."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from otwatch.console.deps import CtxDep, Permission, SessionDep
from otwatch.console.web.render import current_principal, render, to_login
from otwatch.wire.pki import fingerprint

router = APIRouter(include_in_schema=False)


@router.get("/settings/certificates", response_class=HTMLResponse)
def certificates_page(request: Request, ctx: CtxDep, db: SessionDep) -> Response:
    p = current_principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return to_login()
    certs = [
        {
            "id": slug,
            "title": title,
            "subject": cert.subject.rfc4514_string(),
            "issuer": cert.issuer.rfc4514_string(),
            "not_before": cert.not_valid_before_utc,
            "not_after": cert.not_valid_after_utc,
            "fingerprint": fingerprint(cert),
        }
        for slug, title, cert in (
            ("server", "Console server certificate", ctx.pki.server_cert),
            ("ca", "Console certificate authority", ctx.pki.ca_cert),
        )
    ]
    return render(request, "certificates.html", p, "certificates", certificates=certs)
