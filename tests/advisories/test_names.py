"""Vendor aliases, order numbers and wildcards."""

from __future__ import annotations

import pytest

from otwatch.advisories.names import (
    compact,
    looks_like_order_number,
    patterns_in,
    vendor_key,
    vendor_keys,
    vendors_agree,
)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Siemens", "Siemens AG"),
        ("Schneider Electric", "Schneider"),
        ("Schneider Electric Software, LLC", "Schneider Electric"),  # how CISA wrote it in 2017-2021
        ("Rockwell Automation", "Allen-Bradley"),
        ("General Electric (GE)", "GE"),
        ("Mitsubishi Electric Corporation", "MITSUBISHI ELECTRIC"),
        ("Phoenix Contact GmbH & Co. KG", "PHOENIX CONTACT"),
    ],
)
def test_vendor_aliases(a: str, b: str) -> None:
    assert vendor_key(a) == vendor_key(b)


def test_vendor_fields_naming_several_companies() -> None:
    assert "rockwell automation" in vendor_keys("Rockwell Automation/Allen-Bradley")
    keys = vendor_keys("ABB, Phoenix Contact, Schneider Electric, Siemens, and WAGO")
    assert {"abb", "phoenix contact", "schneider electric", "siemens", "wago"} <= set(keys)
    assert vendors_agree("schneider electric", "schneider electric industries")
    assert not vendors_agree("siemens", "schneider electric")


def test_order_numbers() -> None:
    assert compact("6ES7 516-3FN01-0AB0") == compact("6ES7516-3FN01-0AB0")
    assert looks_like_order_number("6ES7 315-2EH14-0AB0") and looks_like_order_number("BMX P34 2020")
    assert not looks_like_order_number("Modicon M340") and not looks_like_order_number("V2.9")


@pytest.mark.parametrize(
    ("written", "fits", "does_not_fit"),
    [
        ("6ES7 51x-...", "6ES7 516-3AN01-0AB0", "6ES7 214-1AG40-0XB0"),
        ("BMXP34*", "BMX P34 2020", "BMX NOE 0100"),
        ("M340 CPUs BMX P34x", "BMX P34 2020", "BMX P35 2020"),
        ("EFD-22xx", "EFD-2250", "EFD-2150"),
    ],
)
def test_wildcards(written: str, fits: str, does_not_fit: str) -> None:
    (p,) = patterns_in(written)
    assert p.matches(fits) and not p.matches(does_not_fit)


def test_names_that_only_look_like_wildcards() -> None:
    assert patterns_in("RV50X") == () and patterns_in("(2x 10/100)") == ()
