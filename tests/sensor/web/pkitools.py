"""Real certificate chains for the certificate tests: root CA -> intermediate CA -> server certificate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from otwatch.wire import pki

Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Plant IT"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def certificate(
    subject: str,
    key: Key,
    issuer: x509.Certificate | None = None,
    issuer_key: Key | None = None,
    *,
    ca: bool = False,
    start: datetime | None = None,
    days: int = 365,
    hosts: tuple[str, ...] = ("sensor.plant.local",),
    crl_url: str | None = None,
) -> x509.Certificate:
    now = datetime.now(UTC)
    start = start or now - timedelta(days=1)
    b = (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(issuer.subject if issuer else name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False)
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if crl_url is not None:
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)
        b = b.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    return b.sign(issuer_key or key, hashes.SHA256())


@dataclass
class Chain:
    root_key: Key
    root: x509.Certificate
    inter_key: Key
    inter: x509.Certificate
    key: Key
    leaf: x509.Certificate

    @property
    def key_pem(self) -> bytes:
        return key_pem(self.key)

    @property
    def leaf_pem(self) -> bytes:
        return pki.cert_pem(self.leaf)

    @property
    def chain_pem(self) -> bytes:
        return pki.cert_pem(self.inter) + pki.cert_pem(self.root)

    def crl(self, revoked: list[x509.Certificate], *, next_update_days: int = 7) -> bytes:
        """A CRL from the intermediate (the leaf's issuer), PEM."""
        now = datetime.now(UTC)
        b = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.inter.subject)
            .last_update(now - timedelta(days=max(1, 1 - next_update_days)))
            .next_update(now + timedelta(days=next_update_days))
        )
        for c in revoked:
            b = b.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(c.serial_number)
                .revocation_date(now - timedelta(minutes=30))
                .build()
            )
        return b.sign(self.inter_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def key_pem(key: Key, passphrase: str | None = None) -> bytes:
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, enc)


def chain(
    *,
    leaf_start: datetime | None = None,
    leaf_days: int = 365,
    rsa_leaf: bool = False,
    crl_url: str | None = None,
) -> Chain:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = certificate("Plant Root CA", root_key, ca=True, days=3650)
    inter_key = ec.generate_private_key(ec.SECP256R1())
    inter = certificate("Plant Issuing CA", inter_key, root, root_key, ca=True, days=1825)
    key: Key = rsa.generate_private_key(65537, 2048) if rsa_leaf else ec.generate_private_key(ec.SECP256R1())
    leaf = certificate(
        "sensor.plant.local", key, inter, inter_key, start=leaf_start, days=leaf_days, crl_url=crl_url
    )
    return Chain(root_key, root, inter_key, inter, key, leaf)
