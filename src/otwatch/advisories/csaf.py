"""CSAF 2.0 security advisories (OASIS, csaf_security_advisory profile) read into plain records.

What is read, by section of the specification:

- ``document.tracking``: ``id`` (e.g. ``ICSA-21-103-02``), ``version`` (the revision: a higher one
  replaces a stored advisory), ``current_release_date``, ``initial_release_date``, ``revision_history``.
- ``product_tree``: ``branches`` walked recursively (vendor -> product_family / product_name ->
  product_version / product_version_range / patch_level / service_pack, any depth), top-level
  ``full_product_names``, and ``relationships`` (a component ``installed_on`` / ``default_component_of``
  a product: the product's model names with the component's versions). A product's
  ``product_identification_helper`` contributes ``model_numbers`` and ``skus`` (order numbers).
- ``vulnerabilities[]``: ``cve``, ``product_status`` (known_affected, first/last_affected, fixed,
  first_fixed, known_not_affected, under_investigation), ``scores[].cvss_v3.baseScore`` (``cvss_v2``
  when there is no v3), ``remediations[]`` (``vendor_fix`` with ``product_ids`` and ``url``; other
  categories as advice).

Each product becomes one :class:`Product` with its status, CVEs, highest CVSS and remediation, so the
matcher needs nothing else. Anything malformed raises :class:`CsafError` with the reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from otwatch.advisories.versions import Version

AFFECTED: Final = ("known_affected", "first_affected", "last_affected")
FIXED: Final = ("fixed", "first_fixed")
NOT_AFFECTED: Final = ("known_not_affected",)
INVESTIGATING: Final = ("under_investigation",)
VERSION_BRANCHES: Final = ("product_version", "product_version_range", "patch_level", "service_pack")


class CsafError(ValueError):
    """A document that is not a readable CSAF 2.0 advisory."""


@dataclass(slots=True)
class Product:
    """One product of an advisory's product tree, with what the vulnerabilities say about it."""

    product_id: str
    name: str  # the full product name
    vendor: str = ""
    product: str = ""  # the product_name (or product_family) branch: what is matched against models
    version: str = ""  # the version branch text: a version, a range, or ""
    version_category: str = ""  # product_version | product_version_range | "" (none given)
    model_numbers: tuple[str, ...] = ()
    status: str = ""  # affected | fixed | not_affected | under_investigation | "" (not mentioned)
    cves: list[str] = field(default_factory=list)
    cvss: float | None = None
    fix: str = ""  # vendor_fix remediation text
    fix_url: str = ""
    advice: str = ""  # other remediations (mitigation, workaround, no_fix_planned, none_available)


@dataclass(slots=True)
class Advisory:
    id: str
    title: str
    revision: str
    current_release_date: str
    initial_release_date: str
    publisher: str
    url: str
    products: list[Product]
    cves: list[str]
    cvss: float | None
    revision_history: list[dict[str, str]]

    def newer_than(self, revision: str | None, release_date: str | None) -> bool:
        """Whether this document supersedes a stored one with ``revision`` and ``release_date``."""
        mine, theirs = Version.parse(self.revision), Version.parse(revision)
        if mine is not None and theirs is not None:
            c = mine.compare(theirs)
            if c:
                return c > 0
        return (self.current_release_date or "") > (release_date or "")


def load(path: Path) -> Advisory:
    """Read one CSAF JSON file."""
    try:
        raw = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CsafError(f"not JSON: {exc}") from exc
    return parse(raw)


def parse(doc: Any) -> Advisory:
    """One CSAF 2.0 document (already decoded JSON) as an :class:`Advisory`; :class:`CsafError` for
    anything that is not one, however it is malformed."""
    try:
        return _parse(doc)
    except CsafError:
        raise
    except (TypeError, AttributeError, KeyError, ValueError, IndexError) as exc:
        raise CsafError(f"malformed document: {exc}") from exc


