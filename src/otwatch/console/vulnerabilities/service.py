"""Importing CSAF advisories and keeping ``asset_vulnerabilities`` in step with the inventory.

Import: files (or folders, walked recursively) are read one by one; a document already stored is
replaced only by a higher revision (:meth:`otwatch.advisories.csaf.Advisory.newer_than`); a document
that does not read is reported by name and the import goes on. After an import every asset is
matched again; when that finds new matches a system notification says so (and forwarding rules that
report system notifications send it).

Matching reruns for an asset whenever its vendor, model, firmware or order number changes
(:func:`rematch`, called by the check-in path after :func:`otwatch.console.assets.service.ingest`).
The matcher (:class:`otwatch.advisories.match.Catalog`) is built from the stored advisories once per
process and rebuilt when the stored set changes (its count or newest import time).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session, selectinload

from otwatch.advisories import csaf
from otwatch.advisories.match import Catalog, Device, Exposure, Finding
from otwatch.advisories.names import vendor_key
from otwatch.advisories.severity import CvssSeverity
from otwatch.console.assets.models import Asset
from otwatch.console.db import new_id, utcnow
from otwatch.console.forwarding.service import VULNERABILITIES_KIND, enqueue_notification
from otwatch.console.notifications.models import SystemNotification
from otwatch.console.tables import Sorts, sort_by
from otwatch.console.vulnerabilities.models import (
    Advisory,
    AdvisoryCve,
    AdvisoryProduct,
    AssetVulnerability,
)

NOTIFICATION_KIND = VULNERABILITIES_KIND
#: Modbus Read Device Identification's ProductName is a product name, not a host name
PRODUCT_NAME_PROTOCOLS = frozenset({"modbus"})


# --- import ----------------------------------------------------------------------------------------


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, why)
    new_matches: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": [{"file": f, "error": e} for f, e in self.failed],
            "new_matches": self.new_matches,
        }


def advisory_files(paths: Iterable[Path]) -> list[Path]:
    """The JSON files named, and those under the folders named (recursively), in a stable order."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*.json") if f.is_file()))
        else:
            out.append(p)
    return out


def store(db: Session, adv: csaf.Advisory, source: str) -> str:
    """Store one parsed advisory: ``added``, ``updated`` (a higher revision) or ``unchanged``."""
    if len(adv.id) > 100:
        raise csaf.CsafError(f"document.tracking.id is longer than 100 characters: {adv.id[:40]}...")
    row = db.get(Advisory, adv.id)
    if row is not None and not adv.newer_than(row.revision, row.current_release_date):
        return "unchanged"
    outcome = "updated" if row is not None else "added"
    if row is not None:
        db.execute(delete(AdvisoryProduct).where(AdvisoryProduct.advisory_id == adv.id))
        db.execute(delete(AdvisoryCve).where(AdvisoryCve.advisory_id == adv.id))
        db.expire(row)
    else:
        row = Advisory(id=adv.id)
        db.add(row)
    row.title = adv.title[:500]
    row.revision = adv.revision[:40]
    row.current_release_date = adv.current_release_date[:40]
    row.initial_release_date = adv.initial_release_date[:40]
    row.publisher = adv.publisher[:200]
    row.url = adv.url[:1000]
    row.cvss = adv.cvss
    row.revision_history = adv.revision_history
    row.source = source[-1000:]
    row.imported_at = utcnow()
    db.flush()
    db.add_all(
        AdvisoryProduct(
            id=new_id(),
            advisory_id=adv.id,
            position=i,
            product_id=p.product_id[:200],
            name=p.name,
            vendor=p.vendor[:300],
            vendor_key=vendor_key(p.vendor)[:300],
            product=p.product,
            version=p.version,
            version_category=p.version_category,
            model_numbers=list(p.model_numbers),
            status=p.status,
            cves=p.cves,
            cvss=p.cvss,
            fix=p.fix,
            fix_url=p.fix_url[:1000],
            advice=p.advice,
        )
        for i, p in enumerate(adv.products)
    )
    db.add_all(AdvisoryCve(id=new_id(), advisory_id=adv.id, cve=c[:40]) for c in dict.fromkeys(adv.cves))
    return outcome


