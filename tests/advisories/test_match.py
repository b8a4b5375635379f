"""Matching real identities the project produces against the shared advisories, and the rules of
:mod:`otwatch.advisories.match` on small documents written for them.

Each expected advisory is justified by the product entry that makes it match."""

from __future__ import annotations

import copy
from typing import Any

from otwatch.advisories import csaf
from otwatch.advisories.match import Catalog, Device, Exposure
from tests.advisories.shared import catalog

# The demo's Modbus PLC (otwatch.console.demo.MODBUS_IDENTITY, read by the agent with MEI 0x0E):
# VendorName, ModelName, ProductCode and ProductName of a Modicon M340 CPU.
M340 = Device(
    vendor="Schneider Electric",
    model="BMX P34",
    firmware="v3.10",
    order_numbers=("BMX P34 2020",),
    names=("Modicon M340",),
)
# The demo's S7 CPU (python-snap7's server: SZL 0x0011 and 0x001C) and the snap7.pcap capture's CPU
# (tests/sensor/cli/test_analyze.py): CPU 315-2 PN/DP, order number 6ES7 315-2EH14-0AB0.
S7_DEMO = Device("Siemens", "CPU 315-2 PN/DP", "V3.3.0", ("6ES7 315-2EH14-0AB0",))
S7_CAPTURE = Device("Siemens", "CPU 315-2 PN/DP", "V3.2.7", ("6ES7 315-2EH14-0AB0",))
# The ICSNPP EtherNet/IP capture's List Identity answer (cip_identity.log): vendor, product, revision.
ENBT = Device("Rockwell Automation/Allen-Bradley", "1756-ENBT/A", "4.3")


# iti/s7__s7comm_reading_plc_status.pcap: an ET 200S CPU (SZL 0x0011 and 0x001C)
ET200S = Device("Siemens", "IM151-8 PN/DP CPU", "V3.2.6", ("6ES7 151-8AB01-0AB0",))
# iti/BACnet__bacnet_test.pcap: a Johnson Controls Metasys network engine (BACnet)
NAE = Device("JCI", "MS-NAE4510-2", "5.1.0.4400")


def ids(device: Device, exposure: Exposure) -> set[str]:
    return {f.advisory_id for f in catalog().match(device) if f.exposure == exposure}


def test_modicon_m340_of_the_demo() -> None:
    assert ids(M340, Exposure.AFFECTED) == {
        "ICSA-21-194-02",  # "Modicon M340 CPU (part numbers BMXP34*)": all versions
        "ICSA-21-005-01",  # "M340 CPUs BMX P34x": all versions
        "ICSA-18-086-01",  # "Modicon M340": vers:all/*
        "ICSA-19-136-01",  # "Modicon M340": vers:all/*
    }
    # not affected at v3.10: "Modicon M340" < 3.01 (icsa-19-183-01, icsa-20-016-01), "M340 CPUs" < 2.9
    # (icsa-17-054-03); and never the M340's Ethernet modules (BMX NOE 0100 in icsa-21-005-01)
    assert ids(M340, Exposure.POSSIBLY_AFFECTED) == set()
    by_id = {f.advisory_id: f for f in catalog().match(M340)}
    f = by_id["ICSA-21-194-02"]
    assert "BMXP34*" in f.reason and "v3.10" in f.reason and f.cvss == 9.8 and f.cves
    assert "NOE" not in " ".join(x.product for x in by_id.values())


def test_modicon_m340_with_unknown_firmware_is_possibly_affected() -> None:
    unknown = Device(M340.vendor, M340.model, None, M340.order_numbers, M340.names)
    assert ids(unknown, Exposure.POSSIBLY_AFFECTED) == {"ICSA-17-054-03", "ICSA-19-183-01", "ICSA-20-016-01"}
    # all-versions advisories stay affected: no firmware escapes them
    assert ids(unknown, Exposure.AFFECTED) == ids(M340, Exposure.AFFECTED)
    (f,) = [f for f in catalog().match(unknown) if f.advisory_id == "ICSA-19-183-01"]
    assert f.fixed == "3.01" and "firmware unknown" in f.reason


