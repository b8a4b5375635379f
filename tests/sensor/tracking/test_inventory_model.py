"""Shared inventory model: the OUI table (checked against Wireshark's manuf), merge rules, asset keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from otwatch.inventory.identity import DeviceType, Identity
from otwatch.inventory.merge import FieldChange, merge
from otwatch.inventory.oui import OUI_VENDORS, VendorKind, kind_of, vendor_of
from otwatch.sensor.config.settings import SensorSettings
from otwatch.sensor.tracking.assets import ROUTER_IPS, InventoryBuilder

MANUF = Path("/usr/share/wireshark/manuf")
# Our short names -> a word the registry's long name for that vendor contains.
REGISTRY_WORDS = {
    "Rockwell Automation": "Rockwell",
    "Schneider Electric": ["Schneider", "Telemech"],
    "Hitachi Energy": "Hitachi",
    "Emerson": ["Emerson", "Rosemount"],
    "Phoenix Contact": "PHOENIX",
    "Mitsubishi Electric": "Mitsubishi",
    "Schweitzer Engineering": "Schweitzer",
    "Automated Logic": "AutomatedLogic",
    "JUMPtec": "JUMP",
    "Hirschmann": "Hirschmann",
    "Cisco": "Cisco",
    "Juniper Networks": "Juniper",
    "Palo Alto Networks": "Palo Alto",
    "HP": ["Hewlett", "HP Inc"],
    "Super Micro": "Super Micro",
    "Raspberry Pi": "Raspberry",
    "ASUSTek": "ASUSTek",
}


def test_oui_table_agrees_with_wireshark_manuf() -> None:
    if not MANUF.exists():
        pytest.skip("Wireshark's manuf file (package libwireshark-data) is not installed")
    registry: dict[int, str] = {}
    for line in MANUF.read_text(errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and len(parts[0]) == 8:
            registry[int(parts[0].replace(":", ""), 16)] = parts[2 if len(parts) > 2 else 1].lower()
    for oui, vendor in OUI_VENDORS.items():
        words = REGISTRY_WORDS.get(vendor, vendor.split()[0])
        words = [words] if isinstance(words, str) else words
        assert oui in registry, f"{oui:06x} ({vendor}) is not in the IEEE registry"
        assert any(w.lower() in registry[oui] for w in words), (f"{oui:06x}", vendor, registry[oui])


def test_vendor_lookup() -> None:
    assert vendor_of("00:1B:1B:01:02:03") == "Siemens"
    assert vendor_of(bytes.fromhex("0000bc112233")) == "Rockwell Automation"
    assert vendor_of("02:1b:1b:00:00:01") is None  # locally administered
    assert vendor_of("zz") is None and vendor_of(None) is None
    assert kind_of("Hirschmann") == VendorKind.NETWORK and kind_of("VMware") == VendorKind.IT


def test_merge_s7_szl_module_type_beats_order_number() -> None:
    szl_0011 = Identity("s7comm", vendor="Siemens", model="6ES7 315-2EH14-0AB0", firmware="V3.2.7",
                        extra={"order_number": "6ES7 315-2EH14-0AB0"}, device_type=DeviceType.PLC)  # fmt: skip
    szl_001c = Identity("s7comm", vendor="Siemens", model="CPU 315-2 PN/DP", serial="S C-1")
    for order in ([szl_0011, szl_001c], [szl_001c, szl_0011]):
        merged = merge([Identity("oui", vendor="Siemens AG"), *order]).identity
        assert (merged.model, merged.firmware, merged.serial) == ("CPU 315-2 PN/DP", "V3.2.7", "S C-1")
        assert merged.extra["order_number"] == "6ES7 315-2EH14-0AB0"
        assert merged.vendor == "Siemens"


def test_merge_ranks_and_changes() -> None:
    m = merge([Identity("enip", vendor="Rockwell Automation/Allen-Bradley", firmware="20.11")])
    assert m.add(Identity("oui", vendor="Rockwell Automation")) == []  # a guess never overwrites an answer
    assert m.identity.vendor == "Rockwell Automation/Allen-Bradley"
    assert m.add(Identity("enip", firmware="21.1")) == [FieldChange("firmware", "20.11", "21.1", "enip")]
    assert m.add(Identity("snmp", firmware="x")) == [] and m.identity.firmware == "21.1"
    assert m.add(Identity("enip", device_type=DeviceType.PLC)) == []
    m.add(Identity("fingerprint", device_type=DeviceType.UNKNOWN))
    assert m.identity.device_type == DeviceType.PLC


def test_merge_profinet_role_beats_lldp_bridge_and_names_rank_below_ot() -> None:
    """A PLC that also advertises Bridge over LLDP stays a PLC whichever arrives last; a DHCP host
    name does not replace the NameOfStation, and an HTTP Server header does not replace a vendor."""
    dcp = Identity(protocol="profinet_dcp", name="plc-line-1", vendor="Siemens", device_type=DeviceType.PLC)
    lldp = Identity(protocol="lldp", name="plc-line-1.plant", device_type=DeviceType.SWITCH)
    dhcp = Identity(protocol="dhcp", name="DESKTOP-7")
    http = Identity(protocol="http", vendor="nginx")
    for order in ([dcp, lldp, dhcp, http], [lldp, dhcp, http, dcp], [http, dhcp, dcp, lldp]):
        m = merge(order)
        assert m.identity.device_type == DeviceType.PLC
        assert m.identity.name == "plc-line-1" and m.identity.vendor == "Siemens"
    # without an industrial protocol, the LAN names still say who the host is
    assert merge([lldp, dhcp]).identity.name == "plc-line-1.plant"
    assert merge([dhcp, Identity(protocol="nbns", name="HMI-01")]).identity.name == "HMI-01"


def test_assets_keyed_by_mac_and_ip() -> None:
    inv = InventoryBuilder(SensorSettings(subnets=SensorSettings.parse_subnets(["10.0.0.0/24"])))
    router = bytes.fromhex("00000c000001")
    plc = inv.endpoint(0.0, bytes.fromhex("001b1b000001"), "10.0.0.5", 60)
    assert plc is not None and (plc.mac, plc.ip) == ("00:1b:1b:00:00:01", "10.0.0.5")
    assert plc.identity.identity.vendor == "Siemens"
    remote = inv.endpoint(1.0, router, "192.168.7.7", 60)  # outside the monitored subnets
    assert remote is not None and (remote.mac, remote.ip) == (None, "192.168.7.7")
    assert inv.endpoint(2.0, b"\xff" * 6, "10.0.0.255", 60) is None  # broadcast
    assert inv.endpoint(2.0, bytes.fromhex("01005e000001"), "224.0.0.1", 60) is None  # multicast
    again = inv.endpoint(3.0, bytes.fromhex("001b1b000001"), "10.0.0.5", 40)
    assert again is plc and plc.packets == 2 and plc.bytes == 100 and plc.last_seen == 3.0


def test_router_mac_detected_without_subnets() -> None:
    inv = InventoryBuilder()
    gw = bytes.fromhex("00000c000001")
    first = [inv.endpoint(0.0, gw, f"10.9.0.{i}", 60) for i in range(1, ROUTER_IPS + 1)]
    behind = inv.endpoint(0.0, gw, "10.9.0.200", 60)
    assert all(a is not None and a.mac == "00:00:0c:00:00:01" for a in first)
    assert behind is not None and behind.mac is None
    assert all("router" in a.notes for a in first if a is not None)


def test_layer2_then_ip_is_one_asset() -> None:
    inv = InventoryBuilder()
    dev = bytes.fromhex("00a045000001")
    l2 = inv.endpoint(0.0, dev, None, 60)  # e.g. PROFINET DCP before any IP traffic
    ip = inv.endpoint(1.0, dev, "10.0.0.9", 60)
    later_l2 = inv.endpoint(2.0, dev, None, 60)
    assert l2 is ip is later_l2 and len(inv.assets) == 1 and ip is not None and ip.ip == "10.0.0.9"


def test_asset_count_is_bounded() -> None:
    inv = InventoryBuilder(SensorSettings(max_assets=10))
    for i in range(50):
        inv.endpoint(0.0, None, f"10.1.{i // 250}.{i % 250 + 1}", 60)
    assert len(inv.assets) == 10 and inv.dropped_assets == 40
