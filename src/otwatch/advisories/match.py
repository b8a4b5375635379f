"""Which advisories concern a device, and whether it is affected or only possibly affected.

A product of an advisory concerns a device of the same vendor (:func:`~otwatch.advisories.names.
vendors_agree`) when one of these holds, tried in order:

1. **Order numbers decide** when both sides have them: the device's order number (or product code)
   equals one the product lists (its ``model_numbers`` / ``skus`` helper, or an order number written in
   its name), or fits a wildcard the product writes (``6ES7 51x-...``, ``BMXP34*``). A product that
   lists other order numbers is not the device, whatever its name says (``SIPLUS S7-300 CPU 315-2
   PN/DP (6AG1315-...)`` is not a ``6ES7 315-...``). A model written as its order-number family fits
   the wildcard too (``BMX P34`` for ``BMX P34x``).
2. Otherwise by name: the device's order number appears in the product's name; or the device's model
   ends the product's name (``CPU 315-2 PN/DP`` ends ``SIMATIC S7-300 CPU 315-2 PN/DP``, brand and
   series words before it, a parenthesis or a ``V7`` after it); or every distinctive word of the
   product name is one of the device's (``Modicon M340`` for a device that calls itself Modicon M340
   with model BMX P34). A family name (``SIMATIC S7-300 CPU family``) therefore concerns only the
   devices it lists: its words are not a device's model.

When several products of one advisory concern the device, the closest speaks for it (a listed order
number before a wildcard, before a name). The catalog indexes every product under each key a device
can match it by, so a device is compared with a handful of products, not with its vendor's thousand.

Then the firmware (:mod:`otwatch.advisories.versions`): *affected* when it is in an affected
product's range (or the range is all versions); not affected when it is outside every range, or at or
above a version the advisory lists as fixed or not affected for the same product, or (for an
all-versions range) at or above the version the vendor fix asks for. *Possibly affected* when the
firmware is unknown (except for all-versions ranges with no known fix), or the range or the version
could not be read or compared, or the vendor still investigates (``under_investigation``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from otwatch.advisories.csaf import Advisory, Product, fix_version
from otwatch.advisories.names import (
    Pattern,
    compact,
    looks_like_order_number,
    patterns_in,
    tokens,
    vendor_key,
    vendor_keys,
    vendors_agree,
)
from otwatch.advisories.versions import Version, VersionRange


class Exposure(StrEnum):
    AFFECTED = "affected"
    POSSIBLY_AFFECTED = "possibly_affected"


#: words that say what kind of thing a product is, not which one
GENERIC: Final = frozenset(
    [
        "cpu",
        "cpus",
        "plc",
        "plcs",
        "controller",
        "controllers",
        "family",
        "families",
        "series",
        "firmware",
        "software",
        "with",
        "and",
        "or",
        "the",
        "of",
        "for",
        "all",
        "versions",
        "version",
        "device",
        "devices",
        "product",
        "products",
        "incl",
        "including",
        "models",
        "model",
        "variants",
        "variant",
        "type",
        "types",
        "range",
        "based",
        "related",
    ]
)


@dataclass(frozen=True, slots=True)
class Device:
    """What the inventory knows of one device."""

    vendor: str | None
    model: str | None = None
    firmware: str | None = None
    order_numbers: tuple[str, ...] = ()  # S7 order number, Modbus product code, ...
    names: tuple[str, ...] = ()  # other product names the device gives (Modbus ProductName)

    def key(self) -> tuple[object, ...]:
        return (vendor_key(self.vendor), self.model, self.firmware, self.order_numbers, self.names)


@dataclass(slots=True)
class Finding:
    """One advisory concerning one device."""

    advisory_id: str
    title: str
    exposure: Exposure
    product: str  # the advisory's product name that matched
    product_id: str
    range: str  # the affected versions as written ("" when none were given)
    fixed: str  # fixed version, or the vendor's remediation text
    reason: str
    cves: list[str] = field(default_factory=list)
    cvss: float | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.advisory_id,
            "title": self.title,
            "cves": self.cves,
            "cvss": self.cvss,
            "product": self.product,
            "product_id": self.product_id,
            "range": self.range,
            "fixed": self.fixed,
            "reason": self.reason,
            "exposure": str(self.exposure),
        }


@dataclass(slots=True)
class _Entry:
    """A product prepared for matching."""

    advisory: Advisory
    product: Product
    position: int  # in the advisory's product list
    vendors: tuple[str, ...]
    range: VersionRange
    orders: frozenset[str]  # compact order numbers the product lists
    patterns: tuple[Pattern, ...]
    name_tokens: tuple[str, ...]  # the whole name, parentheses included
    tail: tuple[str, ...]  # the name without parentheses and trailing generic / "V7" words
    distinctive: frozenset[str]  # non-generic words outside parentheses
    subset_key: str  # a distinctive word with a digit ("" when none: the subset rule does not apply)
    label_compact: str
    name_compact: str
    fixed_at: Version | None  # the fixed version the vendor_fix text names


_PARENS: Final = re.compile(r"\(([^)]*)\)")


def _prepare(adv: Advisory, p: Product, position: int = 0) -> _Entry:
    label = p.product or p.name
    texts = [label, p.name, *p.model_numbers]
    orders: set[str] = set()
    for number in p.model_numbers:
        if not patterns_in(number):
            orders.add(compact(number))
    for text in (label, p.name):
        for inside in _PARENS.findall(text):
            for chunk in re.split(r"[,;|]|\band\b|\bor\b", inside):
                chunk = re.sub(
                    r"^\s*(?:part\s+numbers?|order\s+(?:no|numbers?)|mlfb|p/?n)\s*[:.]?",
                    "",
                    chunk,
                    flags=re.I,
                )
                if looks_like_order_number(chunk) and not patterns_in(chunk):
                    orders.add(compact(chunk))
    pats: dict[str, Pattern] = {}
    for text in texts:
        for pat in patterns_in(text):
            pats.setdefault(pat.regex.pattern, pat)
    bare = _PARENS.sub(" ", label)
    tail = list(tokens(re.sub(r"\bseries\s+[a-z]\b", " ", bare, flags=re.I)))
    while tail and (tail[-1] in GENERIC or re.fullmatch(r"v\d+", tail[-1])):
        tail.pop()
    rng = VersionRange.parse(p.version) if p.version else VersionRange("", all=True)
    distinctive = frozenset(t for t in tokens(bare) if t not in GENERIC)
    return _Entry(
        advisory=adv,
        product=p,
        position=position,
        vendors=vendor_keys(p.vendor),
        range=rng,
        orders=frozenset(orders),
        patterns=tuple(pats.values()),
        name_tokens=tokens(" ".join((label, p.name))),
        tail=tuple(tail),
        distinctive=distinctive,
        subset_key=min((t for t in distinctive if any(ch.isdigit() for ch in t)), default=""),
        label_compact=compact(label),
        name_compact=compact(p.name),
        fixed_at=fix_version(p.fix),
    )


def _run_in(needle: tuple[str, ...], hay: tuple[str, ...]) -> bool:
    """Whether ``needle`` occurs in ``hay`` as consecutive tokens, compared without token boundaries
    inside the needle (``6ES7 315-2EH14`` occurs in ``6ES7315 2EH14``)."""
    target = "".join(needle)
    if not target:
        return False
    for i in range(len(hay)):
        acc = ""
        for j in range(i, len(hay)):
            acc += hay[j]
            if acc == target:
                return True
            if not target.startswith(acc):
                break
    return False


@dataclass(frozen=True, slots=True)
class _Ident:
    """A device identifier prepared once: as written, compact, and compact from each word on."""

    text: str
    compact: str
    words: tuple[str, ...]
    suffixes: tuple[str, ...]

    @staticmethod
    def of(text: str) -> _Ident:
        words = tokens(text)
        return _Ident(text, "".join(words), words, tuple("".join(words[i:]) for i in range(len(words))))


@dataclass(slots=True)
class _Prepared:
    device: Device
    vendor: str
    orders: tuple[_Ident, ...]  # order numbers the device reports: decisive
    weak: tuple[_Ident, ...]  # models that look like order numbers: tried, not decisive
    shapes: tuple[_Ident, ...]  # the other models, for order-number wildcards only
    models: tuple[tuple[str, tuple[str, ...], str], ...]  # (as written, words without series, compact)
    words: frozenset[str]
    firmware: Version | None


def _prepare_device(d: Device) -> _Prepared:
    orders = tuple(_Ident.of(o) for o in dict.fromkeys(d.order_numbers) if o and compact(o))
    models = tuple(m for m in dict.fromkeys((d.model, *d.names)) if m and m.strip())
    held = {o.compact for o in orders}
    weak = tuple(_Ident.of(m) for m in models if looks_like_order_number(m) and compact(m) not in held)
    shapes = tuple(_Ident.of(m) for m in models if not looks_like_order_number(m) and compact(m) not in held)
    words: set[str] = set()
    for o in orders:
        words.update(o.words)
    for m in models:
        words.update(tokens(m))
    return _Prepared(
        d,
        vendor_key(d.vendor),
        orders,
        weak,
        shapes,
        tuple((m, _model_tokens(m), compact(m)) for m in models),
        frozenset(words),
        Version.parse(d.firmware),
    )


def _model_tokens(m: str) -> tuple[str, ...]:
    """A model's words without a trailing series letter (``1756-ENBT/A`` -> ``1756 enbt``)."""
    mt = tokens(m)
    if len(mt) >= 3 and len(mt[-1]) == 1 and mt[-1].isalpha():
        return mt[:-1]
    return mt


