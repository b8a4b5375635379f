"""Whatever a document or a device says, reading and matching answer; they never raise."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otwatch.advisories import csaf
from otwatch.advisories.match import Catalog, Device
from otwatch.advisories.names import patterns_in, vendor_keys
from otwatch.advisories.versions import Version, VersionRange
from tests.budget import examples

FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=examples(300))

# text made of what version strings and product names are made of, and anything else
PIECES = st.sampled_from(
    ["V", "v", "SV", "R", "x", "X", "*", "?", ".", "..", "…", "-", "/", " ", "<", "<=", ">", ">=", "=", "|",
     "vers:", "vers:intdot/", "all", "versions", "prior to", "and later", "SP", "Update", "HF", "(", ")",
     "including", "excluding", ",", "and", "6ES7", "BMX", "P34", "0", "1", "2", "9", "10", "315", "2EH14"]
)  # fmt: skip
#: the CSAF keys, so generated documents get deep enough to exercise the reader
KEYS = ["document", "tracking", "id", "version", "title", "publisher", "name", "references", "category", "url",
        "revision_history", "number", "date", "csaf_version", "product_tree", "branches", "product",
        "product_id", "product_identification_helper", "model_numbers", "skus", "full_product_names",
        "relationships", "product_reference", "relates_to_product_reference", "full_product_name",
        "vulnerabilities", "cve", "product_status", "known_affected", "fixed", "known_not_affected",
        "scores", "cvss_v3", "baseScore", "products", "remediations", "details", "product_ids"]  # fmt: skip
TEXT = st.one_of(st.text(max_size=40), st.lists(PIECES, max_size=12).map("".join))


@FUZZ
@given(TEXT, TEXT)
def test_versions_and_ranges_never_raise(a: str, b: str) -> None:
    va, vb = Version.parse(a), Version.parse(b)
    if va is not None and vb is not None:
        assert va.compare(vb) in (-1, 0, 1, None)
    r = VersionRange.parse(a)
    assert r.contains(vb) in (True, False, None)
    r.upper  # noqa: B018
    patterns_in(a)
    vendor_keys(a)


def _doc(vendor: str, product: str, version: str, model: str) -> dict[str, Any]:
    prod: dict[str, Any] = {"name": f"{product} {version}", "product_id": "P1",
                            "product_identification_helper": {"model_numbers": [model]}}  # fmt: skip
    return {
        "document": {"title": "t", "tracking": {"id": "FUZZ-1", "version": "1"}},
        "product_tree": {"branches": [{"category": "vendor", "name": vendor or "v", "branches": [
            {"category": "product_name", "name": product, "branches": [
                {"category": "product_version_range", "name": version, "product": prod}]}]}]},
        "vulnerabilities": [{"cve": "CVE-2099-1", "product_status": {"known_affected": ["P1"]},
                             "remediations": [{"category": "vendor_fix", "details": version, "product_ids": ["P1"]}]}],
    }  # fmt: skip


@FUZZ
@given(TEXT, TEXT, TEXT, TEXT, st.one_of(st.none(), TEXT), TEXT)
def test_matching_never_raises(
    vendor: str, product: str, version: str, model: str, fw: str | None, order: str
) -> None:
    cat = Catalog([csaf.parse(_doc(vendor, product, version, model))])
    for device in (
        Device(vendor, product, fw, (order,)),
        Device(vendor, model, fw),
        Device(vendor, order, fw, (), (product,)),
    ):
        for f in cat.match(device):
            assert f.advisory_id == "FUZZ-1" and f.reason


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=5),
    max_leaves=30,
)


@FUZZ
@given(JSON)
def test_any_json_is_an_advisory_or_a_csaf_error(doc: Any) -> None:
    try:
        adv = csaf.parse(doc)
    except csaf.CsafError:
        return
    Catalog([adv]).match(Device("v", "p", "1.0"))
