"""OPC UA binary (UA TCP, port 4840): passive dissection only.

The agent does not query OPC UA: a session needs certificates and user policy negotiation that a
read-only scanner should not attempt against a controller. The sensor learns a server's identity from
the GetEndpoints and CreateSession answers it sees (application name, product and application URIs).
"""

from __future__ import annotations

from typing import Any, Final

from otwatch.inventory.identity import Identity
from otwatch.protocols.base import ProtocolSpec, Record
from otwatch.protocols.opcua import codes
from otwatch.protocols.opcua.dissect import OpcUaDissector, dissect

__all__ = ["SPEC", "OpcUaDissector", "detect", "dissect", "identity_from"]

#: Product URI fragment -> vendor, for the stacks and devices commonly met on plant networks.
PRODUCT_VENDORS: Final = (
    ("siemens", "Siemens"),
    ("unifiedautomation", "Unified Automation"),
    ("beckhoff", "Beckhoff"),
    ("br-automation", "B&R"),
    ("prosysopc", "Prosys OPC"),
    ("open62541", "open62541"),
    ("freeopcua", "FreeOpcUa"),
    ("kepware", "PTC Kepware"),
    ("rockwell", "Rockwell Automation"),
    ("schneider", "Schneider Electric"),
    ("opcfoundation", "OPC Foundation"),
    ("inductiveautomation", "Inductive Automation"),
    ("wago", "WAGO"),
    ("codesys", "CODESYS"),
    ("phoenixcontact", "Phoenix Contact"),
)


def detect(payload: bytes) -> bool:
    """A known message type, a final chunk for the connection messages, and a sane size."""
    if len(payload) < codes.HEADER_SIZE:
        return False
    mtype = payload[:3]
    if mtype not in codes.MESSAGE_TYPES or payload[3] not in codes.CHUNK_TYPES:
        return False
    size = int.from_bytes(payload[4:8], "little")
    if mtype in (b"HEL", b"ACK"):
        return payload[3] == ord("F") and 28 <= size <= 4096 + 32
    return 16 <= size <= codes.MAX_MESSAGE


def vendor_of(product_uri: str | None) -> str | None:
    if not product_uri:
        return None
    low = product_uri.lower().replace(".", "").replace("-", "")
    for fragment, vendor in PRODUCT_VENDORS:
        if fragment.replace("-", "") in low:
            return vendor
    return None


def identity_from(record: Record) -> Identity | None:
    """A server's self-description (GetEndpoints / CreateSession answers) or a client's (CreateSession)."""
    fields = record.fields
    app: dict[str, Any] | None = (
        fields.get("server") if record.direction == "response" else fields.get("client")
    )
    if not app:
        return None
    extra = {f"opcua_{k}": v for k, v in app.items() if k != "discovery_urls"}
    if record.direction == "response":
        if fields.get("endpoint_url"):
            extra["opcua_endpoint_url"] = fields["endpoint_url"]
        return Identity(
            protocol="opcua",
            vendor=vendor_of(app.get("product_uri")),
            name=app.get("application_name"),
            extra=extra,
        )
    return Identity(protocol="opcua", extra=extra)


SPEC = ProtocolSpec(
    name="opcua",
    transport="tcp",
    ports=(codes.PORT,),
    detect=detect,
    dissector=OpcUaDissector,
    identity_from=identity_from,
)