def import_files(
    db: Session,
    paths: Sequence[Path],
    progress: Callable[[Path, str], None] | None = None,
    batch: int = 100,
) -> ImportReport:
    """Import CSAF files (see the module docstring); ``progress(path, outcome)`` after each one.
    Commits every ``batch`` documents, so a long import keeps what it read if it is stopped."""
    report = ImportReport()
    for n, path in enumerate(paths, 1):
        try:
            adv = csaf.load(path)
            outcome = store(db, adv, str(path))
        except csaf.CsafError as exc:
            report.failed.append((str(path), str(exc)))
            outcome = "failed"
        if outcome != "failed":
            setattr(report, outcome, getattr(report, outcome) + 1)
        if progress is not None:
            progress(path, outcome)
        if n % batch == 0:
            db.commit()
    db.commit()
    if report.added or report.updated:
        report.new_matches = rematch(db)
        db.commit()
    return report


# --- matching --------------------------------------------------------------------------------------

_lock = threading.Lock()
_cached: tuple[tuple[int, Any], Catalog] | None = None


def _generation(db: Session) -> tuple[int, Any]:
    count, newest = db.execute(select(func.count(Advisory.id), func.max(Advisory.imported_at))).one()
    return int(count or 0), newest


def to_advisory(row: Advisory, products: Iterable[AdvisoryProduct], cves: Iterable[str]) -> csaf.Advisory:
    return csaf.Advisory(
        id=row.id,
        title=row.title,
        revision=row.revision,
        current_release_date=row.current_release_date,
        initial_release_date=row.initial_release_date,
        publisher=row.publisher,
        url=row.url,
        cves=list(cves),
        cvss=row.cvss,
        revision_history=list(row.revision_history or []),
        products=[
            csaf.Product(
                product_id=p.product_id,
                name=p.name,
                vendor=p.vendor,
                product=p.product,
                version=p.version,
                version_category=p.version_category,
                model_numbers=tuple(p.model_numbers or ()),
                status=p.status,
                cves=list(p.cves or []),
                cvss=p.cvss,
                fix=p.fix,
                fix_url=p.fix_url,
                advice=p.advice,
            )
            for p in products
        ],
    )


def catalog(db: Session) -> Catalog:
    """The matcher over every stored advisory (built once, rebuilt when the stored set changes)."""
    global _cached
    gen = _generation(db)
    with _lock:
        if _cached is not None and _cached[0] == gen:
            return _cached[1]
    if gen[0] == 0:
        cat = Catalog()
    else:
        rows = db.scalars(select(Advisory)).all()
        products: dict[str, list[AdvisoryProduct]] = {}
        for p in db.scalars(
            select(AdvisoryProduct).order_by(AdvisoryProduct.advisory_id, AdvisoryProduct.position)
        ):
            products.setdefault(p.advisory_id, []).append(p)
        cves: dict[str, list[str]] = {}
        for aid, cve in db.execute(
            select(AdvisoryCve.advisory_id, AdvisoryCve.cve).order_by(AdvisoryCve.cve)
        ):
            cves.setdefault(aid, []).append(cve)
        cat = Catalog(to_advisory(r, products.get(r.id, ()), cves.get(r.id, ())) for r in rows)
    with _lock:
        _cached = (gen, cat)
    return cat