def test_s7_cpu_of_the_demo_and_of_the_capture() -> None:
    # "SIMATIC S7-300 CPU 315-2 PN/DP (6ES7315-2EH14-0AB0)" with model_numbers 6ES7315-2EH14-0AB0:
    # icsa-20-105-08 vers:all/*, icsa-20-042-05 "< V3.X.17" (V3.3.0 is below V3.3.17)
    assert ids(S7_DEMO, Exposure.AFFECTED) == {"ICSA-20-105-08", "ICSA-20-042-05"}
    # V3.2.7 is also below V3.2.16 (icsa-18-079-02, icsa-19-099-06) and V3.2.17 (icsa-19-283-01/-02)
    assert ids(S7_CAPTURE, Exposure.AFFECTED) == {
        "ICSA-20-105-08",
        "ICSA-20-042-05",
        "ICSA-18-079-02",
        "ICSA-19-099-06",
        "ICSA-19-283-01",
        "ICSA-19-283-02",
    }
    findings = catalog().match(S7_CAPTURE)
    # the SIPLUS twin (6AG1315-2EH14-7AB0) and the S7-300 "CPU family" entries are other products
    assert all("6ES7315-2EH14-0AB0" in f.product for f in findings)
    (f,) = [f for f in findings if f.advisory_id == "ICSA-18-079-02"]
    assert "3.2.16" in f.fixed and f.range == "vers:all/<V3.2.16"


def test_controllogix_enbt_of_the_enip_capture() -> None:
    # "1756 ControlLogix EtherNet/IP Communications Modules 1756-ENBT": vers:all/* (icsa-18-310-02);
    # the device's "/A" is its series
    assert ids(ENBT, Exposure.AFFECTED) == {"ICSA-18-310-02"}


def test_et200s_cpu_of_the_iti_capture() -> None:
    # "SIMATIC ET 200S IM151-8 PN/DP CPU (6ES7151-8AB01-0AB0)", model_numbers 6ES7151-8AB01-0AB0:
    # < V3.2.16 (icsa-18-079-02, icsa-19-099-06), < V3.2.17 (icsa-19-283-01/-02), "< V3.X.17"
    # (icsa-20-042-05), all versions (icsa-20-105-08)
    assert ids(ET200S, Exposure.AFFECTED) == {
        "ICSA-18-079-02",
        "ICSA-19-099-06",
        "ICSA-19-283-01",
        "ICSA-19-283-02",
        "ICSA-20-042-05",
        "ICSA-20-105-08",
    }
    assert ids(ET200S, Exposure.POSSIBLY_AFFECTED) == set()


def test_metasys_engine_of_the_bacnet_capture_is_not_a_named_product() -> None:
    # "JCI" is Johnson Controls; its advisories name "Metasys System" (a family the device's BACnet
    # model does not spell), "NAE55", "NAE85": none is this NAE4510, so none is claimed
    assert catalog().match(NAE) == []


def test_order_number_written_with_spaces_matches_either_spelling() -> None:
    spaced = Device("Siemens AG", "6ES7 315-2EH14-0AB0", "V3.2.7")  # the model is the order number
    assert ids(spaced, Exposure.AFFECTED) == ids(S7_CAPTURE, Exposure.AFFECTED)


# --- the rules, on documents written for them -------------------------------------------------------


def _doc(
    products: list[tuple[str, str, str, dict[str, Any] | None]], fixed: tuple[str, ...] = ()
) -> csaf.Advisory:
    """An advisory of vendor "Siemens" with (product_name, version_range, product_id, helper)."""
    branches = []
    for name, rng, pid, helper in products:
        product: dict[str, Any] = {"name": f"{name} {rng}", "product_id": pid}
        if helper:
            product["product_identification_helper"] = helper
        cat = "product_version" if rng[:1].isdigit() else "product_version_range"
        branches.append(
            {
                "category": "product_name",
                "name": name,
                "branches": [{"category": cat, "name": rng, "product": product}],
            }
        )
    return csaf.parse(
        {
            "document": {
                "title": "t",
                "csaf_version": "2.0",
                "tracking": {"id": f"T-{len(products)}-{products[0][2]}", "version": "1"},
            },
            "product_tree": {
                "branches": [{"category": "vendor", "name": "Siemens AG", "branches": branches}]
            },
            "vulnerabilities": [
                {
                    "cve": "CVE-2099-0001",
                    "product_status": {
                        "known_affected": [p[2] for p in products if p[2] not in fixed],
                        "fixed": list(fixed),
                    },
                    "scores": [{"products": [p[2] for p in products], "cvss_v3": {"baseScore": 7.5}}],
                }
            ],
        }
    )


S1500 = Device("Siemens", "CPU 1516-3 PN/DP", "V2.8.1", ("6ES7 516-3AN01-0AB0",))


def test_a_family_name_alone_does_not_match_its_members() -> None:
    family = _doc(
        [
            (
                "SIMATIC S7-1500 CPU family (incl. related ET200 CPUs and SIPLUS variants)",
                "vers:all/<V2.9.2",
                "F1",
                None,
            )
        ]
    )
    assert Catalog([family]).match(S1500) == []


