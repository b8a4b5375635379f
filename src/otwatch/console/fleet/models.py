"""Fleet tables: pairing keys, nodes (agents and sensors), their certificates and commands."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from otwatch.console.db import ID, Base, new_id, utcnow

#: the longest a pairing key is valid, whatever it was created with (keys made before this limit too)
MAX_PAIRING_KEY_DAYS = 365
MAX_PAIRING_KEY_LIFETIME = timedelta(days=MAX_PAIRING_KEY_DAYS)
#: the most nodes one pairing key may pair
MAX_PAIRING_KEY_USES = 100_000  # a fleet paired with one key


class PairingKey(Base):
    __tablename__ = "pairing_keys"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    description: Mapped[str] = mapped_column(String(300), default="")
    address: Mapped[str] = mapped_column(String(255))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    uses: Mapped[int] = mapped_column(default=0)
    # how many enrolments the key allows (a node each; a repair is one too), and the node kind it pairs
    # (None: either, bound to the kind of its first node)
    max_uses: Mapped[int] = mapped_column(default=1, server_default="1")
    kind: Mapped[str | None] = mapped_column(String(16), default=None)


class Node(Base):
    """One paired agent or sensor. Its status is derived (see fleet/status.py), never stored."""

    __tablename__ = "nodes"
    __table_args__ = (Index("ix_nodes_kind_enrolled_at", "kind", "enrolled_at"),)  # the fleet lists' order

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16), index=True)  # agent | sensor
    install_id: Mapped[str] = mapped_column(String(64), unique=True)  # kept across Repair
    name: Mapped[str] = mapped_column(String(200), default="")
    site: Mapped[str] = mapped_column(String(200), default="", server_default="")  # sensors: where it listens
    hostname: Mapped[str] = mapped_column(String(255), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    host_os: Mapped[str] = mapped_column(String(200), default="")
    version: Mapped[str] = mapped_column(String(50), default="")  # agent / sensor software version
    engine_version: Mapped[str] = mapped_column(String(50), default="")  # OTD engine version
    enrolled_via: Mapped[str] = mapped_column(String(100), default="")
    enrolled_at: Mapped[datetime] = mapped_column(default=utcnow)
    approved_at: Mapped[datetime | None] = mapped_column(default=None)
    configured_at: Mapped[datetime | None] = mapped_column(default=None)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    config_version: Mapped[int] = mapped_column(default=0)
    config_acked: Mapped[int] = mapped_column(default=0)
    paused: Mapped[bool] = mapped_column(default=False)
    uninstalled_at: Mapped[datetime | None] = mapped_column(default=None)
    cert_serial: Mapped[str] = mapped_column(String(64), default="", index=True)
    first_seen: Mapped[datetime | None] = mapped_column(default=None)
    last_seen: Mapped[datetime | None] = mapped_column(default=None, index=True)
    clock_skew: Mapped[float] = mapped_column(default=0.0)
    disconnect_reason: Mapped[str | None] = mapped_column(String(300), default=None)
    activity: Mapped[str | None] = mapped_column(String(32), default=None)  # scanning | updating
    progress: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_scan_at: Mapped[datetime | None] = mapped_column(default=None)
    last_scan_duration: Mapped[float | None] = mapped_column(default=None)
    last_scan_result: Mapped[str | None] = mapped_column(String(16), default=None)
    reported_assets: Mapped[int] = mapped_column(default=0)
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # a sensor's latest traffic statistics


class IssuedCertificate(Base):
    """Every client certificate the console CA issued; a revoked serial can no longer check in."""

    __tablename__ = "issued_certificates"

    serial: Mapped[str] = mapped_column(String(64), primary_key=True)
    node_id: Mapped[str] = mapped_column(ID, ForeignKey("nodes.id", ondelete="CASCADE"), index=True)
    public_key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    not_after: Mapped[datetime]
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Command(Base):
    """A command for a node: delivered in a check-in response, answered in a later check-in."""

    __tablename__ = "node_commands"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    node_id: Mapped[str] = mapped_column(ID, ForeignKey("nodes.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    args: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    created_by: Mapped[str] = mapped_column(String(200), default="system")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, default=None)


class DuplicatedNetwork(Base):
    """One copy of a duplicated network: the same address range at several sites, each copy told apart
    by the agent that sees it. The agent scans that copy, and the assets it finds there are the copy's
    (``Asset.network_copy_id``), never merged with the same addresses at another site. While a copy
    names an agent, the agent cannot be deleted (seed rule)."""

    __tablename__ = "duplicated_networks"
    __table_args__ = (
        UniqueConstraint("cidr", "node_id", name="uq_duplicated_networks_cidr_node_id"),
        UniqueConstraint("cidr", "site", name="uq_duplicated_networks_cidr_site"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    node_id: Mapped[str] = mapped_column(ID, ForeignKey("nodes.id", ondelete="RESTRICT"), index=True)
    cidr: Mapped[str] = mapped_column(String(64))
    site: Mapped[str] = mapped_column(String(200), default="", server_default="")
    description: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
