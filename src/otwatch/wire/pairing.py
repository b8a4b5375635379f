"""The pairing key: one opaque string carrying console address, certificate pin and a secret.

Format: ``OTW1-`` + base64url(JSON {"a": address, "f": fingerprint hex, "i": key id, "s": secret}).
The console stores only SHA-256 of the secret. The pin lets the enrolling side refuse a console whose
certificate differs before any secret leaves the machine.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from otwatch.wire.pki import PinError, normalize_fingerprint

PREFIX = "OTW1-"


class PairingKeyError(ValueError):
    """The pairing key string cannot be read."""


@dataclass(frozen=True, slots=True)
class PairingKey:
    address: str
    fingerprint: str
    key_id: str
    secret: str

    def encode(self) -> str:
        body = {"a": self.address, "f": self.fingerprint.replace(":", ""), "i": self.key_id, "s": self.secret}
        raw = json.dumps(body, separators=(",", ":")).encode()
        return PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> PairingKey:
        text = text.strip()
        if not text.startswith(PREFIX):
            raise PairingKeyError("not an OTWatch pairing key (it should start with 'OTW1-')")
        payload = text[len(PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            body = json.loads(raw)
            key = cls(
                address=str(body["a"]),
                fingerprint=normalize_fingerprint(str(body["f"])),
                key_id=str(body["i"]),
                secret=str(body["s"]),
            )
        except (binascii.Error, ValueError, KeyError, TypeError) as exc:
            if isinstance(exc, PinError):
                raise PairingKeyError(f"pairing key carries a bad fingerprint: {exc}") from exc
            raise PairingKeyError("pairing key is damaged (was it copied completely?)") from exc
        if not key.address or not key.key_id or not key.secret:
            raise PairingKeyError("pairing key is incomplete")
        return key


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """Secrets here are 256-bit random, so a plain SHA-256 is as strong as a slow hash."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
