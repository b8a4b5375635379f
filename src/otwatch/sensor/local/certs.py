"""The sensor console's own SSL/TLS certificate: the self-signed default and CA-signed imports.

At first start the sensor makes a self-signed certificate (EC P-256, its host name and addresses as
subject alternative names). An administrator may import a CA-signed certificate instead; the import
is refused — and nothing is changed — unless every check passes, each with its own message:

1. the private key opens (with the passphrase, if any) and the certificate parses;
2. the key belongs to the certificate;
3. the certificate is within its validity period (not expired, not yet valid) and is not a CA;
4. with a chain: every certificate is signed by the next, each issuer is a CA within its validity;
5. with a CRL: the CRL is signed by the certificate's issuer, is current, and does not list the
   certificate's serial number.

The key is stored unencrypted (mode 0600) in the sensor's state directory: the sensor must start
unattended, so a passphrase would have to be stored beside it anyway.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from otwatch.wire import pki

ServerKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class CertificateError(ValueError):
    """An import refused; the message says which check failed."""


@dataclass(frozen=True, slots=True)
class ServerCertificate:
    key: ServerKey
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @property
    def chain_pem(self) -> bytes:
        """The certificate followed by its chain: what a TLS server presents."""
        return b"".join(pki.cert_pem(c) for c in (self.cert, *self.chain))


def _cn(cert: x509.Certificate | x509.CertificateRevocationList, attr: str = "subject") -> str:
    name: x509.Name = getattr(cert, attr)
    cns = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cns[0].value) if cns else name.rfc4514_string()


def describe(cert: x509.Certificate) -> dict[str, str]:
    """What the SSL/TLS page shows about a certificate."""
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "serial": pki.serial_hex(cert),
        "fingerprint": pki.fingerprint(cert),
    }


def self_signed(hosts: list[str] | None = None, days: int = 825) -> ServerCertificate:
    """The locally generated certificate: subject and issuer are the host name."""
    names = [
        h for h in dict.fromkeys([*(hosts or []), socket.gethostname(), "localhost", "127.0.0.1", "::1"]) if h
    ]
    key = pki.generate_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "OTWatch sensor"),
            x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64]),
        ]
    )
    sans: list[x509.GeneralName] = []
    for h in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return ServerCertificate(key, cert)


def is_self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _load_key(pem: bytes, passphrase: str | None) -> ServerKey:
    password = passphrase.encode() if passphrase else None
    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except TypeError as exc:  # encrypted without a passphrase, or a passphrase for a plain key
        if password is None:
            raise CertificateError("Private key: the key is encrypted; enter its passphrase") from exc
        raise CertificateError("Private key: the key is not encrypted; leave the passphrase empty") from exc
    except ValueError as exc:
        if password is not None and b"ENCRYPTED" in pem:
            raise CertificateError("Private key: wrong passphrase") from exc
        raise CertificateError("Private key: not a PEM private key (KEY file)") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise CertificateError("Private key: only RSA and EC keys can serve TLS here")
    return key


def _load_certs(pem: bytes, what: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise CertificateError(f"{what}: not a PEM certificate file") from exc
    if not certs:
        raise CertificateError(f"{what}: no certificate in the file")
    return certs


def _spki(key: object) -> bytes:
    return key.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _when(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def _check_dates(cert: x509.Certificate, what: str, now: datetime) -> None:
    if now < cert.not_valid_before_utc:
        raise CertificateError(
            f"{what} {_cn(cert)!r} is not yet valid (valid from {_when(cert.not_valid_before_utc)})"
        )
    if now > cert.not_valid_after_utc:
        raise CertificateError(f"{what} {_cn(cert)!r} expired on {_when(cert.not_valid_after_utc)}")


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _verify_chain(leaf: x509.Certificate, chain: list[x509.Certificate], now: datetime) -> None:
    """Walk leaf -> chain: each certificate must be issued and signed by one in the chain, up to a
    self-signed root or the end of the chain (an intermediate the clients trust)."""
    current, remaining, depth = leaf, list(chain), 0
    while True:
        if is_self_signed(current) and current is not leaf:
            return
        issuer = next((c for c in remaining if c.subject == current.issuer), None)
        if issuer is None:
            if depth == 0:
                raise CertificateError(
                    f"Certificate chain does not verify: no certificate in the chain is the issuer "
                    f"{current.issuer.rfc4514_string()!r} of {_cn(current)!r}"
                )
            return  # the chain ends at an intermediate
        try:
            current.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise CertificateError(
                f"Certificate chain does not verify: {_cn(current)!r} is not signed by {_cn(issuer)!r}"
            ) from exc
        if not _is_ca(issuer):
            raise CertificateError(f"Certificate chain does not verify: {_cn(issuer)!r} is not a CA")
        _check_dates(issuer, "Chain certificate", now)
        remaining.remove(issuer)
        current, depth = issuer, depth + 1


def _load_crl(data: bytes) -> x509.CertificateRevocationList:
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise CertificateError("CRL: not a certificate revocation list (PEM or DER)") from exc


def _check_crl(
    cert: x509.Certificate, chain: list[x509.Certificate], crl: x509.CertificateRevocationList, now: datetime
) -> None:
    issuer = next((c for c in chain if c.subject == cert.issuer), None)
    if crl.issuer != cert.issuer:
        raise CertificateError(
            f"CRL: issued by {_cn(crl, 'issuer')!r}, not by the certificate's issuer {cert.issuer.rfc4514_string()!r}"
        )
    if issuer is None:
        raise CertificateError(
            "CRL: include the issuing CA in the certificate chain to check the CRL's signature"
        )
    if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
        raise CertificateError(f"CRL: signature does not verify with {_cn(issuer)!r}")
    nxt = crl.next_update_utc
    if nxt is not None and nxt < now:
        raise CertificateError(f"CRL: out of date (next update was due {_when(nxt)})")
    revoked = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    if revoked is not None:
        raise CertificateError(
            f"Certificate is revoked: serial {pki.serial_hex(cert)} is listed in the CRL "
            f"(revoked on {_when(revoked.revocation_date_utc)})"
        )


def validate_import(
    key_pem: bytes,
    cert_pem: bytes,
    *,
    chain_pem: bytes | None = None,
    passphrase: str | None = None,
    crl: bytes | None = None,
    now: datetime | None = None,
) -> ServerCertificate:
    """Check a CA-signed certificate for import (see the module docstring); CertificateError if refused."""
    now = now or datetime.now(UTC)
    if not key_pem.strip():
        raise CertificateError("Private key: upload the KEY file")
    if not cert_pem.strip():
        raise CertificateError("Certificate: upload the CRT file")
    key = _load_key(key_pem, passphrase)
    certs = _load_certs(cert_pem, "Certificate")
    cert, extra = certs[0], certs[1:]  # a CRT file may carry its chain after the certificate
    if _spki(key.public_key()) != _spki(cert.public_key()):
        raise CertificateError("Private key does not match the certificate (different public keys)")
    _check_dates(cert, "Certificate", now)
    if _is_ca(cert):
        raise CertificateError(f"Certificate {_cn(cert)!r} is a CA certificate, not a server certificate")
    chain = [
        *extra,
        *(_load_certs(chain_pem, "Certificate chain") if chain_pem and chain_pem.strip() else []),
    ]
    if chain:
        _verify_chain(cert, chain, now)
    if crl is not None:
        _check_crl(cert, chain, _load_crl(crl), now)
    ordered: list[x509.Certificate] = []
    current = cert
    while True:  # the chain in issuing order, for the TLS server
        nxt = next((c for c in chain if c.subject == current.issuer and c not in ordered), None)
        if nxt is None or nxt is current:
            break
        ordered.append(nxt)
        current = nxt
    return ServerCertificate(key, cert, tuple(ordered))


MAX_CRL = 4 * 1024 * 1024  # a CRL of a few hundred thousand serials; refuse anything larger
CRL_TIMEOUT = 10.0


def crl_urls(cert_pem: bytes) -> list[str]:
    """The HTTP(S) CRL distribution points named in a certificate (LDAP ones are left out)."""
    cert = _load_certs(cert_pem, "Certificate")[0]
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    urls: list[str] = []
    for point in points:
        for name in point.full_name or ():
            if isinstance(name, x509.UniformResourceIdentifier) and name.value.lower().startswith(
                ("http://", "https://")
            ):
                urls.append(name.value)
    return urls


def fetch_crl(cert_pem: bytes, proxy: str | None = None) -> bytes:
    """The certificate's CRL from its distribution point, fetched once at import (the seed's "Use CRL"),
    through the sensor's proxy when one is set. CertificateError says what failed, and that the CRL
    file can be uploaded instead (air-gapped sites)."""
    import httpx  # only here: the sensor's import path stays free of an HTTP client

    urls = crl_urls(cert_pem)
    if not urls:
        raise CertificateError(
            "CRL: the certificate names no HTTP CRL distribution point; upload the CRL file instead"
        )
    errors: list[str] = []
    for url in urls:
        try:
            with (
                httpx.Client(
                    proxy=proxy, timeout=CRL_TIMEOUT, follow_redirects=True, trust_env=False
                ) as client,
                client.stream("GET", url) as response,
            ):
                response.raise_for_status()
                data = bytearray()
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > MAX_CRL:
                        raise CertificateError(f"CRL: {url} is larger than {MAX_CRL // 1024 // 1024} MB")
            _load_crl(bytes(data))  # a clear error now rather than a confusing one in the check
            return bytes(data)
        except (httpx.HTTPError, CertificateError) as exc:
            errors.append(f"{url}: {exc}")
    raise CertificateError(
        "CRL: could not fetch the certificate's CRL (" + "; ".join(errors) + "); upload the CRL file instead"
    )
