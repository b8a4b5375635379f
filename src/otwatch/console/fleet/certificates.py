"""Which node a client certificate belongs to: the check-in's first question, with a per-process cache
of serial -> node id that every revocation (repair, delete, goodbye) keeps honest."""

from __future__ import annotations

from sqlalchemy.orm import Session, defer

from otwatch.console.errors import APIError
from otwatch.console.fleet.models import IssuedCertificate, Node

__all__ = ["cached_node_id", "forget_serials", "node_for_certificate"]

#: certificate serial -> node id, learnt from IssuedCertificate (a hint, checked against the node row)
_SERIAL_NODE: dict[str, str] = {}
_SERIAL_CACHE_MAX = 50_000


# A check-in rarely needs a node's JSON: the configuration only when it is newer than the node's,
# the statistics never (a report replaces them). Parsing a sensor's statistics at every check-in
# cost more than the rest of the row; they load on first access when needed.
_CHECKIN_LOAD = (defer(Node.stats), defer(Node.config))


def node_for_certificate(db: Session, serial: str) -> Node:
    """The node a client certificate belongs to, or 401 when it is unknown or revoked.

    Check-ins call this every time, so the serial -> node id mapping is cached in the process, but
    never trusted alone: the node row read anyway must still name this serial as its current
    certificate and not be uninstalled. Every revocation goes with one of these (repair issues a new
    serial, delete removes the row, goodbye marks it uninstalled), so a revocation made by any
    console process is seen at once; anything else falls back to the IssuedCertificate row.
    """
    node_id = _SERIAL_NODE.get(serial)
    if node_id is not None:
        node = db.get(Node, node_id, options=_CHECKIN_LOAD)
        if node is not None and node.cert_serial == serial and node.uninstalled_at is None:
            return node
        _SERIAL_NODE.pop(serial, None)
    cert = db.get(IssuedCertificate, serial)
    if cert is None or cert.revoked_at is not None:
        raise APIError(401, "certificate_revoked", "client certificate is unknown or revoked; pair again")
    node = db.get(Node, cert.node_id)
    if node is None:
        raise APIError(401, "certificate_revoked", "node was deleted; pair again")
    if node.cert_serial == serial and node.uninstalled_at is None:
        if len(_SERIAL_NODE) >= _SERIAL_CACHE_MAX:
            _SERIAL_NODE.clear()
        _SERIAL_NODE[serial] = node.id
    return node


def cached_node_id(serial: str) -> str | None:
    """The node id cached for a certificate serial (unverified: see `node_for_certificate`)."""
    return _SERIAL_NODE.get(serial)


def forget_serials(node: Node) -> None:
    """Drop the node's cached serial (revoked); other processes see the changed row instead."""
    _SERIAL_NODE.pop(node.cert_serial, None)
