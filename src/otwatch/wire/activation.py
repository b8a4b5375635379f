"""Activation files: the console's signed instruction that switches a sensor between locally managed
and console-connected ("Subscription & Activation Mode" on the sensor).

The file is JSON::

    {"format": 1, "payload": base64(JSON), "signature": base64(DER ECDSA-SHA256), "ca_pem": "..."}

signed with the console's **CA key** (ECDSA P-256), not with an Ed25519 release key: release keys
belong to whoever builds software and stay offline, while an activation file is issued by one
console for its own fleet — and the console CA is already what a connected sensor trusts (it pins
``ca.pem`` at enrolment). So a connected sensor checks the signature against its pinned CA: only its
own console can release it to local management or point it elsewhere. A locally managed sensor has
nothing pinned yet; it checks the signature against the CA in the file (integrity: one changed
byte is refused), and the enrolment that follows pins the console by the server fingerprint in the
signed payload and checks that the CA it then receives is the one that signed the file.

Payload: ``kind`` "otwatch-activation", ``id``, ``mode`` (console-connected | locally-managed),
``issued_at``, ``expires_at``, ``console`` {address, fingerprint}, ``pairing_key`` (console-connected:
the single-purpose pairing key the sensor enrols with), ``sensor`` {node_id} (locally-managed: the
sensor it releases).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from otwatch.wire import pki

MAX_FILE_BYTES = 64 * 1024


class ManagementMode(StrEnum):
    LOCALLY_MANAGED = "locally-managed"
    CONSOLE_CONNECTED = "console-connected"

    @property
    def label(self) -> str:
        return (
            "Locally managed"
            if self is ManagementMode.LOCALLY_MANAGED
            else "Connected to a management console"
        )


class ActivationError(ValueError):
    """An activation file the sensor must not apply, with the reason in an operator's words."""


@dataclass(frozen=True, slots=True)
class Activation:
    id: str
    mode: ManagementMode
    issued_at: datetime
    expires_at: datetime
    address: str
    fingerprint: str
    pairing_key: str | None
    node_id: str | None
    ca_pem: str


def sign(payload: dict[str, Any], ca_key: pki.PrivateKey, ca_cert: x509.Certificate) -> bytes:
    raw = json.dumps({"kind": "otwatch-activation", **payload}, sort_keys=True, default=str).encode()
    sig = ca_key.sign(raw, ec.ECDSA(hashes.SHA256()))
    doc = {
        "format": 1,
        "payload": base64.b64encode(raw).decode(),
        "signature": base64.b64encode(sig).decode(),
        "ca_pem": pki.cert_pem(ca_cert).decode(),
    }
    return json.dumps(doc, indent=2).encode()


def verify(data: bytes, pinned_ca_pem: str | None, now: datetime | None = None) -> Activation:
    """Check the file (signature, signer, expiry); return what it says or raise ActivationError."""
    if len(data) > MAX_FILE_BYTES:
        raise ActivationError("not an activation file (larger than 64 KB)")
    try:
        doc = json.loads(data)
        raw = base64.b64decode(doc["payload"], validate=True)
        sig = base64.b64decode(doc["signature"], validate=True)
        ca = x509.load_pem_x509_certificate(str(doc["ca_pem"]).encode())
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise ActivationError("not an activation file (damaged, or another kind of file)") from exc
    if pinned_ca_pem is not None and pki.fingerprint(ca) != pki.fingerprint(
        pki.load_cert(pinned_ca_pem.encode())
    ):
        raise ActivationError(
            "the activation file was issued by another management console than the one this sensor "
            "is connected to; download it from this sensor's console"
        )
    key = ca.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ActivationError("not an activation file (its signer is not a console CA)")
    try:
        key.verify(sig, raw, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise ActivationError(
            "the activation file's signature is invalid: it was changed after the console signed it"
        ) from exc
    try:
        p = json.loads(raw)
        if p.get("kind") != "otwatch-activation":
            raise ValueError("kind")
        act = Activation(
            id=str(p["id"]), mode=ManagementMode(p["mode"]),
            issued_at=datetime.fromisoformat(p["issued_at"]), expires_at=datetime.fromisoformat(p["expires_at"]),
            address=str(p["console"]["address"]), fingerprint=pki.normalize_fingerprint(p["console"]["fingerprint"]),
            pairing_key=p.get("pairing_key"), node_id=(p.get("sensor") or {}).get("node_id"),
            ca_pem=str(doc["ca_pem"]),
        )  # fmt: skip
    except (ValueError, KeyError, TypeError) as exc:
        raise ActivationError("not an activation file (its content is incomplete)") from exc
    if (now or datetime.now(UTC)) > act.expires_at:
        raise ActivationError(
            f"the activation file expired on {act.expires_at:%Y-%m-%d %H:%M} UTC; download a new one "
            "from the management console"
        )
    if act.mode is ManagementMode.CONSOLE_CONNECTED and not act.pairing_key:
        raise ActivationError("not an activation file (a console-connected activation without a pairing key)")
    return act