def device_of(asset: Asset) -> Device:
    """What the inventory knows of an asset, as the matcher reads it: vendor, model, firmware, the
    order numbers and product codes its protocols reported, and product names (Modbus ProductName)."""
    orders: list[str] = []
    names: list[str] = []
    extra = asset.extra or {}
    if isinstance(extra.get("product_code"), str):
        orders.append(extra["product_code"])
    for ident in extra.get("identities") or []:
        if not isinstance(ident, dict):
            continue
        more: dict[str, Any] = ident["extra"] if isinstance(ident.get("extra"), dict) else {}
        for key in ("order_number", "product_code"):
            value = more.get(key)
            if isinstance(value, str) and value.strip():
                orders.append(value.strip())
        if ident.get("protocol") in PRODUCT_NAME_PROTOCOLS and isinstance(ident.get("name"), str):
            names.append(ident["name"])
    return Device(
        vendor=asset.vendor,
        model=asset.model,
        firmware=asset.firmware,
        order_numbers=tuple(dict.fromkeys(orders)),
        names=tuple(dict.fromkeys(n for n in names if n != asset.model)),
    )


def identity_key(asset: Asset) -> tuple[object, ...]:
    """What matching depends on: a change of it reruns the match."""
    return device_of(asset).key()


def rematch(db: Session, assets: Iterable[Asset] | None = None, notify: bool = True) -> int:
    """Match ``assets`` (every asset when ``None``) again and store the differences; return how many
    matches are new. New matches raise one system notification."""
    cat = catalog(db)
    if assets is None:
        if len(cat) == 0 and db.scalar(select(func.count(AssetVulnerability.id))) == 0:
            return 0
        targets: list[Asset] = list(db.scalars(select(Asset)))
    else:
        targets = list(assets)
        if not targets:
            return 0
        if len(cat) == 0:
            return 0  # nothing imported: nothing can match, nothing stored to remove
    db.flush()
    ids = [a.id for a in targets]
    held: dict[tuple[str, str], AssetVulnerability] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        for row in db.scalars(select(AssetVulnerability).where(AssetVulnerability.asset_id.in_(chunk))):
            held[(row.asset_id, row.advisory_id)] = row
    now = utcnow()
    new: list[tuple[Asset, Finding]] = []
    seen: set[tuple[str, str]] = set()
    for asset in targets:
        for f in cat.match(device_of(asset)):
            key = (asset.id, f.advisory_id)
            seen.add(key)
            existing = held.get(key)
            if existing is None:
                db.add(_row(asset.id, f, now))
                new.append((asset, f))
            else:
                _update(existing, f, now)
    gone = [row.id for key, row in held.items() if key not in seen]
    for i in range(0, len(gone), 500):
        db.execute(delete(AssetVulnerability).where(AssetVulnerability.id.in_(gone[i : i + 500])))
    db.flush()
    if new and notify:
        _notify(db, new)
    return len(new)


def _row(asset_id: str, f: Finding, now: Any) -> AssetVulnerability:
    row = AssetVulnerability(id=new_id(), asset_id=asset_id, advisory_id=f.advisory_id, first_seen=now)
    _update(row, f, now)
    return row


def _update(row: AssetVulnerability, f: Finding, now: Any) -> None:
    values = {
        "exposure": str(f.exposure),
        "product": f.product,
        "product_id": f.product_id[:200],
        "range": f.range,
        "fixed": f.fixed,
        "reason": f.reason,
        "cves": f.cves,
        "cvss": f.cvss,
    }
    if any(getattr(row, k) != v for k, v in values.items()):
        for k, v in values.items():
            setattr(row, k, v)
        row.updated_at = now


