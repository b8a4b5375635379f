"""Advisories, their products and CVEs, and which assets they concern (``asset_vulnerabilities``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from otwatch.console.db import ID, Base, new_id, utcnow


class Advisory(Base):
    """One CSAF document, as imported: a higher revision replaces it in place."""

    __tablename__ = "advisories"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)  # document.tracking.id
    title: Mapped[str] = mapped_column(String(500), default="")
    revision: Mapped[str] = mapped_column(String(40), default="")
    current_release_date: Mapped[str] = mapped_column(String(40), default="")
    initial_release_date: Mapped[str] = mapped_column(String(40), default="")
    publisher: Mapped[str] = mapped_column(String(200), default="")
    url: Mapped[str] = mapped_column(String(1000), default="")
    cvss: Mapped[float | None] = mapped_column(Float, default=None, index=True)
    revision_history: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(String(1000), default="")  # file or URL it was read from
    imported_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    products: Mapped[list[AdvisoryProduct]] = relationship(
        back_populates="advisory", cascade="all, delete-orphan", order_by="AdvisoryProduct.position"
    )
    cves: Mapped[list[AdvisoryCve]] = relationship(
        back_populates="advisory", cascade="all, delete-orphan", order_by="AdvisoryCve.cve"
    )


class AdvisoryProduct(Base):
    """One product entry of an advisory's product tree with what its vulnerabilities say about it."""

    __tablename__ = "advisory_products"
    __table_args__ = (UniqueConstraint("advisory_id", "product_id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    advisory_id: Mapped[str] = mapped_column(
        String(100), ForeignKey("advisories.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    product_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(Text, default="")
    vendor: Mapped[str] = mapped_column(String(300), default="")
    vendor_key: Mapped[str] = mapped_column(String(300), default="", index=True)
    product: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[str] = mapped_column(Text, default="")
    version_category: Mapped[str] = mapped_column(String(40), default="")
    model_numbers: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(32), default="")
    cves: Mapped[list[str]] = mapped_column(JSON, default=list)
    cvss: Mapped[float | None] = mapped_column(Float, default=None)
    fix: Mapped[str] = mapped_column(Text, default="")
    fix_url: Mapped[str] = mapped_column(String(1000), default="")
    advice: Mapped[str] = mapped_column(Text, default="")

    advisory: Mapped[Advisory] = relationship(back_populates="products")


class AdvisoryCve(Base):
    __tablename__ = "advisory_cves"
    __table_args__ = (UniqueConstraint("advisory_id", "cve"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    advisory_id: Mapped[str] = mapped_column(
        String(100), ForeignKey("advisories.id", ondelete="CASCADE"), index=True
    )
    cve: Mapped[str] = mapped_column(String(40), index=True)

    advisory: Mapped[Advisory] = relationship(back_populates="cves")


class AssetVulnerability(Base):
    """An advisory concerning an asset: affected, or possibly affected (firmware unknown)."""

    __tablename__ = "asset_vulnerabilities"
    __table_args__ = (
        UniqueConstraint("asset_id", "advisory_id"),
        Index("ix_asset_vulnerabilities_exposure_cvss", "exposure", "cvss"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    asset_id: Mapped[str] = mapped_column(ID, ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    advisory_id: Mapped[str] = mapped_column(
        String(100), ForeignKey("advisories.id", ondelete="CASCADE"), index=True
    )
    exposure: Mapped[str] = mapped_column(String(20))  # affected | possibly_affected
    product: Mapped[str] = mapped_column(Text, default="")
    product_id: Mapped[str] = mapped_column(String(200), default="")
    range: Mapped[str] = mapped_column(Text, default="")
    fixed: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    cves: Mapped[list[str]] = mapped_column(JSON, default=list)
    cvss: Mapped[float | None] = mapped_column(Float, default=None)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
