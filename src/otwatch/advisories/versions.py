"""Firmware versions and the version ranges advisories write, in all their spellings.

A :class:`Version` is parsed leniently from what devices report and advisories print: ``V2.9.2``,
``2.9.2``, ``v3.01``, ``SV3.51``, ``20.011``, ``R3.09.50``, ``V4.0 SP1``, ``V14 SP1 Update 10``,
``V4.7 HF29``, ``1.070Y``, ``V3.X.16`` (``X``: any value of that component). It compares as a key:

    (scheme, main components, pre-release, service pack, update/hotfix/patch, build)

where each main component is ``(number, letters)`` so ``10.2b`` sorts after ``10.2``, pre-releases
(``beta``, ``rc``) sort before their release, and missing components count as zero (``3.1`` ==
``3.1.0``). Versions of different schemes (a leading word such as ``P007`` against ``3.2``) do not
compare: :meth:`Version.compare` answers ``None`` and the caller says "possibly affected".

A :class:`VersionRange` is a union of intervals read from CSAF ``product_version_range`` names
(``vers:`` strings, section 3.1.2.3 of CSAF 2.0) and from the free text advisories use: ``< V2.9.2``,
``<=``, ``prior to``, ``before``, ``and prior``, ``and later``, ``all versions``, ``>= 7.00 | <= 7.04``,
``All versions >= V2.0 and < V2.2``. Bounds are combined the way the vers specification reads a
constraint list: sorted by version, a lower bound followed by an upper bound is one interval, a bound
with no partner is open on its other side, ``=`` is one version. :meth:`VersionRange.contains` answers
``True``, ``False`` or ``None`` (the range or the version could not be read, or they do not compare).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

#: a main component: number and trailing letters, or a wildcard (``None``) written ``x`` / ``*``
Component = tuple[int, str] | None

_PREFIX: Final = re.compile(
    r"^(?:firmware|version|versions|release|revision|ver|rev|fw|sv|v|r)\s*[.:]?\s*(?=\d)", re.I
)
_MAIN: Final = re.compile(r"(\d+[a-z]*|[x*])(?:[._](\d+[a-z]*|[x*]))*", re.I)
_QUALIFIERS: Final = (
    ("sp", re.compile(r"\b(?:sp|service\s*pack)\s*(\d+)", re.I)),
    ("upd", re.compile(r"(?:\b|(?<=\d))(?:update|upd|u|hf|hotfix|hot\s*fix|patch|p|fp|cu)[\s-]*(\d+)", re.I)),
    ("build", re.compile(r"\b(?:build|b|r)\s*(\d+)", re.I)),
)
_PRE: Final = re.compile(r"\b(alpha|beta|rc|pre|preview)\b|(?<=\d)-?(alpha|beta|rc)", re.I)
_PRE_RANK: Final = {"alpha": -3, "preview": -2, "pre": -2, "beta": -2, "rc": -1}


@dataclass(frozen=True, slots=True)
class Version:
    """A parsed version; ``text`` is what was written."""

    text: str
    scheme: str
    main: tuple[Component, ...]
    pre: int = 0
    sp: int = 0
    upd: int = 0
    build: int = 0

    @staticmethod
    def parse(text: str | None) -> Version | None:
        """The version in ``text``, or ``None`` when there is no number to compare."""
        if not text:
            return None
        return _parse(text.strip())

    @property
    def wildcard(self) -> bool:
        return any(c is None for c in self.main)

    def compare(self, other: Version) -> int | None:
        """-1, 0 or 1 like ``cmp``; ``None`` when the schemes differ. Wildcard components (``x``) of
        either side take the other side's value."""
        if self.scheme != other.scheme:
            return None
        n = max(len(self.main), len(other.main))
        a = list(self.main) + [(0, "")] * (n - len(self.main))
        b = list(other.main) + [(0, "")] * (n - len(other.main))
        for i in range(n):
            x, y = a[i], b[i]
            if x is None or y is None:
                continue
            if x != y:
                return -1 if x < y else 1
        left = (self.pre, self.sp, self.upd, self.build)
        right = (other.pre, other.sp, other.upd, other.build)
        return (left > right) - (left < right)

    def __str__(self) -> str:
        return self.text


@lru_cache(maxsize=65536)
def _parse(text: str) -> Version | None:
    s = text.replace("\u2026", "").strip()
    s = re.sub(r"^(?:firmware|fw)\s+(?:version\s+)?", "", s, flags=re.I)
    s = _PREFIX.sub("", s, count=1)
    m = _MAIN.search(s)
    if m is None or not any(ch.isdigit() for ch in m.group(0)):
        return None
    scheme = re.sub(r"[^a-z]", "", s[: m.start()].lower())
    main: list[Component] = []
    for part in re.split(r"[._]", m.group(0)):
        if part.lower() in ("x", "*"):
            main.append(None)
            continue
        digits = re.match(r"\d+", part)
        assert digits is not None
        main.append((int(digits.group(0)), part[digits.end() :].lower()))
    rest = s[m.end() :]
    pre = 0
    pm = _PRE.search(rest)
    if pm:
        pre = _PRE_RANK[(pm.group(1) or pm.group(2)).lower()]
    quals = {"sp": 0, "upd": 0, "build": 0}
    for name, rx in _QUALIFIERS:
        q = rx.search(rest)
        if q:
            quals[name] = int(q.group(1))
    return Version(text, scheme, tuple(main), pre, quals["sp"], quals["upd"], quals["build"])