def _parse(doc: Any) -> Advisory:
    if not isinstance(doc, dict):
        raise CsafError("not a JSON object")
    document = _obj(doc, "document")
    tracking = _obj(document, "tracking")
    adv_id = _str(tracking.get("id"))
    if not adv_id:
        raise CsafError("document.tracking.id is missing")
    csaf_version = _str(document.get("csaf_version"))
    if csaf_version and not csaf_version.startswith("2."):
        raise CsafError(f"csaf_version {csaf_version!r} is not 2.x")
    products = _products(_obj(doc, "product_tree", required=False))
    vulns = doc.get("vulnerabilities", [])
    if not isinstance(vulns, list):
        raise CsafError("vulnerabilities is not a list")
    cves: list[str] = []
    top: float | None = None
    for v in vulns:
        if not isinstance(v, dict):
            raise CsafError("a vulnerability is not an object")
        cve = _str(v.get("cve"))
        if cve and cve not in cves:
            cves.append(cve)
        top = _max(top, _apply_vulnerability(v, cve, products))
    history = [
        {"number": _str(r.get("number")), "date": _str(r.get("date")), "summary": _str(r.get("summary"))}
        for r in tracking.get("revision_history") or []
        if isinstance(r, dict)
    ]
    publisher: dict[str, Any] = document["publisher"] if isinstance(document.get("publisher"), dict) else {}
    return Advisory(
        id=adv_id,
        title=_str(document.get("title")),
        revision=_str(tracking.get("version")) or (history[-1]["number"] if history else ""),
        current_release_date=_str(tracking.get("current_release_date")),
        initial_release_date=_str(tracking.get("initial_release_date")),
        publisher=_str(publisher.get("name")),
        url=_self_url(document),
        products=list(products.values()),
        cves=cves,
        cvss=top,
        revision_history=history,
    )


def _obj(parent: dict[str, Any], key: str, required: bool = True) -> dict[str, Any]:
    value = parent.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise CsafError(f"{key} is missing or not an object")
    return value