def _notify(db: Session, new: list[tuple[Asset, Finding]]) -> SystemNotification:
    affected = [(a, f) for a, f in new if f.exposure == Exposure.AFFECTED]
    assets = {a.id for a, _ in new}
    advisories = sorted({f.advisory_id for _, f in new})
    top = max((f.cvss or 0.0 for _, f in new), default=0.0)
    shown = ", ".join(advisories[:5]) + (f" and {len(advisories) - 5} more" if len(advisories) > 5 else "")
    title = (
        f"{len(new)} new vulnerability match{'' if len(new) == 1 else 'es'} "
        f"on {len(assets)} asset{'' if len(assets) == 1 else 's'}"
    )
    message = (
        f"Published advisories now concern {len(assets)} assets: {len(affected)} affected, "
        f"{len(new) - len(affected)} possibly affected (firmware unknown). Advisories: {shown}. "
        f"Highest CVSS {top:.1f}."
    )
    n = SystemNotification(
        id=new_id(),
        kind=NOTIFICATION_KIND,
        node_id=None,
        node_name="",
        severity="Major" if affected and top >= 7.0 else "Warning",
        reason=None,
        title=title[:300],
        message=message,
        created_at=utcnow(),
    )
    db.add(n)
    db.flush()
    enqueue_notification(db, n)
    return n


# --- queries ---------------------------------------------------------------------------------------


def severity(cvss: float | None) -> str:
    """CVSS v3 qualitative rating."""
    return str(CvssSeverity.of(cvss))


def where_vulnerable(stmt: Select[Any], filter_: str) -> Select[Any]:
    """Assets with advisories: ``any``, ``affected``, ``possibly_affected``, a CVSS rating (``Critical``
    ... ``Low``: affected with at least that score), or an advisory id. ``none``: no advisory at all."""
    av = AssetVulnerability
    if filter_ == "none":
        return stmt.where(~select(av.id).where(av.asset_id == Asset.id).exists())
    cond = av.asset_id == Asset.id
    if filter_ in (str(Exposure.AFFECTED), str(Exposure.POSSIBLY_AFFECTED)):
        cond = cond & (av.exposure == filter_)
    elif filter_ in {str(s) for s in CvssSeverity if s.floor is not None}:
        cond = cond & (av.exposure == str(Exposure.AFFECTED)) & (av.cvss >= CvssSeverity(filter_).floor)
    elif filter_ != "any":
        cond = cond & (av.advisory_id == filter_)
    return stmt.where(select(av.id).where(cond).exists())


VULNERABILITY_FILTERS = ("any", "affected", "possibly_affected", "Critical", "High", "Medium", "Low", "none")


def for_asset(db: Session, asset_id: str) -> list[AssetVulnerability]:
    stmt = (
        select(AssetVulnerability)
        .where(AssetVulnerability.asset_id == asset_id)
        .order_by(AssetVulnerability.exposure, AssetVulnerability.cvss.desc(), AssetVulnerability.advisory_id)
    )
    return list(db.scalars(stmt))


def summary_by_asset(db: Session, asset_ids: Sequence[str]) -> dict[str, tuple[int, int, float | None]]:
    """asset id -> (affected count, possibly affected count, highest CVSS of affected), one query."""
    if not asset_ids:
        return {}
    affected = func.count(AssetVulnerability.id).filter(AssetVulnerability.exposure == str(Exposure.AFFECTED))
    stmt = (
        select(
            AssetVulnerability.asset_id,
            affected,
            func.count(AssetVulnerability.id),
            func.max(AssetVulnerability.cvss).filter(AssetVulnerability.exposure == str(Exposure.AFFECTED)),
        )
        .where(AssetVulnerability.asset_id.in_(list(asset_ids)))
        .group_by(AssetVulnerability.asset_id)
    )
    return {aid: (int(a or 0), int(n or 0) - int(a or 0), top) for aid, a, n, top in db.execute(stmt)}


#: the Vulnerabilities list's sortable columns (?sort=); CVEs are a list and sort by nothing
SORT_KEYS = ("id", "title", "cvss", "affected", "possibly_affected", "released")


