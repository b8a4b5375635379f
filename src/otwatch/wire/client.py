"""The agent/sensor side of the console link: enrolment, check-ins, goodbye.

State lives in one directory (``identity.json``, ``key.pem``, ``cert.pem``, ``ca.pem``). The private
key is generated here and never leaves the machine; only a CSR is sent.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import socket
import ssl
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from otwatch.wire import pki
from otwatch.wire.messages import (
    CheckinRequest,
    CheckinResponse,
    EnrollMethod,
    EnrollRequest,
    EnrollResponse,
    GoodbyeRequest,
    NodeKind,
)
from otwatch.wire.pairing import PairingKey
from otwatch.wire.tls import mtls_context, pinned_context, split_address

log = logging.getLogger(__name__)

JSON = {"content-type": "application/json"}


class LinkError(RuntimeError):
    """The console refused or could not be reached; ``code`` is the console's error code if any."""

    def __init__(
        self,
        message: str,
        code: str = "unreachable",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code, self.status = code, status
        self.retry_after = retry_after  # seconds the console asked us to wait (429/503 Retry-After)


@dataclass(frozen=True, slots=True)
class Credentials:
    """How to pair: a pairing key, or address + fingerprint with username/password or API key."""

    pairing_key: str | None = None
    address: str | None = None
    fingerprint: str | None = None
    username: str | None = None
    password: str | None = None
    api_key: str | None = None

    def resolve(self) -> tuple[str, str, dict[str, Any]]:
        """(address, pin, method fields) or ValueError saying what is missing."""
        if self.pairing_key:
            key = PairingKey.decode(self.pairing_key)
            return (
                key.address,
                key.fingerprint,
                {"method": EnrollMethod.PAIRING_KEY, "key_id": key.key_id, "secret": key.secret},
            )
        if not self.address or not self.fingerprint:
            raise ValueError("give a pairing key, or the console address and its certificate fingerprint")
        pin = pki.normalize_fingerprint(self.fingerprint)
        if self.api_key:
            return self.address, pin, {"method": EnrollMethod.API_KEY, "api_key": self.api_key}
        if self.username and self.password:
            return (
                self.address,
                pin,
                {"method": EnrollMethod.PASSWORD, "username": self.username, "password": self.password},
            )
        raise ValueError("give either an API key or a username and password with the console address")


@dataclass(slots=True)
class Identity:
    node_id: str
    install_id: str
    kind: str
    address: str
    enrolled_at: str


def host_os() -> str:
    return f"{platform.system()} {platform.release()}".strip()


def hostname() -> str:
    """This machine's name (``os.uname`` does not exist on Windows; on Linux both are uname's)."""
    return socket.gethostname()


def _retry_after(resp: httpx.Response) -> float | None:
    """Retry-After in seconds (the console sends delta-seconds); junk or absurd values are ignored."""
    try:
        value = float(resp.headers.get("retry-after", ""))
    except ValueError:
        return None
    return value if 0 <= value <= 3600 else None


def _error_from(resp: httpx.Response) -> LinkError:
    wait = _retry_after(resp)
    try:
        err = resp.json()["error"]
        return LinkError(err["message"], err["code"], resp.status_code, wait)
    except (ValueError, KeyError, TypeError):
        return LinkError(f"console answered HTTP {resp.status_code}", "http_error", resp.status_code, wait)


def write_private(path: Path, data: str | bytes) -> None:
    """Write a node file readable by its owner only (0600 from creation, also when it existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o600)
    if hasattr(os, "fchmod"):  # not on Windows, where the folder's ACL keeps it private
        os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def private_dir(path: Path) -> None:
    """A node's state directory: created 0700 (and made so if it existed)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


class NodeState:
    """The files of one paired installation."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    @property
    def identity_file(self) -> Path:
        return self.dir / "identity.json"

    def exists(self) -> bool:
        return self.identity_file.exists()

    def proxy(self) -> str | None:
        """The HTTP(S) proxy to reach the console through (``http://[user:pass@]host:port``), or None
        to go direct (and honour the process's proxy environment). A sensor takes it from its network
        settings (:class:`otwatch.sensor.local.trust.SensorLinkState`)."""
        return None

    def load(self) -> Identity:
        try:
            return Identity(**json.loads(self.identity_file.read_text()))
        except FileNotFoundError as exc:
            raise LinkError(f"not paired: {self.identity_file} does not exist", "not_paired") from exc

    def install_id(self) -> str:
        """Kept across Repair so the console keeps this installation's identity and history."""
        f = self.dir / "install_id"
        if not f.exists():
            private_dir(self.dir)
            write_private(f, uuid.uuid4().hex)
        return f.read_text().strip()

    def save(self, ident: Identity, key: pki.PrivateKey, resp: EnrollResponse) -> None:
        private_dir(self.dir)  # every file of a node is its owner's only (0700 / 0600)
        write_private(self.dir / "key.pem", pki.key_pem(key))
        write_private(self.dir / "cert.pem", resp.certificate_pem)
        write_private(self.dir / "ca.pem", resp.ca_pem)
        if (self.dir / "install_id").exists():
            os.chmod(self.dir / "install_id", 0o600)
        keys = self.dir / "release-keys"
        private_dir(keys)
        for old in keys.glob("*.pub"):
            old.unlink()
        for i, pem in enumerate(resp.release_keys):  # pinned through the same verified channel
            write_private(keys / f"console-{i}.pub", pem)
        tmp = self.identity_file.with_suffix(".tmp")
        write_private(tmp, json.dumps(asdict(ident), indent=2))
        tmp.replace(self.identity_file)

    def remove(self) -> None:
        for name in ("identity.json", "key.pem", "cert.pem", "ca.pem", "install_id"):
            (self.dir / name).unlink(missing_ok=True)

    def ssl_context(self) -> ssl.SSLContext:
        return mtls_context(
            (self.dir / "ca.pem").read_text(), str(self.dir / "cert.pem"), str(self.dir / "key.pem")
        )


def enroll(
    state: NodeState,
    kind: NodeKind,
    creds: Credentials,
    *,
    version: str = "",
    engine_version: str = "",
    repair: bool = False,
    timeout: float = 15.0,
) -> tuple[Identity, EnrollResponse]:
    """Pair with the console. The pin is checked before any secret is sent (PinError otherwise)."""
    address, pin, method_fields = creds.resolve()
    host, port = split_address(address)
    try:
        ctx = pinned_context(host, port, pin, timeout)
    except OSError as exc:
        raise LinkError(f"cannot reach the console at {host}:{port}: {exc}") from exc
    key = pki.generate_key()
    install_id = state.install_id()
    req = EnrollRequest(
        kind=kind,
        install_id=install_id,
        csr_pem=pki.csr_pem(pki.make_csr(key, f"{kind}:{install_id}")),
        hostname=socket.gethostname(),
        host_os=host_os(),
        version=version,
        engine_version=engine_version,
        repair=repair,
        **method_fields,
    )
    url = f"https://{_netloc(host, port)}/api/v1/wire/enroll"
    r = None
    cert, old_key = state.dir / "cert.pem", state.dir / "key.pem"
    if repair and cert.exists() and old_key.exists():
        # prove the current certificate: the console then keeps the node's approval and configuration
        proving = pinned_context(host, port, pin, timeout)
        try:
            proving.load_cert_chain(str(cert), str(old_key))
            with httpx.Client(verify=proving, timeout=timeout) as client:
                r = client.post(url, content=req.model_dump_json(), headers=JSON)
        except (OSError, ValueError, httpx.HTTPError) as exc:  # e.g. an expired certificate
            log.info("repair with the current certificate failed (%s); repairing without it", exc)
            r = None
    if r is None:
        with httpx.Client(verify=ctx, timeout=timeout) as client:
            try:
                r = client.post(url, content=req.model_dump_json(), headers=JSON)
            except httpx.HTTPError as exc:
                raise LinkError(f"enrolment failed: {exc}") from exc
    if r.status_code != 200:
        raise _error_from(r)
    resp = EnrollResponse.model_validate_json(r.content)
    ident = Identity(resp.node_id, install_id, kind, f"{host}:{port}", datetime.now(UTC).isoformat())
    state.save(ident, key, resp)
    return ident, resp


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ConsoleLink:
    """An mTLS session with the console for a paired node (keeps its connection alive)."""

    def __init__(self, state: NodeState, timeout: float = 10.0) -> None:
        self.state = state
        self.ident = state.load()
        host, port = split_address(self.ident.address)
        self.base = f"https://{_netloc(host, port)}/api/v1/wire"
        self.timeout = timeout
        proxy = state.proxy()
        self.client = httpx.Client(
            verify=state.ssl_context(), timeout=timeout, proxy=proxy, trust_env=proxy is None
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> ConsoleLink:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _post(self, path: str, body: str, timeout: float) -> httpx.Response:
        try:
            r = self.client.post(f"{self.base}{path}", content=body, timeout=timeout, headers=JSON)
        except httpx.HTTPError as exc:
            raise LinkError(f"console unreachable: {exc}") from exc
        if r.status_code >= 300:
            raise _error_from(r)
        return r

    def checkin(self, req: CheckinRequest) -> CheckinResponse:
        r = self._post("/checkin", req.model_dump_json(), self.timeout + req.wait)
        return CheckinResponse.model_validate_json(r.content)

    def download_package(self, package_id: str, timeout: float = 300.0) -> bytes:
        try:
            r = self.client.get(f"{self.base}/packages/{package_id}", timeout=timeout)
        except httpx.HTTPError as exc:
            raise LinkError(f"console unreachable: {exc}") from exc
        if r.status_code != 200:
            raise _error_from(r)
        return r.content

    def goodbye(self, reason: str = "uninstalled") -> None:
        self._post("/goodbye", GoodbyeRequest(reason=reason).model_dump_json(), self.timeout)
