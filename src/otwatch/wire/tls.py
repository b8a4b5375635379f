"""TLS contexts for the agent/sensor side of the console link.

Before enrollment the only trust is the pinned SHA-256 fingerprint: we fetch the console's
certificate, compare it with the pin, and then build a context whose sole trust anchor is that exact
certificate (OpenSSL partial-chain verification), so every later connection is checked by OpenSSL
before a byte of the request is sent. After enrollment the console CA is the anchor and the node
presents its own client certificate (mTLS).

:func:`tls_context` is the plain client context for servers a part only reaches out to (mail, syslog,
webhooks), shared by the console and the sensor.
"""

from __future__ import annotations

import socket
import ssl

from otwatch.wire.pki import PinError, fingerprint_der, normalize_fingerprint


def split_address(address: str, default_port: int = 8443) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` or ``https://host:port`` -> (host, port)."""
    a = address.strip()
    for scheme in ("https://", "http://"):
        if a.startswith(scheme):
            a = a[len(scheme) :]
    a = a.rstrip("/")
    if a.startswith("["):
        host, _, rest = a[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else default_port
        return host, port
    if a.count(":") == 1:
        host, port_s = a.split(":")
        try:
            return host, int(port_s)
        except ValueError as exc:
            raise ValueError(f"bad port in console address {address!r}") from exc
    return a, default_port


def fetch_certificate(host: str, port: int, timeout: float = 5.0) -> bytes:
    """The DER certificate the server presents, without trusting it."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=timeout) as raw, ctx.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise ssl.SSLError("server presented no certificate")
    return der


def pinned_context(host: str, port: int, pin: str, timeout: float = 5.0) -> ssl.SSLContext:
    """A context that trusts only the server certificate whose fingerprint is ``pin``.

    Raises PinError (before any request is sent) when the server's certificate does not match.
    """
    want = normalize_fingerprint(pin)
    der = fetch_certificate(host, port, timeout)
    got = fingerprint_der(der, like=want)  # SHA-1 when the pin was given as SHA-1
    if got != want:
        raise PinError(
            f"console certificate fingerprint {got} does not match the expected {want}; "
            "refusing to send credentials (check the address and the fingerprint shown under Certificates)"
        )
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.check_hostname = False  # the pin identifies the server, not the name used to reach it
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    ctx.load_verify_locations(cadata=ssl.DER_cert_to_PEM_cert(der))
    return ctx


def mtls_context(ca_pem: str, cert_file: str, key_file: str) -> ssl.SSLContext:
    """Context for check-ins after enrollment: verify the console by its CA, present our certificate."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=ca_pem)
    ctx.check_hostname = False  # the private CA identifies the console; addresses change in plants
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


def tls_context(verify: bool, ca_pem: str | None) -> ssl.SSLContext:
    """A client context for a server we only reach (mail, syslog, webhooks): verify against
    ``ca_pem`` when given, the system roots otherwise, or not at all."""
    ctx = ssl.create_default_context(cadata=ca_pem) if ca_pem else ssl.create_default_context()
    if not verify and not ca_pem:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
