"""Reading CSAF 2.0: every shared document, one real document field by field, and the parts of the
specification the shared years do not use (relationships, full_product_names, fixed products)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from otwatch.advisories import csaf
from otwatch.advisories.versions import VersionRange
from tests.advisories.shared import document, files


def test_every_shared_document_parses() -> None:
    paths = files()
    started = time.perf_counter()
    advisories = [csaf.load(p) for p in paths]
    elapsed = time.perf_counter() - started
    print(f"{len(advisories)} CSAF documents parsed in {elapsed:.2f} s")
    assert len(advisories) == len(paths) == 1270
    assert len({a.id for a in advisories}) == 1270
    assert all(a.id.upper().startswith(("ICSA-", "ICSMA-")) and a.products for a in advisories)
    products = [p for a in advisories for p in a.products]
    assert sum(p.status == "affected" for p in products) > 6000
    # what is not understood is a small share, and is reported as "possibly affected", never dropped
    unreadable = [p for p in products if p.version and not VersionRange.parse(p.version).readable]
    assert len(unreadable) < 0.08 * len(products)
    assert elapsed < 30


def test_one_advisory_field_by_field() -> None:
    a = document(2021, "icsa-21-103-02")
    assert (a.id, a.cves, a.cvss) == ("ICSA-21-103-02", ["CVE-2021-22669"], 8.8)
    assert "WebAccess" in a.title and a.current_release_date.startswith("2021-04-13")
    assert a.revision and a.revision_history
    (p,) = a.products
    assert (p.vendor, p.product, p.version, p.version_category) == (
        "Advantech",
        "WebAccess/SCADA",
        "<= 9.0.1",
        "product_version_range",
    )
    assert (p.status, p.cves, p.cvss) == ("affected", ["CVE-2021-22669"], 8.8)
    assert "9.0.3" in p.advice  # a "mitigation" remediation, not a vendor_fix


def test_siemens_model_numbers_helper() -> None:
    a = document(2018, "icsa-18-079-02")
    (p,) = [p for p in a.products if p.model_numbers == ("6ES7315-2EH14-0AB0",)]
    assert p.product.strip() == "SIMATIC S7-300 CPU 315-2 PN/DP (6ES7315-2EH14-0AB0)"
    assert p.version == "vers:all/<V3.2.16" and p.status == "affected" and p.cves


SPEC_DOC = {
    "document": {
        "category": "csaf_security_advisory",
        "csaf_version": "2.0",
        "title": "Example PLC",
        "publisher": {"name": "Example PSIRT", "category": "vendor", "namespace": "https://example.test"},
        "references": [
            {"category": "self", "url": "https://example.test/ex-2024-001.json", "summary": "self"}
        ],
        "tracking": {
            "id": "EX-2024-001",
            "version": "3",
            "current_release_date": "2024-02-01T00:00:00Z",
            "initial_release_date": "2024-01-01T00:00:00Z",
            "revision_history": [
                {"number": "1", "date": "2024-01-01T00:00:00Z", "summary": "initial"},
                {"number": "3", "date": "2024-02-01T00:00:00Z", "summary": "fix released"},
            ],
            "status": "final",
        },
    },
    "product_tree": {
        "branches": [
            {
                "category": "vendor",
                "name": "Example AG",
                "branches": [
                    {
                        "category": "product_family",
                        "name": "EX-1000",
                        "branches": [
                            {
                                "category": "product_name",
                                "name": "EX-1000 CPU 1010",
                                "branches": [
                                    {
                                        "category": "product_version_range",
                                        "name": "vers:intdot/<2.9.2",
                                        "product": {"name": "EX CPU 1010 <2.9.2", "product_id": "P1"},
                                    },
                                    {
                                        "category": "product_version",
                                        "name": "2.9.2",
                                        "product": {
                                            "name": "EX CPU 1010 2.9.2",
                                            "product_id": "P2",
                                            "product_identification_helper": {
                                                "model_numbers": ["EXA 1010-1AB0"]
                                            },
                                        },
                                    },
                                ],
                            }
                        ],
                    },
                    {
                        "category": "product_name",
                        "name": "EX Firmware",
                        "branches": [
                            {
                                "category": "product_version",
                                "name": "1.0",
                                "product": {"name": "EX Firmware 1.0", "product_id": "FW1"},
                            }
                        ],
                    },
                    {
                        "category": "product_name",
                        "name": "EX Box 5",
                        "product": {"name": "EX Box 5", "product_id": "HW5"},
                    },
                ],
            }
        ],
        "full_product_names": [{"name": "Example Gateway 7 prior to V3.1", "product_id": "GW7"}],
        "relationships": [
            {
                "category": "installed_on",
                "product_reference": "FW1",
                "relates_to_product_reference": "HW5",
                "full_product_name": {"name": "EX Firmware 1.0 on EX Box 5", "product_id": "FW1-HW5"},
            }
        ],
    },
    "vulnerabilities": [
        {
            "cve": "CVE-2024-0001",
            "product_status": {"known_affected": ["P1", "FW1-HW5", "GW7"], "fixed": ["P2"]},
            "scores": [
                {"products": ["P1"], "cvss_v3": {"baseScore": 9.1, "version": "3.1", "vectorString": "x"}}
            ],
            "remediations": [
                {
                    "category": "vendor_fix",
                    "details": "Update to V2.9.2 or later",
                    "product_ids": ["P1"],
                    "url": "https://example.test/fix",
                }
            ],
        },
        {
            "cve": "CVE-2024-0002",
            "product_status": {"known_affected": ["P1"]},
            "scores": [
                {"products": ["P1"], "cvss_v3": {"baseScore": 5.0, "version": "3.1", "vectorString": "x"}}
            ],
        },
    ],
}


def test_the_specification_beyond_the_shared_years() -> None:
    a = csaf.parse(SPEC_DOC)
    by_id = {p.product_id: p for p in a.products}
    p1, p2 = by_id["P1"], by_id["P2"]
    assert (p1.vendor, p1.product, p1.version, p1.status) == (
        "Example AG",
        "EX-1000 CPU 1010",
        "vers:intdot/<2.9.2",
        "affected",
    )
    assert (p1.cves, p1.cvss, p1.fix, p1.fix_url) == (
        ["CVE-2024-0001", "CVE-2024-0002"],
        9.1,
        "Update to V2.9.2 or later",
        "https://example.test/fix",
    )
    assert (p2.status, p2.model_numbers) == ("fixed", ("EXA 1010-1AB0",))
    rel = by_id["FW1-HW5"]  # firmware installed on hardware: the hardware's name, the firmware's version
    assert (rel.vendor, rel.product, rel.version, rel.status) == ("Example AG", "EX Box 5", "1.0", "affected")
    gw = by_id["GW7"]  # a full product name alone: the version is read off the name
    assert (gw.product, gw.version, gw.status) == ("Example Gateway 7", "prior to V3.1", "affected")
    assert (a.revision, a.url, a.publisher) == ("3", "https://example.test/ex-2024-001.json", "Example PSIRT")
    assert (
        a.newer_than("2", "2024-01-01")
        and not a.newer_than("3", "2024-02-01T00:00:00Z")
        and not a.newer_than("10", None)
    )
    assert csaf.fix_version(p1.fix) is not None


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "not a JSON object"),
        ({}, "document"),
        ({"document": {"tracking": {}}}, "tracking.id"),
        ({"document": {"csaf_version": "1.2", "tracking": {"id": "X"}}}, "csaf_version"),
        (
            {
                "document": {"tracking": {"id": "X"}},
                "product_tree": {"branches": [{"product": {"name": "n"}}]},
            },
            "product_id",
        ),
        ({"document": {"tracking": {"id": "X"}}, "vulnerabilities": {}}, "vulnerabilities"),
    ],
)
def test_bad_documents_say_why(doc: object, message: str) -> None:
    with pytest.raises(csaf.CsafError, match=message):
        csaf.parse(doc)


def test_a_file_that_is_not_json(tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text('{"document": ')
    with pytest.raises(csaf.CsafError, match="not JSON"):
        csaf.load(bad)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(SPEC_DOC))
    assert csaf.load(good).id == "EX-2024-001"