def advisories_query(
    exposure: str | None = None, min_cvss: float | None = None, q: str | None = None, sort: str | None = None
) -> Select[Advisory, int, int]:
    """Advisories that concern at least one asset, with their asset counts, most assets first or by
    ``sort`` (a key of ``SORT_KEYS``, ``-`` first for descending; ValueError for another)."""
    affected = func.count(AssetVulnerability.id).filter(AssetVulnerability.exposure == str(Exposure.AFFECTED))
    possibly = func.count(AssetVulnerability.id).filter(
        AssetVulnerability.exposure == str(Exposure.POSSIBLY_AFFECTED)
    )
    sorts: Sorts = {
        "id": (Advisory.id,),
        "title": (Advisory.title,),
        "cvss": (Advisory.cvss,),
        "affected": (affected,),
        "possibly_affected": (possibly,),
        "released": (Advisory.current_release_date,),
    }
    stmt = (
        select(Advisory, affected.label("affected"), possibly.label("possibly"))
        .join(AssetVulnerability, AssetVulnerability.advisory_id == Advisory.id)
        .group_by(Advisory.id)
        .order_by(affected.desc(), Advisory.cvss.desc().nulls_last(), Advisory.id)
    )
    stmt = sort_by(stmt, sort, sorts, Advisory.id)
    if exposure:
        stmt = stmt.where(AssetVulnerability.exposure == exposure)
    if min_cvss is not None:
        stmt = stmt.where(Advisory.cvss >= min_cvss)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(
            Advisory.id.ilike(like)
            | Advisory.title.ilike(like)
            | Advisory.cves.any(AdvisoryCve.cve.ilike(like))
        )
    return stmt


def assets_by_severity(db: Session) -> dict[str, int]:
    """How many assets have each highest rating among the advisories affecting them, and how many are
    only possibly affected: one grouped query."""
    out = {str(s): 0 for s in CvssSeverity if s is not CvssSeverity.NONE}
    out["Possibly affected"] = 0
    affected = func.max(AssetVulnerability.cvss).filter(AssetVulnerability.exposure == str(Exposure.AFFECTED))
    any_affected = func.count(AssetVulnerability.id).filter(
        AssetVulnerability.exposure == str(Exposure.AFFECTED)
    )
    stmt = select(affected, any_affected).group_by(AssetVulnerability.asset_id)
    for top, n in db.execute(stmt):
        key = str(CvssSeverity.of(top)) if n else "Possibly affected"
        out[key if key in out else str(CvssSeverity.UNKNOWN)] += 1
    return out


def count_rows(db: Session, stmt: Select[*tuple[Any, ...]]) -> int:
    return int(db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0)


def advisory_titles(db: Session, ids: Iterable[str]) -> dict[str, tuple[str, str]]:
    """advisory id -> (title, url), one query."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    stmt = select(Advisory.id, Advisory.title, Advisory.url).where(Advisory.id.in_(wanted))
    return {i: (t, u) for i, t, u in db.execute(stmt)}


def advisory_cves(db: Session, ids: Sequence[str]) -> dict[str, list[str]]:
    """advisory id -> its CVEs, one query."""
    if not ids:
        return {}
    out: dict[str, list[str]] = {}
    stmt = select(AdvisoryCve.advisory_id, AdvisoryCve.cve).where(AdvisoryCve.advisory_id.in_(list(ids)))
    for aid, cve in db.execute(stmt.order_by(AdvisoryCve.cve)):
        out.setdefault(aid, []).append(cve)
    return out


def concerned_assets(
    db: Session, advisory_id: str, limit: int = 1000
) -> list[tuple[AssetVulnerability, Asset]]:
    """The assets an advisory concerns (affected first), with the match."""
    stmt = (
        select(AssetVulnerability, Asset)
        .join(Asset, Asset.id == AssetVulnerability.asset_id)
        .where(AssetVulnerability.advisory_id == advisory_id)
        .order_by(AssetVulnerability.exposure, Asset.ip_num, Asset.ip)
        .limit(limit)
    )
    return [(m, a) for m, a in db.execute(stmt).tuples()]


def advisory_with_products(db: Session, advisory_id: str) -> Advisory | None:
    return db.scalars(
        select(Advisory)
        .where(Advisory.id == advisory_id)
        .options(selectinload(Advisory.products), selectinload(Advisory.cves))
    ).first()
