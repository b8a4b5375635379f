"""The console's certificate authority and server certificate, kept as files in data_dir/pki.

The CA key never enters the database; losing data_dir/pki means re-pairing every node.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from otwatch.wire import pki


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


@dataclass
class ConsolePKI:
    directory: Path
    ca_key: pki.PrivateKey
    ca_cert: x509.Certificate
    server_cert: x509.Certificate

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def server_cert_file(self) -> Path:
        return self.directory / "server.crt"

    @property
    def server_key_file(self) -> Path:
        return self.directory / "server.key"

    @property
    def ca_pem(self) -> str:
        return pki.cert_pem(self.ca_cert).decode()

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the server certificate: the pin agents are given ("Certificates")."""
        return pki.fingerprint(self.server_cert)

    def issue_client(self, public_key: object, common_name: str) -> x509.Certificate:
        return pki.issue(self.ca_key, self.ca_cert, public_key, common_name, days=825)

    @classmethod
    def load_or_create(cls, directory: Path, hosts: list[str]) -> ConsolePKI:
        directory.mkdir(parents=True, exist_ok=True)
        ca_key_f, ca_f = directory / "ca.key", directory / "ca.crt"
        srv_key_f, srv_f = directory / "server.key", directory / "server.crt"
        if ca_key_f.exists() and ca_f.exists():
            ca_key = pki.load_key(ca_key_f.read_bytes())
            ca_cert = pki.load_cert(ca_f.read_bytes())
        else:
            ca_key, ca_cert = pki.create_ca()
            _write_private(ca_key_f, pki.key_pem(ca_key))
            ca_f.write_bytes(pki.cert_pem(ca_cert))
        if srv_key_f.exists() and srv_f.exists():
            server_cert = pki.load_cert(srv_f.read_bytes())
        else:
            names = [*hosts, "localhost", "127.0.0.1", "::1", socket.gethostname()]
            key = pki.generate_key()
            server_cert = pki.issue(ca_key, ca_cert, key.public_key(), names[0], server_hosts=names)
            _write_private(srv_key_f, pki.key_pem(key))
            srv_f.write_bytes(pki.cert_pem(server_cert) + pki.cert_pem(ca_cert))
        return cls(directory, ca_key, ca_cert, server_cert)
