"""Transports: syslog over UDP, TCP and TLS; webhooks over HTTPS. Each raises SendError on failure."""

from __future__ import annotations

import socket
import ssl
from typing import Any

import httpx

from otwatch.console.forwarding.formats import octet_counted
from otwatch.console.forwarding.schemas import redact_text
from otwatch.wire.tls import tls_context

UDP_MAX = 65_000  # larger datagrams are truncated rather than refused


class SendError(Exception):
    """A delivery attempt failed; ``permanent`` ones are not retried."""

    def __init__(self, message: str, *, permanent: bool = False, public: str | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        # the message without anything the target answered (its response body): what the rule's
        # Test button shows, so it cannot be used to read internal services
        self.public = public if public is not None else message


def send_syslog(
    message: str,
    *,
    host: str,
    port: int,
    transport: str,
    timeout: float,
    verify_tls: bool = True,
    ca_pem: str | None = None,
) -> None:
    data = message.encode("utf-8")
    where = f"syslog {transport.upper()} {host}:{port}"
    try:
        if transport == "udp":
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
            family, _, _, _, addr = infos[0]
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.settimeout(timeout)
                s.sendto(data[:UDP_MAX], addr)
            return
        with socket.create_connection((host, port), timeout=timeout) as raw:
            if transport == "tls":
                with tls_context(verify_tls, ca_pem).wrap_socket(raw, server_hostname=host) as s:
                    s.sendall(octet_counted(data))
            elif transport == "tcp":
                raw.sendall(octet_counted(data))
            else:
                raise SendError(f"unknown syslog transport {transport!r}", permanent=True)
    except ssl.SSLCertVerificationError as exc:
        raise SendError(f"{where}: certificate verification failed: {exc.verify_message}") from exc
    except (OSError, ssl.SSLError) as exc:
        raise SendError(f"{where}: {exc.strerror or exc}") from exc


def send_webhook(
    url: str,
    body: dict[str, Any],
    *,
    headers: dict[str, str],
    timeout: float,
    verify_tls: bool = True,
    ca_pem: str | None = None,
) -> int:
    """POST the JSON body; any 2xx is success. 4xx other than 408/429 will not get better by retrying."""
    verify: ssl.SSLContext | bool = tls_context(verify_tls, ca_pem) if ca_pem else verify_tls
    try:
        with httpx.Client(verify=verify, timeout=timeout, follow_redirects=False) as client:
            r = client.post(url, json=body, headers={"user-agent": "OTWatch", **headers})
    except httpx.ConnectError as exc:
        raise SendError(redact_text(f"webhook {url}: cannot connect: {exc}", url)) from exc
    except httpx.HTTPError as exc:
        raise SendError(redact_text(f"webhook {url}: {type(exc).__name__}: {exc}", url)) from exc
    if 200 <= r.status_code < 300:
        return r.status_code
    permanent = 400 <= r.status_code < 500 and r.status_code not in (408, 425, 429)
    text = r.text.strip().replace("\n", " ")[:200]
    msg = f"webhook {url}: HTTP {r.status_code} {text}".rstrip()
    public = f"webhook {url}: HTTP {r.status_code}"
    raise SendError(  # errors and logs never carry the URL's secrets
        redact_text(msg, url), permanent=permanent, public=redact_text(public, url)
    )
