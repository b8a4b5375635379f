from __future__ import annotations

import pytest

from otwatch.wire import pki
from otwatch.wire.pairing import PairingKey, PairingKeyError, hash_secret, secret_matches

FP = ":".join(["AB"] * 32)


def test_round_trip() -> None:
    key = PairingKey("10.0.0.5:8443", FP, "k1", "s3cr3t")
    text = key.encode()
    assert text.startswith("OTW1-") and "s3cr3t" not in text
    assert PairingKey.decode(text) == key
    assert PairingKey.decode("  " + text + "\n") == key


@pytest.mark.parametrize("bad", ["", "hello", "OTW1-", "OTW1-!!!!", "OTW1-e30", "OTW1-eyJhIjoiIn0"])
def test_damaged_keys_are_refused_clearly(bad: str) -> None:
    with pytest.raises(PairingKeyError):
        PairingKey.decode(bad)


def test_truncated_key_is_refused() -> None:
    text = PairingKey("h:1", FP, "k", "s").encode()
    with pytest.raises(PairingKeyError, match=r"damaged|incomplete|fingerprint"):
        PairingKey.decode(text[:-10])


def test_secret_hash() -> None:
    h = hash_secret("abc")
    assert secret_matches("abc", h) and not secret_matches("abd", h)


@pytest.mark.parametrize("text", [FP, FP.replace(":", ""), FP.lower(), FP.replace(":", " ")])
def test_fingerprint_forms(text: str) -> None:
    assert pki.normalize_fingerprint(text) == FP


@pytest.mark.parametrize("text", ["", "AB:CD", "ZZ" * 32, FP + ":AB"])
def test_bad_fingerprints(text: str) -> None:
    with pytest.raises(pki.PinError):
        pki.normalize_fingerprint(text)


SHA1 = ":".join(["3F"] * 20)  # 20 octets, as in seed 000's ICP_FINGERPRINT example


@pytest.mark.parametrize("text", [SHA1, SHA1.replace(":", ""), SHA1.lower(), SHA1.replace(":", "-")])
def test_sha1_fingerprints_are_accepted_and_known_as_such(text: str) -> None:
    assert pki.normalize_fingerprint(text) == SHA1
    assert pki.is_sha1(text) and not pki.is_sha1(FP)


def test_a_sha1_pin_is_compared_as_sha1() -> None:
    import hashlib

    der = b"certificate bytes"
    sha1 = ":".join(f"{b:02X}" for b in hashlib.sha1(der).digest())
    assert pki.fingerprint_der(der, like=SHA1) == sha1
    assert pki.fingerprint_der(der) == pki.fingerprint_der(der, like=FP)  # SHA-256 by default
    assert len(pki.fingerprint_der(der).split(":")) == 32


def test_issued_client_certificate_chains_to_ca() -> None:
    ca_key, ca = pki.create_ca()
    key = pki.generate_key()
    cert = pki.issue(ca_key, ca, key.public_key(), "agent:x")
    cert.verify_directly_issued_by(ca)
    assert pki.fingerprint(cert) != pki.fingerprint(ca)
    assert len(pki.fingerprint(cert).split(":")) == 32
