"""Vulnerabilities API: the advisories concerning one asset, and every advisory concerning any asset."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import Select

from otwatch.console.assets.models import Asset
from otwatch.console.audit import service as audit
from otwatch.console.deps import SessionDep, SettingsAdmin, Viewer
from otwatch.console.errors import invalid, not_found
from otwatch.console.pagination import Page, PageDep
from otwatch.console.settings import service as settings
from otwatch.console.tables import csv_response, joined
from otwatch.console.vulnerabilities import provider, service
from otwatch.console.vulnerabilities.models import Advisory, AssetVulnerability

router = APIRouter(tags=["vulnerabilities"])

Exposure = Literal["affected", "possibly_affected"]


class FindingOut(BaseModel):
    """One advisory concerning one asset: the fields of ``otwatch console advisories match --json``."""

    id: str
    title: str
    cves: list[str]
    cvss: float | None
    severity: str
    product: str
    product_id: str
    range: str
    fixed: str
    reason: str
    exposure: Exposure
    url: str
    first_seen: datetime


class AssetVulnerabilitiesOut(BaseModel):
    asset_id: str
    affected: list[FindingOut]
    possibly_affected: list[FindingOut]


class AdvisoryOut(BaseModel):
    id: str
    title: str
    cvss: float | None
    severity: str
    cves: list[str]
    url: str
    revision: str
    current_release_date: str
    affected_assets: int
    possibly_affected_assets: int


def finding_out(row: AssetVulnerability, title: str, url: str) -> FindingOut:
    return FindingOut(
        id=row.advisory_id,
        title=title,
        cves=list(row.cves or []),
        cvss=row.cvss,
        severity=service.severity(row.cvss),
        product=row.product,
        product_id=row.product_id,
        range=row.range,
        fixed=row.fixed,
        reason=row.reason,
        exposure="affected" if row.exposure == "affected" else "possibly_affected",
        url=url,
        first_seen=row.first_seen,
    )


@router.get("/api/v1/assets/{asset_id}/vulnerabilities", response_model=AssetVulnerabilitiesOut)
def asset_vulnerabilities(asset_id: str, _: Viewer, db: SessionDep) -> AssetVulnerabilitiesOut:
    """The advisories concerning one asset: affected (firmware in an affected range) and possibly
    affected (firmware unknown or not comparable), each by highest CVSS."""
    if db.get(Asset, asset_id) is None:
        raise not_found("asset")
    rows = service.for_asset(db, asset_id)
    titles = service.advisory_titles(db, {r.advisory_id for r in rows})
    items = [finding_out(r, *titles.get(r.advisory_id, ("", ""))) for r in rows]
    return AssetVulnerabilitiesOut(
        asset_id=asset_id,
        affected=[f for f in items if f.exposure == "affected"],
        possibly_affected=[f for f in items if f.exposure == "possibly_affected"],
    )


def _filters(
    exposure: Annotated[Exposure | None, Query(description="only matches of this kind")] = None,
    min_cvss: Annotated[float | None, Query(ge=0, le=10, description="highest CVSS at least")] = None,
    q: Annotated[str | None, Query(max_length=200, description="advisory id, title or CVE")] = None,
    sort: Annotated[
        str | None,
        Query(
            max_length=30,
            description="column to sort by, - first for descending: " + ", ".join(service.SORT_KEYS),
        ),
    ] = None,
) -> Select[Advisory, int, int]:
    """The Vulnerabilities list's filters and order as one query (the list and its CSV export share it)."""
    try:
        return service.advisories_query(exposure=exposure, min_cvss=min_cvss, q=q, sort=sort)
    except ValueError as exc:
        raise invalid(str(exc)) from exc


FiltersDep = Annotated[Select[Advisory, int, int], Depends(_filters)]


def _advisory_outs(db: SessionDep, rows: Sequence[Any]) -> list[AdvisoryOut]:
    cves = service.advisory_cves(db, [r[0].id for r in rows])
    return [
        AdvisoryOut(
            id=adv.id,
            title=adv.title,
            cvss=adv.cvss,
            severity=service.severity(adv.cvss),
            cves=cves.get(adv.id, []),
            url=adv.url,
            revision=adv.revision,
            current_release_date=adv.current_release_date,
            affected_assets=int(affected or 0),
            possibly_affected_assets=int(possibly or 0),
        )
        for adv, affected, possibly in rows
    ]


EXPORT_COLUMNS: list[tuple[str, Callable[[AdvisoryOut], object]]] = [
    ("Advisory", lambda a: a.id),
    ("Title", lambda a: a.title),
    ("CVSS", lambda a: a.cvss),
    ("Severity", lambda a: a.severity),
    ("CVEs", lambda a: joined(a.cves)),
    ("Affected assets", lambda a: a.affected_assets),
    ("Possibly affected", lambda a: a.possibly_affected_assets),
    ("Released", lambda a: a.current_release_date),
    ("Revision", lambda a: a.revision),
    ("URL", lambda a: a.url),
]


@router.get(
    "/api/v1/vulnerabilities/export", response_class=Response, responses={200: {"content": {"text/csv": {}}}}
)
def export_vulnerabilities(_: Viewer, db: SessionDep, stmt: FiltersDep) -> Response:
    """Every advisory the filters select, in the same order, as CSV (the Vulnerabilities page's Export
    CSV)."""

    def prepare(rows: list[Any]) -> Callable[[Any], AdvisoryOut]:
        outs = {o.id: o for o in _advisory_outs(db, rows)}
        return lambda row: outs[row[0].id]

    return csv_response(db, stmt, EXPORT_COLUMNS, "vulnerabilities.csv", prepare, tuples=True)


