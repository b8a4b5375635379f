"""Versions and version ranges as the shared advisories write them (each case names its document)."""

from __future__ import annotations

import pytest

from otwatch.advisories.versions import Version, VersionRange


def v(text: str) -> Version:
    parsed = Version.parse(text)
    assert parsed is not None, text
    return parsed


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("V2.9.2", "2.9.2", 0),  # the "V" is decoration
        ("v3.01", "3.1", 0),  # components are numbers: 3.01 == 3.1
        ("v3.10", "v3.01", 1),  # ... so 3.10 is after 3.01 (Modicon M340, icsa-19-183-01)
        ("SV3.51", "V3.6", 1),  # "SV" is Schneider's "software version"
        ("20.011", "20.9", 1),
        ("R3.09.50", "R3.10.00", -1),  # Yokogawa's R-prefixed releases
        ("V4.0 SP1", "V4.0", 1),  # a service pack is after its release
        ("V4.0 SP1", "V4.1", -1),
        ("V14 SP1 Update 10", "V14 SP1", 1),
        ("V14 SP1 Update 10", "V14 SP2", -1),
        ("V4.7 HF29", "V4.7 HF34", -1),  # hotfixes (icsa-19-134-07 "< V4.7 HF34" style)
        ("10.2b", "10.2", 1),  # a letter after a number: a later build
        ("7.2.1-Beta", "7.2.1", -1),  # a pre-release before its release
        ("3.1", "3.1.0", 0),  # missing components are zero
    ],
)
def test_version_order(a: str, b: str, expected: int) -> None:
    assert v(a).compare(v(b)) == expected
    assert v(b).compare(v(a)) == -expected


def test_versions_of_different_schemes_do_not_compare() -> None:
    assert v("P007").compare(v("3.2")) is None  # a letter-led scheme against a number
    assert Version.parse("all") is None and Version.parse("") is None and Version.parse(None) is None


# (range as written, document it comes from, inside, outside)
REAL_RANGES = [
    ("<= 9.0.1", "icsa-21-103-02 WebAccess/SCADA", ["9.0.1", "8.3"], ["9.0.2", "9.0.3"]),
    (
        "vers:all/<V3.2.16",
        "icsa-18-079-02 SIMATIC S7-300 CPU 315-2 PN/DP",
        ["V3.2.7", "V3.2.15"],
        ["V3.2.16", "V3.3.0"],
    ),
    (
        "< V3.X.17",
        "icsa-20-042-05 SIMATIC S7-300 CPU 315-2 PN/DP",
        ["V3.2.7", "V3.3.16"],
        ["V3.2.17", "V3.3.17"],
    ),
    ("< 3.01", "icsa-19-183-01 Modicon M340", ["v2.9", "v3.00"], ["v3.01", "v3.10"]),
    ("< 2.9", "icsa-17-054-03 M340 CPUs with firmware", ["2.8"], ["2.9", "v3.10"]),
    ("vers:all/*", "icsa-18-086-01 Modicon M340", ["v3.10", "1"], []),
    (
        "vers:all/<V5.1 SP1 HF8",
        "a Siemens range with service pack and hotfix",
        ["V5.1 SP1 HF7", "V5.0"],
        ["V5.1 SP1 HF8", "V5.2"],
    ),
    (">= 7.00 | <= 7.04", "bounds joined by '|' form one interval", ["7.00", "7.03"], ["6.9", "7.05"]),
    (
        "All Versions >= V2.0 and < V2.2",
        "lower and upper bound in words",
        ["V2.0", "V2.1.9"],
        ["V1.9", "V2.2"],
    ),
    (">= V03.00.12 < 03.00.18", "bounds without a separator", ["V03.00.12", "3.0.17"], ["3.0.11", "3.0.18"]),
    (
        "All versions between V3.0 (including) and V3.0.2 (excluding)",
        "(including)/(excluding)",
        ["V3.0", "V3.0.1"],
        ["V2.9", "V3.0.2"],
    ),
    ("V1.1, V1.2, and V1.3", "a list of versions", ["V1.2"], ["V1.4", "V1.1.1"]),
    ("<=2.x", "a wildcard component", ["2.0", "2.11"], ["3.0"]),
    (
        "All versions < V14 SP1 Update 10",
        "Update after SP",
        ["V14 SP1 Update 9", "V14"],
        ["V14 SP1 Update 10", "V15"],
    ),
    ("< V4.0 SP1", "a service pack as the fix", ["V4.0"], ["V4.0 SP1", "V4.1"]),
    ("prior to v3.01", "'prior to'", ["v3.00"], ["v3.01"]),
    ("9.0.1 and prior", "'and prior'", ["9.0.1"], ["9.0.2"]),
    ("V4.0 and later", "'and later'", ["V4.0", "V5"], ["V3.9"]),
    ("before 2.9.2", "'before'", ["2.9.1"], ["2.9.2"]),
    ("vers:generic/<2.9.2", "CSAF vers, generic scheme", ["2.9.1"], ["2.9.2"]),
    ("vers:intdot/>=1.0|<2.0", "CSAF vers interval", ["1.0", "1.9.9"], ["0.9", "2.0"]),
    ("< 19.0.1 | < 18.0.1 | < 15.0.1", "several fixed branches: the union", ["18.0.0", "14.9"], ["19.0.1"]),
]


@pytest.mark.parametrize(("text", "where", "inside", "outside"), REAL_RANGES, ids=[r[0] for r in REAL_RANGES])
def test_ranges_written_in_the_advisories(
    text: str, where: str, inside: list[str], outside: list[str]
) -> None:
    r = VersionRange.parse(text)
    assert r.readable, where
    for version in inside:
        assert r.contains(v(version)) is True, f"{version} in {text} ({where})"
    for version in outside:
        assert r.contains(v(version)) is False, f"{version} not in {text} ({where})"


def test_all_versions_and_unknowns() -> None:
    assert VersionRange.parse("All versions").all and VersionRange.parse("vers:all/*").all
    assert VersionRange.parse("vers:all/*").contains(None) is True  # every version, known or not
    assert VersionRange.parse("< V2.9.2").contains(None) is None  # firmware unknown
    unreadable = VersionRange.parse("numbers ending ...9A ...9B")  # icsa-18-? (text, not versions)
    assert not unreadable.readable and unreadable.contains(v("1.0")) is None
    assert VersionRange.parse("< P010").contains(v("3.2")) is None  # schemes differ: cannot tell


def test_upper_bound_is_the_fixed_version() -> None:
    upper = VersionRange.parse("vers:all/<V3.2.16").upper
    assert upper is not None and upper.text == "V3.2.16"
    assert VersionRange.parse("<= 9.0.1").upper is None