Op = str  # one of "<", "<=", ">", ">=", "=", "!="


@dataclass(frozen=True, slots=True)
class Constraint:
    op: Op
    version: Version

    def __str__(self) -> str:
        return f"{self.op}{self.version.text}"

    def satisfied(self, v: Version) -> bool | None:
        c = v.compare(self.version)
        if c is None:
            return None
        return {
            "<": c < 0,
            "<=": c <= 0,
            ">": c > 0,
            ">=": c >= 0,
            "=": c == 0,
            "!=": c != 0,
        }[self.op]


@dataclass(frozen=True, slots=True)
class VersionRange:
    """Affected versions: every version (``all``), a union of constraint groups, or unreadable."""

    text: str
    all: bool = False
    constraints: tuple[Constraint, ...] = ()
    readable: bool = True

    @staticmethod
    def parse(text: str | None) -> VersionRange:
        return _parse_range((text or "").strip())

    @property
    def upper(self) -> Version | None:
        """The highest exclusive upper bound (``< X``): the first fixed version, when the range says so."""
        ups = [c.version for c in self.constraints if c.op == "<"]
        if not ups:
            return None
        best = ups[0]
        for u in ups[1:]:
            if (u.compare(best) or 0) > 0:
                best = u
        return best

    def contains(self, v: Version | None) -> bool | None:
        """Whether ``v`` is in the range; ``None`` when unknown (no version, unreadable or incomparable)."""
        if self.all:
            return True
        if not self.readable or v is None:
            return None
        return _vers_contains(self.constraints, v)

    def __str__(self) -> str:
        return self.text


def _vers_contains(constraints: tuple[Constraint, ...], v: Version) -> bool | None:
    """The vers specification's containment, with unknown comparisons propagated as ``None``."""
    unknown = False
    ranged: list[Constraint] = []
    for c in constraints:
        if c.op in ("=", "!="):
            s = c.satisfied(v)
            if s is None:
                unknown = True
            elif c.op == "=" and s:
                return True
            elif c.op == "!=" and not s:
                return False
        else:
            ranged.append(c)
    if not ranged:
        return None if unknown else not any(c.op == "=" for c in constraints)
    ordered = _sorted(ranged)
    i = 0
    while i < len(ordered):
        c = ordered[i]
        nxt = ordered[i + 1] if i + 1 < len(ordered) else None
        if c.op in (">", ">=") and nxt is not None and nxt.op in ("<", "<="):
            lo, hi = c.satisfied(v), nxt.satisfied(v)
            i += 2
            if lo is None or hi is None:
                unknown = True
            elif lo and hi:
                return True
            continue
        s = c.satisfied(v)  # a bound with no partner is open on the other side
        if s is None:
            unknown = True
        elif s:
            return True
        i += 1
    return None if unknown else False


def _sorted(cs: list[Constraint]) -> list[Constraint]:
    out: list[Constraint] = []
    for c in cs:  # insertion sort: comparisons may be undefined, keep the written order then
        pos = len(out)
        for j, o in enumerate(out):
            cmp = c.version.compare(o.version)
            if cmp is not None and cmp < 0:
                pos = j
                break
        out.insert(pos, c)
    return out


_ALL: Final = re.compile(r"^(?:all(?:\s+(?:versions?|firmware|releases?))?|any|\*|all/\*|-|n/?a)$", re.I)
_OPS: Final = {
    "<": "<",
    "<=": "<=",
    "=<": "<=",
    ">": ">",
    ">=": ">=",
    "=>": ">=",
    "=": "=",
    "==": "=",
    "!=": "!=",
}
_VER: Final = r"((?:v|sv|r|ver\.?|version)?\s*\d[\w.\-]*(?:\s+(?:sp|service pack|update|upd|hf|hotfix|patch|build|p|u)\s*\d+\w*)*)"
_PHRASES: Final = (
    (
        re.compile(
            r"(?:prior\s+to|before|earlier\s+than|older\s+than|lower\s+than|below|up\s+to\s+but\s+not\s+including)\s+(?:versions?\s+|v\s+)?"
            + _VER,
            re.I,
        ),
        "<",
    ),
    (re.compile(r"(?:up\s+to(?:\s+and\s+including)?|through|until)\s+(?:versions?\s+)?" + _VER, re.I), "<="),
    (
        re.compile(
            _VER
            + r"\s*(?:,\s*)?(?:and|or|&)\s+(?:prior|earlier|older|before|below|lower|previous(?:\s+versions?)?)\b",
            re.I,
        ),
        "<=",
    ),
    (
        re.compile(
            _VER + r"\s*(?:,\s*)?(?:and|or|&)\s+(?:later|newer|above|higher|after|greater|up)\b", re.I
        ),
        ">=",
    ),
    (re.compile(r"(?:from|since|starting\s+(?:with|from)|after)\s+(?:versions?\s+)?" + _VER, re.I), ">="),
)
# an operator, maybe a product's name, then the version: "< WinCC 7.2 Upd 15", "< ROS V5.0.1"
_OP_RX: Final = re.compile(
    r"(<=|=<|>=|=>|!=|==|<|>|=)\s*(?:between\s+)?(?:[a-z][\w\-/]*\s+){0,3}?" + _VER, re.I
)
_BARE: Final = re.compile(
    r"(?:v|sv|r|ver\.?|version)?\s*\d+(?:\.\d+)+\w*(?:\s+(?:sp|update|upd|hf)\s*\d+)*", re.I
)
_INCLUSIVE: Final = re.compile(_VER + r"\s*\((including|excluding|inclusive|exclusive)\)", re.I)


