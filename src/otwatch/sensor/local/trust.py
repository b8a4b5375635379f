"""Validation for management console certificates: how the sensor checks the console it reports to.

Two settings, in the seed's words, enforced on every TLS connection of the sensor-console link:

**Required** (the default)
    OpenSSL verifies the console's certificate against the console CA the sensor received at
    enrolment (``ca.pem`` in the state directory): the chain must lead to that CA and every
    certificate must be within its validity period. The host name is not checked (plants readdress;
    the private CA is what identifies the console). A console presenting anything else is refused
    during the handshake, before a byte of a request is sent.

**None**
    No chain and no date validation: the console must present *exactly* the certificate whose
    SHA-256 fingerprint the administrator pinned when choosing None (the fingerprint shown on the
    console's Certificates page). An expired certificate, or one from another CA, is accepted if and
    only if it is that certificate; any other certificate is refused during the handshake. A pin is
    mandatory: the sensor never sends data to an unidentified console.

In both modes the sensor presents its own client certificate (mTLS), as after enrolment.

A refusal surfaces as the link's error (``NodeRuntime.last_error``), which the sensor Overview shows
as the disconnection message. A change of setting takes effect at once: open connections to the
console are shut down, so the next check-in connects under the new rule.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from otwatch.wire.client import NodeState
from otwatch.wire.pki import fingerprint_der, normalize_fingerprint
from otwatch.wire.tls import mtls_context


class ConsoleValidation(StrEnum):
    REQUIRED = "Required"
    NONE = "None"


@dataclass(frozen=True, slots=True)
class ConsoleTrust:
    validation: ConsoleValidation = ConsoleValidation.REQUIRED
    pin: str | None = None  # colon-form SHA-256 fingerprint; mandatory with NONE

    def __post_init__(self) -> None:
        if self.validation is ConsoleValidation.NONE and not self.pin:
            raise ValueError(
                "Validation None needs the console certificate's SHA-256 fingerprint to pin "
                "(shown on the console under Local Settings > Certificates)"
            )

    @classmethod
    def parse(cls, validation: str, pin: str = "") -> ConsoleTrust:
        try:
            mode = ConsoleValidation(validation)
        except ValueError:
            raise ValueError(f"Validation must be Required or None, not {validation!r}") from None
        if mode is ConsoleValidation.REQUIRED:
            return cls(mode, None)
        return cls(mode, normalize_fingerprint(pin) if pin.strip() else None)

    def as_dict(self) -> dict[str, str | None]:
        return {"validation": self.validation.value, "pin": self.pin}


class CertificateRefused(ssl.SSLCertVerificationError):
    """The console's certificate is not the pinned one (validation None)."""


class ConsoleLinkContext(ssl.SSLContext):
    """An ``ssl.SSLContext`` for httpx whose handshakes follow the current :class:`ConsoleTrust`.

    httpx/httpcore only call ``wrap_socket`` (and ``set_alpn_protocols``) on it; each call is handed
    to the context for the current rule: the CA-verifying one (Required) or a non-verifying one
    followed by the fingerprint check (None).
    """

    _required: ssl.SSLContext
    _pinned: ssl.SSLContext
    _trust: Callable[[], ConsoleTrust]
    _open: weakref.WeakSet[ssl.SSLSocket]
    _guard: threading.Lock

    def __new__(cls, state_dir: Path, trust: Callable[[], ConsoleTrust]) -> ConsoleLinkContext:
        self = super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)
        ca, cert, key = (state_dir / n for n in ("ca.pem", "cert.pem", "key.pem"))
        self._required = mtls_context(ca.read_text(), str(cert), str(key))
        pinned = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        pinned.minimum_version = ssl.TLSVersion.TLSv1_2
        pinned.check_hostname = False
        pinned.verify_mode = ssl.CERT_NONE  # checked below, by fingerprint, before wrap_socket returns
        pinned.load_cert_chain(str(cert), str(key))
        self._pinned = pinned
        self._trust = trust
        self._open = weakref.WeakSet()
        self._guard = threading.Lock()
        return self

    def __init__(self, state_dir: Path, trust: Callable[[], ConsoleTrust]) -> None:
        super().__init__()

    def set_alpn_protocols(self, alpn_protocols: Iterable[str]) -> None:
        protocols = list(alpn_protocols)
        self._required.set_alpn_protocols(protocols)
        self._pinned.set_alpn_protocols(protocols)

    def wrap_socket(self, sock: socket.socket, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        trust = self._trust()
        if trust.validation is ConsoleValidation.REQUIRED:
            tls = self._required.wrap_socket(sock, *args, **kwargs)
        else:
            tls = self._pinned.wrap_socket(sock, *args, **kwargs)
            der = tls.getpeercert(binary_form=True)
            got = fingerprint_der(der, like=trust.pin) if der else "(no certificate)"
            if got != trust.pin:
                tls.close()
                raise CertificateRefused(
                    f"console certificate {got} is not the pinned certificate {trust.pin} "
                    "(Validation for management console certificates: None)"
                )
        with self._guard:
            self._open.add(tls)
        return tls

    def drop_connections(self) -> int:
        """Shut down every open connection (after a change of rule); returns how many."""
        with self._guard:
            socks = list(self._open)
            self._open.clear()
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        return len(socks)


class SensorLinkState(NodeState):
    """The sensor's paired state whose TLS context follows the console-validation setting."""

    def __init__(
        self,
        directory: Path,
        trust: Callable[[], ConsoleTrust],
        proxy: Callable[[], str | None] | None = None,
    ) -> None:
        super().__init__(directory)
        self.trust = trust
        self._proxy = proxy
        self.contexts: weakref.WeakSet[ConsoleLinkContext] = weakref.WeakSet()

    def proxy(self) -> str | None:
        """The proxy of the sensor's network settings: every link to the console goes through it."""
        return self._proxy() if self._proxy is not None else None

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ConsoleLinkContext(self.dir, self.trust)
        self.contexts.add(ctx)
        return ctx

    def trust_changed(self) -> int:
        return sum(ctx.drop_connections() for ctx in list(self.contexts))


def is_validation_failure(message: str | None) -> bool:
    """Does a link error come from refusing the console's certificate?"""
    if not message:
        return False
    return "CERTIFICATE_VERIFY_FAILED" in message or "is not the pinned certificate" in message