@router.get("/api/v1/vulnerabilities", response_model=Page[AdvisoryOut])
def list_vulnerabilities(_: Viewer, db: SessionDep, page: PageDep, stmt: FiltersDep) -> dict[str, object]:
    """Advisories concerning at least one asset, by affected asset count, then CVSS (or by ?sort=)."""
    total = service.count_rows(db, stmt)
    rows = db.execute(stmt.limit(page.limit).offset(page.offset)).all()
    items = _advisory_outs(db, rows)
    return {"items": items, "total": total, "limit": page.limit, "offset": page.offset}


class ProviderIn(BaseModel):
    url: str | None = Field(
        default=None,
        max_length=2000,
        description="provider-metadata.json, a ROLIE feed or a directory URL (https)",
    )
    ca_pem: str | None = Field(default=None, max_length=100_000, description="PEM CA bundle for a private CA")
    sync_hours: float = Field(default=24, ge=1, le=24 * 30)


class ProviderOut(BaseModel):
    url: str | None
    has_ca: bool
    sync_hours: float
    last_sync: dict[str, Any] | None


def _provider_out(db: SessionDep) -> ProviderOut:
    return ProviderOut(
        url=settings.get(db, provider.URL_KEY),
        has_ca=bool(settings.get(db, provider.CA_KEY)),
        sync_hours=float(settings.get(db, provider.HOURS_KEY)),
        last_sync=settings.get(db, provider.LAST_KEY),
    )


@router.get("/api/v1/vulnerabilities/provider", response_model=ProviderOut)
def get_provider(_: Viewer, db: SessionDep) -> ProviderOut:
    """The CSAF provider the console syncs from (none unless configured) and the last sync's result."""
    return _provider_out(db)


@router.put("/api/v1/vulnerabilities/provider", response_model=ProviderOut)
def put_provider(body: ProviderIn, p: SettingsAdmin, db: SessionDep) -> ProviderOut:
    if body.url:
        try:
            provider.https_only(body.url)
        except provider.ProviderError as exc:
            raise invalid(str(exc)) from exc
    settings.put(db, provider.URL_KEY, body.url or None)
    settings.put(db, provider.CA_KEY, body.ca_pem or None)
    settings.put(db, provider.HOURS_KEY, body.sync_hours)
    audit.record(db, p.actor, "advisories.provider_set", body.url or "", sync_hours=body.sync_hours)
    db.commit()
    return _provider_out(db)


@router.post("/api/v1/vulnerabilities/provider/sync", response_model=ProviderOut)
def sync_provider(p: SettingsAdmin, db: SessionDep) -> ProviderOut:
    """Sync now (the background worker syncs on its own every ``sync_hours``)."""
    if not settings.get(db, provider.URL_KEY):
        raise invalid("no CSAF provider URL is configured")
    result = provider.sync_configured(db, force=True)
    audit.record(
        db, p.actor, "advisories.synced", str((result or {}).get("url", "")), ok=(result or {}).get("ok")
    )
    db.commit()
    return _provider_out(db)


# after /provider: "provider" is no advisory id
class ProductOut(BaseModel):
    product_id: str
    vendor: str
    name: str
    versions: str
    status: str
    model_numbers: list[str]
    cves: list[str]
    cvss: float | None
    fix: str
    fix_url: str
    advice: str


class ConcernedAssetOut(BaseModel):
    asset_id: str
    ip: str | None
    name: str | None
    model: str | None
    firmware: str | None
    exposure: Exposure
    product: str
    reason: str


class AdvisoryDetailOut(AdvisoryOut):
    publisher: str
    initial_release_date: str
    revision_history: list[dict[str, str]]
    products: list[ProductOut]
    assets: list[ConcernedAssetOut]


@router.get("/api/v1/vulnerabilities/{advisory_id}", response_model=AdvisoryDetailOut)
def get_vulnerability(advisory_id: str, _: Viewer, db: SessionDep) -> AdvisoryDetailOut:
    """One imported advisory: its products with versions, status and remediation, and the assets it
    concerns with why."""
    adv = service.advisory_with_products(db, advisory_id)
    if adv is None:
        raise not_found("advisory")
    concerned = service.concerned_assets(db, advisory_id)
    return AdvisoryDetailOut(
        id=adv.id,
        title=adv.title,
        cvss=adv.cvss,
        severity=service.severity(adv.cvss),
        cves=[c.cve for c in adv.cves],
        url=adv.url,
        revision=adv.revision,
        current_release_date=adv.current_release_date,
        initial_release_date=adv.initial_release_date,
        publisher=adv.publisher,
        revision_history=list(adv.revision_history or []),
        affected_assets=sum(1 for m, _ in concerned if m.exposure == "affected"),
        possibly_affected_assets=sum(1 for m, _ in concerned if m.exposure != "affected"),
        products=[
            ProductOut(
                product_id=x.product_id, vendor=x.vendor, name=x.name, versions=x.version, status=x.status,
                model_numbers=list(x.model_numbers or []), cves=list(x.cves or []), cvss=x.cvss, fix=x.fix,
                fix_url=x.fix_url, advice=x.advice,
            )
            for x in adv.products
        ],
        assets=[
            ConcernedAssetOut(
                asset_id=a.id, ip=a.ip, name=a.name, model=a.model, firmware=a.firmware,
                exposure="affected" if m.exposure == "affected" else "possibly_affected",
                product=m.product, reason=m.reason,
            )
            for m, a in concerned
        ],
    )  # fmt: skip
