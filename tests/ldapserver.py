"""A real OpenLDAP server (Debian's slapd) for sign-in tests, started as the current user on 127.0.0.1.

``slapd_server()`` writes a slapd.conf into a temporary directory, starts slapd on a free port
(plain LDAP with StartTLS, and LDAPS on a second port, with a certificate from a throw-away CA),
loads the directory below with ``ldapadd``, and stops slapd afterwards. Without slapd the tests
are skipped — except under ``CI=true``, where a missing slapd is a failure (scripts/system-deps.sh
installs it).

Directory (suffix ``dc=plant,dc=local``; every password is ``<uid>-pass``)::

    cn=svc-otwatch,ou=people   the bind account
    uid=alice                  member of "OT Admins"
    uid=bob                    member of "OT Viewers"
    uid=carol                  in no group
    cn=OT Admins, cn=OT Viewers (groupOfNames, ou=groups)
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SLAPD = shutil.which("slapd") or ("/usr/sbin/slapd" if Path("/usr/sbin/slapd").exists() else None)
SUFFIX = "dc=plant,dc=local"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PW = "root-secret"
BIND_DN = f"cn=svc-otwatch,ou=people,{SUFFIX}"
BIND_PW = "svc-otwatch-pass"

_DATA = (
    f"""dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
o: Plant
dc: plant

dn: ou=people,{SUFFIX}
objectClass: organizationalUnit
ou: people

dn: ou=groups,{SUFFIX}
objectClass: organizationalUnit
ou: groups

dn: {BIND_DN}
objectClass: person
cn: svc-otwatch
sn: service
userPassword: {BIND_PW}
"""
    + "".join(
        f"""
dn: uid={uid},ou=people,{SUFFIX}
objectClass: inetOrgPerson
uid: {uid}
cn: {uid.title()}
sn: {uid.title()}
userPassword: {uid}-pass
"""
        for uid in ("alice", "bob", "carol")
    )
    + "".join(
        f"""
dn: cn={group},ou=groups,{SUFFIX}
objectClass: groupOfNames
cn: {group}
member: uid={member},ou=people,{SUFFIX}
"""
        for group, member in (("OT Admins", "alice"), ("OT Viewers", "bob"))
    )
)


@dataclass(frozen=True, slots=True)
class Slapd:
    host: str
    port: int  # plain LDAP, StartTLS available
    ldaps_port: int
    ca_pem: str  # the CA that signed the server's certificate (for "127.0.0.1")
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def require_slapd() -> str:
    if SLAPD is None:
        if os.environ.get("CI") == "true":
            pytest.fail("slapd is not installed (scripts/system-deps.sh installs it)")
        pytest.skip("slapd is not installed (run scripts/system-deps.sh)")
    return SLAPD


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _certificates(directory: Path, host: str) -> str:
    """A CA and a server certificate for ``host`` signed by it; returns the CA's PEM."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test LDAP CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    ca_pem = ca.public_bytes(serialization.Encoding.PEM).decode()
    (directory / "ca.pem").write_text(ca_pem)
    (directory / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca_pem


@contextmanager
def slapd_server(directory: Path, host: str = "127.0.0.1") -> Iterator[Slapd]:
    slapd = require_slapd()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "db").mkdir()
    ca_pem = _certificates(directory, host)
    schema = Path("/etc/ldap/schema")
    conf = directory / "slapd.conf"
    conf.write_text(
        "".join(f"include {schema / n}.schema\n" for n in ("core", "cosine", "inetorgperson"))
        + f"""modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {directory / "slapd.pid"}
argsfile {directory / "slapd.args"}
TLSCACertificateFile {directory / "ca.pem"}
TLSCertificateFile {directory / "server.pem"}
TLSCertificateKeyFile {directory / "server.key"}
database mdb
maxsize 10485760
suffix "{SUFFIX}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PW}
directory {directory / "db"}
access to attrs=userPassword by self read by anonymous auth by * none
access to * by users read by * none
"""
    )
    port, ldaps_port = _free_port(host), _free_port(host)
    log = open(directory / "slapd.log", "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [slapd, "-f", str(conf), "-h", f"ldap://{host}:{port}/ ldaps://{host}:{ldaps_port}/", "-d", "0"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Slapd(host, port, ldaps_port, ca_pem, process)
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                log.flush()
                raise RuntimeError(f"slapd exited: {(directory / 'slapd.log').read_text()[-2000:]}")
            try:
                socket.create_connection((host, port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("slapd did not start listening within 20 s") from None
                time.sleep(0.1)
        (directory / "data.ldif").write_text(_DATA)
        subprocess.run(
            ["ldapadd", "-x", "-H", f"ldap://{host}:{port}/", "-D", ROOT_DN, "-w", ROOT_PW,
             "-f", str(directory / "data.ldif")],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
        yield server
    finally:
        server.stop()
        log.close()


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """One slapd for the test session (import this fixture into a test module to use it)."""
    with slapd_server(tmp_path_factory.mktemp("slapd")) as server:
        yield server


def ad_settings(server: Slapd, **over: object) -> dict[str, object]:
    """Pushed ``active_directory`` settings for this server: plain LDAP, the bind account, uid lookup."""
    return {
        "enabled": True, "domain": "plant.local", "servers": [server.host], "port": server.port,
        "ldaps": False, "starttls": False, "base_dn": SUFFIX, "bind_dn": BIND_DN,
        "user_filter": "(uid={username})",
        "group_roles": {"OT Admins": "Admin", "OT Viewers": "Read Only"}, **over,
    }  # fmt: skip