def test_a_family_matches_members_it_lists_by_order_number_range() -> None:
    family = _doc([("SIMATIC S7-1500 CPU family (6ES7 51x-...)", "vers:all/<V2.9.2", "F1", None)])
    (f,) = Catalog([family]).match(S1500)
    assert f.exposure == Exposure.AFFECTED and "6ES7 51x-..." in f.reason and f.fixed == "V2.9.2"
    other = Device("Siemens", "CPU 1214C", "V4.1", ("6ES7 214-1AG40-0XB0",))
    assert Catalog([family]).match(other) == []


def test_a_listed_member_by_name_and_its_order_number() -> None:
    doc = _doc(
        [
            (
                "SIMATIC S7-1500 CPU 1516-3 PN/DP",
                "vers:all/<V2.9.2",
                "A1",
                {"model_numbers": ["6ES7516-3AN01-0AB0"]},
            ),
            (
                "SIPLUS S7-1500 CPU 1516-3 PN/DP",
                "vers:all/<V2.9.2",
                "A2",
                {"model_numbers": ["6AG1516-3AN01-7AB0"]},
            ),
        ]
    )
    (f,) = Catalog([doc]).match(S1500)
    assert f.product_id == "A1"  # the SIPLUS twin lists another order number
    no_order = Device("Siemens", "CPU 1516-3 PN/DP", "V2.8.1")  # by name: the model ends the product name
    assert {x.advisory_id for x in Catalog([doc]).match(no_order)} == {doc.id}


def test_fixed_version_and_above_are_not_affected() -> None:
    doc = _doc([("EX PLC 7", "vers:all/*", "P1", None), ("EX PLC 7", "2.9.2", "P2", None)], fixed=("P2",))
    cat = Catalog([doc])
    assert cat.match(Device("Siemens", "EX PLC 7", "V2.9.1"))[0].exposure == Exposure.AFFECTED
    assert cat.match(Device("Siemens", "EX PLC 7", "V2.9.2")) == []
    assert cat.match(Device("Siemens", "EX PLC 7", "3.0")) == []
    (f,) = cat.match(Device("Siemens", "EX PLC 7", None))
    assert f.exposure == Exposure.AFFECTED and f.fixed == "2.9.2"


def test_vendor_aliases_and_other_vendors() -> None:
    doc = _doc([("EX PLC 7", "vers:all/<V3", "P1", None)])
    cat = Catalog([doc])
    for vendor in ("Siemens", "SIEMENS AG", "siemens ag, Digital Industries"):
        assert len(cat.match(Device(vendor, "EX PLC 7", "2.0"))) == 1, vendor
    assert cat.match(Device("Schneider Electric", "EX PLC 7", "2.0")) == []
    assert cat.match(Device(None, "EX PLC 7", "2.0")) == []


def test_unreadable_range_or_incomparable_firmware_is_possibly_affected() -> None:
    doc = _doc([("EX PLC 7", "numbers ending 9A", "P1", None)])
    (f,) = Catalog([doc]).match(Device("Siemens", "EX PLC 7", "2.0"))
    assert f.exposure == Exposure.POSSIBLY_AFFECTED and "not understood" in f.reason


def test_under_investigation_is_possibly_affected() -> None:
    doc = csaf.parse(
        {
            "document": {"title": "t", "tracking": {"id": "T-UI", "version": "1"}},
            "product_tree": {"branches": [{"category": "vendor", "name": "Siemens", "branches": [
                {"category": "product_name", "name": "EX PLC 7", "product": {"name": "EX PLC 7", "product_id": "P1"}}]}]},
            "vulnerabilities": [{"cve": "CVE-2099-0002", "product_status": {"under_investigation": ["P1"]}}],
        }
    )  # fmt: skip
    (f,) = Catalog([doc]).match(Device("Siemens", "EX PLC 7", "1.0"))
    assert f.exposure == Exposure.POSSIBLY_AFFECTED


def test_results_are_cached_per_identity() -> None:
    doc = copy.deepcopy(_doc([("EX PLC 7", "vers:all/<V3", "P1", None)]))
    cat = Catalog([doc])
    assert cat.match(Device("Siemens", "EX PLC 7", "2.0")) is cat.match(Device("Siemens", "EX PLC 7", "2.0"))


def test_a_model_written_as_its_order_number_family() -> None:
    # the Modbus ModelName alone ("BMX P34"), no product code nor product name: "M340 CPUs BMX P34x"
    # (icsa-21-005-01) and "Modicon M340 CPU (part numbers BMXP34*)" (icsa-21-194-02) spell its family
    bare = Device("Schneider Electric", "BMX P34", "v3.10")
    assert ids(bare, Exposure.AFFECTED) == {"ICSA-21-194-02", "ICSA-21-005-01"}