def _bound(m: re.Match[str]) -> str:
    """The first "(including)" of a text is a lower bound, a later one an upper bound."""
    whole = m.string
    first = _INCLUSIVE.search(whole)
    is_first = first is not None and first.start() == m.start()
    inclusive = m.group(2).lower().startswith("incl")
    if is_first:
        return (">= " if inclusive else "> ") + m.group(1) + " |"
    return ("<= " if inclusive else "< ") + m.group(1)


_SPAN: Final = re.compile(_VER + r"\s*(?:-|–|to|through)\s*" + _VER + r"$", re.I)


@lru_cache(maxsize=16384)
def _parse_range(text: str) -> VersionRange:
    s = text.strip()
    if not s:
        return VersionRange(text, readable=False)
    if s.lower().startswith("vers:"):
        return _parse_vers(text, s)
    s = _INCLUSIVE.sub(_bound, s)  # "between V3.0 (including) and V3.0.2 (excluding)"
    body = re.sub(r"\([^)]*\)", " ", s).strip() or s
    body = re.sub(
        r"^(?:all\s+versions?|all\s+firmware(?:\s+versions?)?|versions?|firmware(?:\s+versions?)?)\s*[:,]?\s*",
        "",
        body,
        flags=re.I,
    ).strip()
    if (
        not body
        or _ALL.match(body)
        or (re.fullmatch(r"all\s+versions?.*", s, re.I) and not re.search(r"\d", s))
    ):
        return VersionRange(text, all=True)
    constraints: list[Constraint] = []
    listed = [p for p in re.split(r"\s*,\s*(?:and\s+|or\s+)?|\s+and\s+|\s+or\s+", body.rstrip(", ")) if p]
    if len(listed) > 1 and all(_BARE.fullmatch(p) for p in listed):  # "V1.1, V1.2, and V1.3"
        found = [Version.parse(p) for p in listed]
        return VersionRange(text, constraints=tuple(Constraint("=", v) for v in found if v is not None))
    for part in re.split(r"\s*\|\s*|\s*;\s*", body):
        constraints.extend(_parse_part(part))
    if not constraints:
        return VersionRange(text, readable=False)
    return VersionRange(text, constraints=tuple(constraints))


def _parse_part(part: str) -> list[Constraint]:
    p = part.strip().rstrip(",")
    if not p:
        return []
    out: list[Constraint] = []
    taken = p
    for rx, op in _PHRASES:
        for m in rx.finditer(taken):
            v = Version.parse(m.group(1))
            if v is not None:
                out.append(Constraint(op, v))
        taken = rx.sub(" ", taken)
    for m in _OP_RX.finditer(taken):
        v = Version.parse(m.group(2))
        if v is not None:
            out.append(Constraint(_OPS[m.group(1)], v))
    taken = _OP_RX.sub(" ", taken)
    if out:
        return out
    span = _SPAN.search(p)
    if span:
        lo, hi = Version.parse(span.group(1)), Version.parse(span.group(2))
        if lo is not None and hi is not None:
            return [Constraint(">=", lo), Constraint("<=", hi)]
    v = Version.parse(p)
    if v is not None and re.fullmatch(
        r"(?:v|sv|r|ver\.?|version)?\s*\d[\w.\-]*(?:\s+\w+\s*\d*\w*){0,3}", p, re.I
    ):
        return [Constraint("=", v)]
    return []


def _parse_vers(text: str, s: str) -> VersionRange:
    """``vers:<scheme>/<constraint>|<constraint>...`` (the vers specification used by CSAF 2.0)."""
    _, _, rest = s.partition(":")
    _, slash, constraints = rest.partition("/")
    if not slash:
        return VersionRange(text, readable=False)
    constraints = constraints.strip()
    if constraints in ("*", ""):
        return VersionRange(text, all=True)
    out: list[Constraint] = []
    for raw in constraints.split("|"):
        c = raw.strip()
        if not c or c == "*":
            continue
        m = re.match(r"(<=|>=|!=|<|>|=)?\s*(.+)$", c)
        assert m is not None
        v = Version.parse(m.group(2))
        if v is None:
            return VersionRange(text, readable=False)
        out.append(Constraint(m.group(1) or "=", v))
    if not out:
        return VersionRange(text, all=True)
    return VersionRange(text, constraints=tuple(out))
