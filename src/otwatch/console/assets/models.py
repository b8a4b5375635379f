"""The console inventory: assets, the protocols they speak, and who discovered them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from otwatch.console.db import ID, Base, new_id, utcnow


class Asset(Base):
    __tablename__ = "assets"
    __table_args__ = (
        Index("ix_assets_ip_mac", "ip", "mac"),
        # the Inventory's order (assets.service.query): the first page is read off the index, not sorted
        Index("ix_assets_ip_num_ip_mac", "ip_num", "ip", "mac"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    ip: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    ip_num: Mapped[int | None] = mapped_column(BigInteger, default=None)  # IPv4 as integer
    mac: Mapped[str | None] = mapped_column(String(17), default=None, index=True)
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    vendor: Mapped[str | None] = mapped_column(String(200), default=None, index=True)
    model: Mapped[str | None] = mapped_column(String(200), default=None)
    firmware: Mapped[str | None] = mapped_column(String(200), default=None)
    serial: Mapped[str | None] = mapped_column(String(200), default=None)
    device_type: Mapped[str | None] = mapped_column(String(50), default=None, index=True)
    type_reason: Mapped[str | None] = mapped_column(String(300), default=None)  # behaviour typing: why
    # only ever the target of probes nobody answered, by every report so far (a sensor's word)
    ghost: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    state: Mapped[str | None] = mapped_column(String(50), default=None)
    os: Mapped[str | None] = mapped_column(String(200), default=None)
    open_ports: Mapped[list[int]] = mapped_column(JSON, default=list)
    modules: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # field -> [source, rank] of the value held (otwatch.inventory.merge.offer decides replacements)
    field_sources: Mapped[dict[str, list[Any]]] = mapped_column(JSON, default=dict, server_default="{}")
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # the copy of a duplicated network the asset lives in (None: an ordinary network). Part of the
    # asset's identity: the same IP or MAC in two copies is two assets (assets.service._Matcher)
    network_copy_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("duplicated_networks.id", ondelete="SET NULL"), default=None, index=True
    )

    protocols: Mapped[list[AssetProtocol]] = relationship(
        back_populates="asset", cascade="all, delete-orphan", lazy="selectin"
    )
    sources: Mapped[list[AssetSource]] = relationship(
        back_populates="asset", cascade="all, delete-orphan", lazy="selectin"
    )


class AssetProtocol(Base):
    __tablename__ = "asset_protocols"
    __table_args__ = (UniqueConstraint("asset_id", "protocol", "role"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    asset_id: Mapped[str] = mapped_column(ID, ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    protocol: Mapped[str] = mapped_column(String(50), index=True)
    role: Mapped[str] = mapped_column(String(16), default="server")  # server | client
    asset: Mapped[Asset] = relationship(back_populates="protocols")


class AssetSource(Base):
    """A discovery source of an asset: the agent or sensor that found it (traceability, per the seed)."""

    __tablename__ = "asset_sources"
    __table_args__ = (UniqueConstraint("asset_id", "node_id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    asset_id: Mapped[str] = mapped_column(ID, ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    node_id: Mapped[str] = mapped_column(ID, ForeignKey("nodes.id", ondelete="CASCADE"), index=True)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    asset: Mapped[Asset] = relationship(back_populates="sources")


class AssetConnection(Base):
    """A conversation between two assets as a sensor saw it: the client asks the server over one
    protocol on one server port. Counts are the sensor's own (absolute): one row per reporting sensor."""

    __tablename__ = "asset_connections"
    __table_args__ = (
        UniqueConstraint("node_id", "client_id", "server_id", "protocol", "transport", "port"),
        Index("ix_asset_connections_client_last_seen", "client_id", "last_seen"),
        Index("ix_asset_connections_server_last_seen", "server_id", "last_seen"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    node_id: Mapped[str] = mapped_column(ID, ForeignKey("nodes.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(ID, ForeignKey("assets.id", ondelete="CASCADE"))
    server_id: Mapped[str] = mapped_column(ID, ForeignKey("assets.id", ondelete="CASCADE"))
    protocol: Mapped[str] = mapped_column(String(50))
    transport: Mapped[str] = mapped_column(String(8))
    port: Mapped[int]
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    packets: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    messages: Mapped[int] = mapped_column(BigInteger, default=0)
    functions: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
