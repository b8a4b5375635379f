"""The one MAC address format of the product: lower-case ``aa:bb:cc:dd:ee:ff``.

Every part keys assets by MAC (the sensor from frames, the agent from its ARP table and SNMP, the
console from reports), so they must write it the same way: a MAC spelt ``AA-BB-...`` by one and
``aa:bb:...`` by another would be two devices.
"""

from __future__ import annotations

__all__ = ["format_mac", "normalise_mac"]


def format_mac(raw: bytes) -> str:
    """Six bytes from the wire as ``aa:bb:cc:dd:ee:ff``."""
    return raw.hex(":")


def normalise_mac(text: object) -> str | None:
    """A MAC as text in any common spelling (``AA-BB-CC-DD-EE-FF``, ``aabb.ccdd.eeff``,
    ``aa:bb:cc:dd:ee:ff``) as ``aa:bb:cc:dd:ee:ff``; None for anything that is not 12 hex digits."""
    if not isinstance(text, str) or not text:
        return None
    digits = "".join(c for c in text if c not in ":-. ").lower()
    if len(digits) != 12 or any(c not in "0123456789abcdef" for c in digits):
        return None
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))