#: an identifier shorter than this is not looked for inside product names
RUN_MIN: Final = 6


def _names_match(dev: _Prepared, e: _Entry) -> tuple[int, str] | None:
    """Why the product is the device (see the module docstring) and how closely (0: its order number
    is listed ... 5: the product's words are all the device's), or ``None``."""
    label = e.product.product or e.product.name
    ids = [("order number", o) for o in dev.orders] + [("model", o) for o in dev.weak]
    if e.orders or e.patterns:
        for kind, o in ids:
            if o.compact in e.orders:
                return 0, f"{kind} {o.text} listed for {label!r}"
            for p in e.patterns:
                if any(p.regex.fullmatch(s) for s in o.suffixes):
                    return 1, f"{kind} {o.text} fits {p.text!r} of {label!r}"
        for shape in dev.shapes:  # a model written as an order-number family: "BMX P34" for "BMX P34x"
            for p in e.patterns:
                if any(p.regex.fullmatch(s) or (p.prefix_only and s == p.fixed) for s in shape.suffixes):
                    return 1, f"model {shape.text!r} fits {p.text!r} of {label!r}"
        if dev.orders:
            return None  # the product lists its order numbers and the device's is not one of them
    for kind, o in ids:
        if len(o.compact) >= RUN_MIN and _run_in(o.words, e.name_tokens):
            return 2, f"{kind} {o.text} in {label!r}"
    for m, mt, mc in dev.models:
        if not mt:
            continue
        if mc == e.label_compact or mc == e.name_compact:
            return 3, f"model {m!r} is {label!r}"
        if (
            len(e.tail) >= len(mt)
            and e.tail[len(e.tail) - len(mt) :] == mt
            and (any(ch.isdigit() for ch in "".join(mt)) or len(mt) >= 2)
        ):
            return 4, f"model {m!r} ends {label!r}"
    if e.subset_key and e.distinctive <= dev.words:
        named = ", ".join([m for m, _, _ in dev.models] + [o.text for o in dev.orders])
        return 5, f"{label!r} names the device ({named})"
    return None


