"""X.509 helpers for the console's internal CA (cryptography): keys, CSRs, certificates, pins.

EC P-256 keys: fast to generate (enrollment storms) and widely supported by TLS stacks.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey


class PinError(ValueError):
    """A certificate fingerprint that is malformed or does not match."""


def generate_key() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_key(pem: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("expected an EC private key")
    return key


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def load_cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "OTWatch"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def create_ca(
    common_name: str = "OTWatch Console CA", days: int = 3650
) -> tuple[PrivateKey, x509.Certificate]:
    key = generate_key()
    now = datetime.now(UTC)
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _san(hosts: list[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for h in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            names.append(x509.DNSName(h))
    return x509.SubjectAlternativeName(names)


def issue(
    ca_key: CertificateIssuerPrivateKeyTypes,
    ca_cert: x509.Certificate,
    public_key: ec.EllipticCurvePublicKey | x509.Certificate | object,
    common_name: str,
    *,
    server_hosts: list[str] | None = None,
    days: int = 825,
) -> x509.Certificate:
    """Issue a leaf certificate: a server one when ``server_hosts`` is given, else a client one."""
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    if server_hosts:
        builder = builder.add_extension(_san(server_hosts), critical=False).add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return builder.sign(ca_key, hashes.SHA256())


def make_csr(key: PrivateKey, common_name: str) -> x509.CertificateSigningRequest:
    return x509.CertificateSigningRequestBuilder().subject_name(_name(common_name)).sign(key, hashes.SHA256())


def csr_pem(csr: x509.CertificateSigningRequest) -> str:
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def public_key_sha256(public_key: object) -> str:
    der = public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def fingerprint_der(der: bytes, like: str | None = None) -> str:
    """SHA-256 fingerprint in the usual colon form: ``AB:CD:...`` (32 bytes); SHA-1 (20 bytes) when
    ``like`` is a SHA-1 fingerprint, to compare with a pin given that way."""
    algorithm = hashlib.sha1 if like is not None and is_sha1(like) else hashlib.sha256
    return ":".join(f"{b:02X}" for b in algorithm(der).digest())


def fingerprint(cert: x509.Certificate) -> str:
    return fingerprint_der(cert.public_bytes(serialization.Encoding.DER))


def fingerprint_sha1(cert: x509.Certificate) -> str:
    """The 20-octet form some installers ask for (seed 000's ICP_FINGERPRINT example)."""
    return fingerprint_der(cert.public_bytes(serialization.Encoding.DER), like="0" * 40)


_HEX = re.compile(r"^(?:[0-9A-F]{64}|[0-9A-F]{40})$")

#: Shown wherever a SHA-1 pin is accepted. SHA-256 stays the default and what the console shows.
SHA1_WARNING = (
    "warning: a SHA-1 certificate fingerprint (20 octets) was given. It is accepted, but SHA-1 is "
    "no longer collision-resistant: prefer the SHA-256 fingerprint (`otwatch console fingerprint`, "
    "or Certificates in the console)."
)


def is_sha1(fp: str) -> bool:
    """Whether a fingerprint (any accepted spelling) is a 20-octet SHA-1 one."""
    return len(re.sub(r"[\s:\-]", "", fp)) == 40


def normalize_fingerprint(text: str) -> str:
    """Accept ``AB:CD:..``, ``ab cd ..`` or plain hex; return the colon form or raise PinError.

    SHA-256 (32 octets) is the fingerprint the console shows and pairing keys carry; SHA-1 (20 octets,
    as in seed 000's msiexec example) is accepted too, with :data:`SHA1_WARNING` shown by the caller."""
    compact = re.sub(r"[\s:\-]", "", text).upper()
    if not _HEX.match(compact):
        raise PinError(
            "certificate fingerprint must be a SHA-256 fingerprint: 64 hex digits, optionally separated "
            "by colons (a SHA-1 fingerprint of 40 hex digits is accepted too, with a warning)"
        )
    return ":".join(compact[i : i + 2] for i in range(0, len(compact), 2))


def serial_hex(cert: x509.Certificate) -> str:
    return f"{cert.serial_number:x}"