def _str(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ("" if value is None else str(value))


def _max(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def _self_url(document: dict[str, Any]) -> str:
    refs = [r for r in document.get("references") or [] if isinstance(r, dict)]
    for r in refs:
        if r.get("category") == "self" and r.get("url"):
            return _str(r["url"])
    for r in refs:
        url = _str(r.get("url"))
        if "cisa.gov" in url or "us-cert" in url:
            return url
    return ""


def _helper_numbers(product: dict[str, Any]) -> tuple[str, ...]:
    helper = product.get("product_identification_helper")
    if not isinstance(helper, dict):
        return ()
    out: list[str] = []
    for key in ("model_numbers", "skus"):
        values = helper.get(key)
        if isinstance(values, list):
            out.extend(_str(v) for v in values if _str(v))
    return tuple(out)


def _products(tree: dict[str, Any]) -> dict[str, Product]:
    out: dict[str, Product] = {}

    def walk(branches: Any, path: list[tuple[str, str]]) -> None:
        if not isinstance(branches, list):
            raise CsafError("product_tree branches is not a list")
        for b in branches:
            if not isinstance(b, dict):
                raise CsafError("a product_tree branch is not an object")
            here = [*path, (_str(b.get("category")), _str(b.get("name")))]
            prod = b.get("product")
            if isinstance(prod, dict):
                _add(out, _from_path(prod, here))
            if b.get("branches") is not None:
                walk(b["branches"], here)

    walk(tree.get("branches") or [], [])
    for fpn in tree.get("full_product_names") or []:
        if isinstance(fpn, dict):
            _add(out, _from_path(fpn, []))
    for rel in tree.get("relationships") or []:
        if isinstance(rel, dict):
            _relationship(out, rel)
    return out


def _add(out: dict[str, Product], p: Product) -> None:
    if not p.product_id:
        raise CsafError(f"product {p.name!r} has no product_id")
    out.setdefault(p.product_id, p)


def _from_path(prod: dict[str, Any], path: list[tuple[str, str]]) -> Product:
    name = _str(prod.get("name"))
    vendor = next((n for c, n in path if c == "vendor"), "")
    product = next((n for c, n in reversed(path) if c == "product_name"), "") or next(
        (n for c, n in reversed(path) if c == "product_family"), ""
    )
    versions = [(c, n) for c, n in path if c in VERSION_BRANCHES and n]
    category = ""
    version = ""
    if versions:
        category = (
            "product_version_range"
            if any(c == "product_version_range" for c, _ in versions)
            else "product_version"
        )
        version = " ".join(n for _, n in versions)
    if not product:
        product = _name_without_version(name)
        if not version:
            version = name[len(product) :].strip(" :,-") if name.startswith(product) else ""
            category = "name" if version else ""
    return Product(
        product_id=_str(prod.get("product_id")),
        name=name or product,
        vendor=vendor,
        product=product,
        version=version,
        version_category=category,
        model_numbers=_helper_numbers(prod),
    )


_VERSION_TAIL: Final = re.compile(
    r"[\s:,\-]+(?:(?:all\s+)?(?:firmware\s+)?versions?\b|v(?=\d)|prior\s+to\b|before\b|<|<=|>|>=|\d+(?:\.\d+)+).*$",
    re.I,
)


def _name_without_version(name: str) -> str:
    """``WebAccess/SCADA: Versions 9.0.1 and prior`` -> ``WebAccess/SCADA``."""
    return _VERSION_TAIL.sub("", name).strip() or name


def _relationship(out: dict[str, Product], rel: dict[str, Any]) -> None:
    fpn = rel.get("full_product_name")
    if not isinstance(fpn, dict):
        raise CsafError("a relationship has no full_product_name")
    component = out.get(_str(rel.get("product_reference")))
    platform = out.get(_str(rel.get("relates_to_product_reference")))
    p = _from_path(fpn, [])
    if component is not None and platform is not None:
        if _str(rel.get("category")) == "optional_component_of":
            component, platform = platform, component
        p.vendor = platform.vendor or component.vendor
        p.product = platform.product or platform.name
        p.version, p.version_category = component.version, component.version_category
        p.model_numbers = (*platform.model_numbers, *component.model_numbers)
    _add(out, p)


def _apply_vulnerability(v: dict[str, Any], cve: str, products: dict[str, Product]) -> float | None:
    status: dict[str, Any] = v["product_status"] if isinstance(v.get("product_status"), dict) else {}
    ranked = (
        ("affected", AFFECTED),
        ("under_investigation", INVESTIGATING),
        ("fixed", FIXED),
        ("not_affected", NOT_AFFECTED),
    )
    affected: set[str] = set()
    for label, keys in ranked:
        for key in keys:
            for pid in status.get(key) or []:
                p = products.get(_str(pid))
                if p is None:
                    continue
                if label == "affected":
                    affected.add(p.product_id)
                if not p.status or _rank(label) < _rank(p.status):
                    p.status = label
    top: float | None = None
    for score in v.get("scores") or []:
        if not isinstance(score, dict):
            continue
        base = _base_score(score)
        if base is None:
            continue
        top = _max(top, base)
        for pid in score.get("products") or []:
            p = products.get(_str(pid))
            if p is not None:
                p.cvss = _max(p.cvss, base)
    for pid in affected:
        p = products[pid]
        if cve and cve not in p.cves:
            p.cves.append(cve)
        if top is not None and not any(
            isinstance(s, dict) and s.get("products") for s in v.get("scores") or []
        ):
            p.cvss = _max(p.cvss, top)
    for rem in v.get("remediations") or []:
        if not isinstance(rem, dict):
            continue
        text = _str(rem.get("details"))
        ids: Iterable[Any] = rem.get("product_ids") or affected
        for pid in ids:
            p = products.get(_str(pid))
            if p is None or not text:
                continue
            if rem.get("category") == "vendor_fix":
                if text not in p.fix:
                    p.fix = f"{p.fix}\n{text}".strip()
                p.fix_url = p.fix_url or _str(rem.get("url"))
            elif text not in p.advice:
                p.advice = f"{p.advice}\n{text}".strip()
    return top


def _rank(label: str) -> int:
    return {"affected": 0, "under_investigation": 1, "fixed": 2, "not_affected": 3}.get(label, 9)


def _base_score(score: dict[str, Any]) -> float | None:
    for key in ("cvss_v3", "cvss_v2"):
        block = score.get(key)
        if isinstance(block, dict):
            value = block.get("baseScore")
            if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 10:
                return float(value)
    return None


_FIX_VERSION: Final = re.compile(
    r"(?:update|upgrade|updating|upgrading|migrate|install|patch)\w*\s+(?:\w+\s+){0,5}?to\s+(?:the\s+)?"
    r"(?:(?:latest|new|firmware|software)\s+)*(?:versions?|v(?=\d)|firmware|release|revision)?\s*"
    r"((?:v|sv)?\d+(?:\.\d+)+\w*(?:\s+(?:sp|update|upd|hf)\s*\d+)*)",
    re.I,
)


def fix_version(text: str) -> Version | None:
    """The version a vendor_fix remediation asks for (``Update to V2.9.2 or later`` -> V2.9.2), when
    it names exactly one."""
    found = {m.group(1).strip() for m in _FIX_VERSION.finditer(text or "")}
    if len(found) != 1 or len(set(re.findall(r"\d+(?:\.\d+)+", text))) != 1:
        return None
    return Version.parse(found.pop())