def _keys(e: _Entry) -> set[str]:
    """Index keys under which :meth:`Catalog._candidates` finds ``e``: one per way it can match."""
    keys = {f"o:{o}" for o in e.orders}
    keys.update(f"p:{p.fixed[:3]}" for p in e.patterns)
    toks = e.name_tokens
    keys.update(f"r:{''.join(toks[i:])[:RUN_MIN]}" for i in range(len(toks)))
    keys.update((f"x:{e.label_compact}", f"x:{e.name_compact}"))
    if e.tail:
        keys.add(f"t:{e.tail[-1]}")
    if e.subset_key:
        keys.add(f"d:{e.subset_key}")
    return keys


def _device_keys(dev: _Prepared) -> set[str]:
    keys: set[str] = set()
    for o in (*dev.orders, *dev.weak):
        keys.add(f"o:{o.compact}")
        keys.update(f"p:{s[:3]}" for s in o.suffixes)
        if len(o.compact) >= RUN_MIN:
            keys.add(f"r:{o.compact[:RUN_MIN]}")
    for m in dev.shapes:
        keys.update(f"p:{s[:3]}" for s in m.suffixes)
    for _, mt, mc in dev.models:
        keys.add(f"x:{mc}")
        if mt:
            keys.add(f"t:{mt[-1]}")
    keys.update(f"d:{w}" for w in dev.words)
    return keys


