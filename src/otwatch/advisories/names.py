"""Vendor names, product names and order numbers, normalised so an asset and an advisory can agree.

Vendors: lower case, punctuation and corporate suffixes dropped (``Siemens AG`` -> ``siemens``), then
the :data:`VENDOR_ALIASES` table (``Allen-Bradley`` -> ``rockwell automation``). An advisory's vendor
field may name several companies (``Red Lion, AutomationDirect``; ``ICONICS, Mitsubishi Electric``):
:func:`vendor_keys` returns each. Two vendor keys agree when one's words start the other's
(``schneider electric`` and ``schneider electric industries``).

Products: an order number is compared without case, spaces, dashes or dots (:func:`compact`:
``6ES7 516-3FN01-0AB0`` == ``6ES7516-3FN01-0AB0``); wildcards advisories write in order numbers
(``6ES7 51x-...``, ``BMXP34*``, ``EFD-22xx``, ``6SR32..-…``) become :class:`Pattern` s. Names are
compared as word tokens (:func:`tokens`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

#: canonical vendor key -> other spellings (already normalised by :func:`_clean`)
VENDOR_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "siemens": ("siemens energy", "siemens industry", "siemens industrial automation"),
    "schneider electric": ("schneider", "schneider electric software", "telemecanique", "modicon"),
    "rockwell automation": ("allen bradley", "rockwell", "rockwell software"),
    "general electric": (
        "ge",
        "ge digital",
        "ge automation",
        "ge intelligent platforms",
        "ge grid solutions",
    ),
    "mitsubishi electric": ("mitsubishi", "melco"),
    "phoenix contact": ("phoenix", "phoenixcontact"),
    "abb": ("asea brown boveri",),
    "hitachi energy": ("hitachi abb power grids", "abb power grids"),
    "omron": ("omron industrial automation",),
    "wago": ("wago kontakttechnik",),
    "moxa": ("moxa technologies",),
    "beckhoff": ("beckhoff automation",),
    "codesys": ("3s smart software solutions", "3s"),
    "emerson": ("emerson electric", "emerson process management"),
    "honeywell": ("honeywell international", "honeywell process solutions"),
    "yokogawa": ("yokogawa electric",),
    "johnson controls": ("jci",),
    "aveva": ("wonderware",),
    "delta electronics": ("delta",),
    "hms networks": ("hms", "anybus", "ewon"),
    "schweitzer engineering laboratories": ("sel",),
    "b r industrial automation": ("b r", "br automation", "b and r"),
    "automationdirect": ("automation direct",),
    "osisoft": ("osi soft",),
    "wibu systems": ("wibu",),
    "pepperl fuchs": ("pepperl and fuchs",),
    "red lion": ("red lion controls",),
    "national instruments": ("ni",),
    "real time automation": ("rta",),
    "hirschmann": ("belden", "hirschmann automation and control"),
}

_SUFFIXES: Final = frozenset(
    [
        "inc",
        "incorporated",
        "llc",
        "ltd",
        "limited",
        "gmbh",
        "ag",
        "co",
        "kg",
        "kgaa",
        "corp",
        "corporation",
        "company",
        "sa",
        "sas",
        "se",
        "spa",
        "bv",
        "nv",
        "oy",
        "ab",
        "plc",
        "pty",
        "srl",
        "sro",
        "as",
        "asa",
        "kk",
        "group",
        "holdings",
        "holding",
        "international",
        "intl",
        "technologies",
        "technology",
        "software",
    ]
)
_ALIAS_OF: Final[dict[str, str]] = {
    alias: canon for canon, aliases in VENDOR_ALIASES.items() for alias in (canon, *aliases)
}


def _clean(name: str) -> str:
    text = re.sub(r"\([^)]*\)", " ", name.lower().replace("&", " ").replace("+", " "))  # "(GE)"
    words = re.sub(r"[^a-z0-9]+", " ", text).split()
    while len(words) > 1 and words[-1] in _SUFFIXES:
        words.pop()
    return " ".join(words)


@lru_cache(maxsize=8192)
def vendor_key(name: str | None) -> str:
    """The canonical key of one vendor name (empty when there is none)."""
    if not name:
        return ""
    cleaned = _clean(name)
    if cleaned in _ALIAS_OF:
        return _ALIAS_OF[cleaned]
    abbrev = re.search(r"\(([^)]+)\)", name)  # "Schweitzer Engineering Laboratories, Inc. (SEL)"
    if abbrev and _clean(abbrev.group(1)) in _ALIAS_OF:
        return _ALIAS_OF[_clean(abbrev.group(1))]
    return cleaned


@lru_cache(maxsize=8192)
def vendor_keys(field: str | None) -> tuple[str, ...]:
    """Every vendor an advisory's (or an asset's) vendor field names: split on commas, slashes and
    "and", corporate suffixes left out, aliases resolved; the whole field is kept as well."""
    if not field:
        return ()
    out: list[str] = []
    whole = vendor_key(field)
    if whole:
        out.append(whole)
    for part in re.split(r",|/|;|\band\b|\bformerly\b", re.sub(r"\([^)]*\)", " ", field), flags=re.I):
        key = vendor_key(part)
        if key and key not in _SUFFIXES and key not in out and key not in ("multiple", "open source"):
            out.append(key)
    return tuple(out)


def vendors_agree(a: str, b: str) -> bool:
    """Whether two vendor keys name the same company (equal, or one's words start the other's)."""
    if a == b:
        return True
    if not a or not b:
        return False
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return long.startswith(short + " ")


def compact(text: str) -> str:
    """Case, spaces, dashes, dots and slashes removed: ``6ES7 516-3FN01-0AB0`` -> ``6es75163fn010ab0``."""
    return re.sub(r"[^0-9a-z]", "", text.lower())


def tokens(text: str) -> tuple[str, ...]:
    """Lower-case word tokens: ``CPU 315-2 PN/DP`` -> ``("cpu", "315", "2", "pn", "dp")``."""
    return tuple(re.findall(r"[0-9a-z]+", text.lower()))


def looks_like_order_number(text: str) -> bool:
    """An identifier long and mixed enough not to occur by chance: 8+ letters and digits, at least
    three digits and one letter, no word of five letters or more (``6ES7 315-2EH14-0AB0``,
    ``BMX P34 2020``, ``1756-ENBT/A``; not ``Modicon M340``)."""
    c = compact(text)
    digits = sum(ch.isdigit() for ch in c)
    words = any(t.isalpha() and len(t) >= 5 for t in tokens(text))  # "Modicon M340" is a name
    return len(c) >= 8 and 3 <= digits < len(c) and not words


#: a token holding a wildcard: "*", "?", "…", two dots, or a lower-case "x" after a digit or an x
#: (an upper-case X after a digit is usually part of the name: "RV50X")
_WILDCARD_TOKEN: Final = re.compile(
    r"(?:\b[0-9A-Z]*\d[0-9A-Z]*\s)?"  # an order number's first group written apart: "6ES7 51x-..."
    r"[0-9A-Za-z][0-9A-Za-z\-/.]*(?:\*|\?|…|\.\.|(?<=[0-9x])x|(?<=[0-9X])XX)[0-9A-Za-z\-/.*?…]*"
)


@dataclass(frozen=True, slots=True)
class Pattern:
    """An order-number pattern: ``text`` as written, ``regex`` over :func:`compact` identifiers."""

    text: str
    regex: re.Pattern[str]
    fixed: str  # the literal characters before the first wildcard
    prefix_only: bool = False  # nothing literal after ``fixed``: "P34x", "BMXP34*", "6ES7 51x-..."

    def matches(self, ident: str) -> bool:
        """Whether the identifier, from any of its word boundaries on, fits the pattern (``P34x``
        fits ``BMX P34 2020`` from ``P34``)."""
        toks = tokens(ident)
        return any(self.regex.fullmatch("".join(toks[i:])) for i in range(len(toks)))


@lru_cache(maxsize=16384)
def pattern(text: str) -> Pattern | None:
    """The pattern in one wildcard token, or ``None`` when too little of it is literal (``2x``)."""
    s = text.strip("()[],;:")
    out: list[str] = []
    fixed = ""
    literal = True
    i = 0
    while i < len(s):
        ch = s[i]
        if ch in "*…":
            out.append("[0-9a-z]*")
            literal = False
        elif (
            ch in "?"
            or (ch == "." and (s[i - 1 : i] == "." or s[i + 1 : i + 2] == "."))
            or (ch in "xX" and i > 0 and (s[i - 1].isdigit() or s[i - 1] in "xX?.*"))
        ):
            out.append("[0-9a-z]")
            literal = False
        elif ch.isalnum() and ch.isascii():
            out.append(re.escape(ch.lower()))
            if literal:
                fixed += ch.lower()
        i += 1
    if len(fixed) < 3 or not any(c.isdigit() for c in fixed) or literal:
        return None
    body = "".join(out)
    if s.endswith(("*", "x", "X", "…", ".", "?")):
        body += "[0-9a-z]*"  # a trailing wildcard leaves the rest open (BMX P34x: P342020)
    prefix_only = all(part == "[0-9a-z]" or part == "[0-9a-z]*" for part in out[len(fixed) :])
    return Pattern(text, re.compile(body), fixed, prefix_only)


def patterns_in(text: str) -> tuple[Pattern, ...]:
    """The order-number patterns written in a product name or model-number helper."""
    out = []
    for m in _WILDCARD_TOKEN.finditer(text):
        p = pattern(m.group(0))
        if p is not None:
            out.append(p)
    return tuple(out)
