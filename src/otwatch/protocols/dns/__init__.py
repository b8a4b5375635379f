"""DNS (UDP 53), mDNS (UDP 5353) and LLMNR (UDP 5355): one wire format, three protocols.

IT protocols (``ot=False``). DNS itself names no host on the wire that sends it (the Malware engine
reads its queries for indicators); mDNS and LLMNR answers are sent by the host they name, so they
fill the sender's name in the inventory, and mDNS service announcements its services and model.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Final

from otwatch.inventory.identity import Identity
from otwatch.protocols.base import ProtocolSpec, Record
from otwatch.protocols.dns.dissect import dissect_message, plausible
from otwatch.protocols.framing import PerMessage

__all__ = ["SPEC", "SPEC_LLMNR", "SPEC_MDNS", "dissect_message", "identity_from_answers"]

MAX_SERVICES: Final = 16


def _host(name: str) -> str:
    return name.removesuffix(".").removesuffix(".local").split(".")[0]


def identity_from_answers(record: Record) -> Identity | None:
    """The responder's own name from its A/AAAA answers (mDNS, LLMNR), mDNS services and model."""
    if record.direction != "response" or record.malformed:
        return None
    answers: list[dict[str, Any]] = record.fields.get("answers") or []
    name = next((_host(a["name"]) for a in answers if a["type"] in ("A", "AAAA") and a["name"]), None)
    extra: dict[str, Any] = {}
    model = None
    services = sorted(
        {
            a["name"].removesuffix(".local")
            for a in answers
            if a["type"] == "PTR" and a["name"].startswith("_")
        }
    )
    if services:
        extra["mdns_services"] = services[:MAX_SERVICES]
    for a in answers:
        if a["type"] == "TXT" and "_device-info." in a["name"]:
            for part in str(a.get("data", "")).split(" "):
                if part.startswith("model="):
                    model = part[6:] or None
    if name is None and model is None and not extra:
        return None
    return Identity(protocol=record.protocol, name=name or None, model=model, extra=extra)


def _spec(name: str, port: int, identity_from: Callable[[Record], Identity | None]) -> ProtocolSpec:
    return ProtocolSpec(
        name=name,
        transport="udp",
        ports=(port,),
        detect=plausible,
        dissector=partial(PerMessage, partial(dissect_message, protocol=name)),
        identity_from=identity_from,
        ot=False,
    )


SPEC = _spec("dns", 53, lambda record: None)  # answers come from servers, not from the host named
SPEC_MDNS = _spec("mdns", 5353, identity_from_answers)
SPEC_LLMNR = _spec("llmnr", 5355, identity_from_answers)