class Catalog:
    """Advisories indexed by the keys a device can match them by, ready to match devices; results are
    cached per identity."""

    def __init__(self, advisories: Iterable[Advisory] = ()) -> None:
        self._index: dict[str, list[_Entry]] = defaultdict(list)
        self.advisories: dict[str, Advisory] = {}
        self._cache: dict[tuple[object, ...], list[Finding]] = {}
        for adv in advisories:
            self.add(adv)

    def add(self, adv: Advisory) -> None:
        self.advisories[adv.id] = adv
        self._cache.clear()
        for i, p in enumerate(adv.products):
            e = _prepare(adv, p, i)
            for k in _keys(e):
                self._index[k].append(e)

    def __len__(self) -> int:
        return len(self.advisories)

    def _candidates(self, dev: _Prepared) -> list[_Entry]:
        if not dev.vendor:
            return []
        seen: dict[int, _Entry] = {}
        for k in _device_keys(dev):
            for e in self._index.get(k, ()):
                seen.setdefault(id(e), e)
        vendor_words = tokens(dev.vendor)
        return [
            e
            for e in seen.values()
            if any(vendors_agree(dev.vendor, v) for v in e.vendors)
            or (not e.vendors and _run_in(vendor_words, e.name_tokens[: len(vendor_words) + 2]))
        ]

    def match(self, device: Device) -> list[Finding]:
        """The advisories concerning ``device``: affected first, then possibly affected, each by
        highest CVSS."""
        key = device.key()
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        dev = _prepare_device(device)
        ranked: dict[str, list[tuple[int, int, _Entry, str]]] = defaultdict(list)
        for e in self._candidates(dev):
            hit = _names_match(dev, e)
            if hit is not None:
                ranked[e.advisory.id].append((hit[0], e.position, e, hit[1]))
        # the closest product of each advisory first (an exact order number before a name's words)
        per_adv = {
            aid: [(e, why) for _, _, e, why in sorted(v, key=lambda x: x[:2])] for aid, v in ranked.items()
        }
        found = [f for matched in per_adv.values() if (f := _judge(dev, matched)) is not None]
        found.sort(key=lambda f: (f.exposure != Exposure.AFFECTED, -(f.cvss or 0), f.advisory_id))
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[key] = found
        return found


def _at_or_above(v: Version, bound: Version) -> bool:
    c = v.compare(bound)
    return c is not None and c >= 0


def _judge(dev: _Prepared, matched: list[tuple[_Entry, str]]) -> Finding | None:
    """One advisory's verdict from the products of it that concern the device."""
    fw = dev.firmware
    affected = [(e, why) for e, why in matched if e.product.status in ("affected", "under_investigation")]
    if not affected:
        return None
    # a version listed as fixed / not affected for the same product: at or above it, not affected
    fixed_versions: list[Version] = []
    for e, _ in matched:
        if e.product.status in ("fixed", "not_affected"):
            for c in e.range.constraints:
                if c.op in ("=", ">=", ">"):
                    fixed_versions.append(c.version)
            if e.product.status == "not_affected" and e.range.contains(fw) is True:
                return None
    if fw is not None and any(_at_or_above(fw, v) for v in fixed_versions):
        return None
    verdicts: list[tuple[bool | None, _Entry, str]] = []
    for e, why in affected:
        inside = e.range.contains(fw)
        if inside and fw is None and e.fixed_at is not None:
            inside = None  # all versions until the fix: the device may run it
        if inside and e.product.status == "under_investigation":
            inside = None  # the vendor has not said yet: possibly
        open_range = e.range.all or not e.range.readable
        if (
            inside
            and open_range
            and fw is not None
            and e.fixed_at is not None
            and _at_or_above(fw, e.fixed_at)
        ):
            inside = False  # the vendor fix names a version at or below the device's
        verdicts.append((inside, e, why))
    chosen = next((v for v in verdicts if v[0] is True), None)
    exposure = Exposure.AFFECTED
    if chosen is None:
        chosen = next((v for v in verdicts if v[0] is None), None)
        exposure = Exposure.POSSIBLY_AFFECTED
    if chosen is None:
        return None
    _, e, why = chosen
    adv = e.advisory
    cves: list[str] = []
    cvss: float | None = None
    for _, ent, _ in verdicts:
        for cve in ent.product.cves:
            if cve not in cves:
                cves.append(cve)
        if ent.product.cvss is not None:
            cvss = ent.product.cvss if cvss is None else max(cvss, ent.product.cvss)
    range_text = e.range.text or "all versions (no version given)"
    if fw is None:
        detail = f"firmware unknown; affected: {range_text}"
    elif exposure == Exposure.AFFECTED:
        detail = f"firmware {fw.text} in {range_text}"
    elif not e.range.readable:
        detail = f"firmware {fw.text}; affected versions not understood: {range_text}"
    else:
        detail = f"firmware {fw.text} not comparable with {range_text}"
    return Finding(
        advisory_id=adv.id,
        title=adv.title,
        exposure=exposure,
        product=e.product.name,
        product_id=e.product.product_id,
        range=e.range.text,
        fixed=_fixed_text(e, fixed_versions),
        reason=f"{why}; {detail}",
        cves=cves or list(adv.cves),
        cvss=cvss if cvss is not None else adv.cvss,
    )


def _fixed_text(e: _Entry, fixed_versions: list[Version]) -> str:
    """The fixed version when the advisory says it (listed as fixed, named by the vendor fix, or the
    range's exclusive upper bound), else the vendor's remediation text."""
    if fixed_versions:
        return ", ".join(v.text for v in fixed_versions)
    if e.fixed_at is not None:
        return e.fixed_at.text
    upper = e.range.upper
    if upper is not None:
        return upper.text
    return e.product.fix or e.product.advice
