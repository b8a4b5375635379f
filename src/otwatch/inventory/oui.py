"""A compact OUI table: the MAC prefixes of vendors met on plant floors and in their IT neighbourhood.

The IEEE registry has ~35,000 entries; a sensor only needs the vendors whose devices it will name, so
this is a curated subset (checked against Wireshark's ``manuf`` file by the tests). Each vendor also
has a :class:`VendorKind` that helps classify a device that speaks no identifying protocol: a Hirschmann
MAC is most likely a switch, a VMware MAC an IT host.

This is the only OUI table in OTWatch; add prefixes here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class VendorKind(StrEnum):
    OT = "ot"  # automation vendors: PLCs, RTUs, I/O, drives, HMIs
    NETWORK = "network"  # switches, routers, firewalls, serial gateways
    IT = "it"  # servers, workstations, virtual machines


# Vendor -> kind, and the OUIs of each vendor (as in the IEEE registry, upper-case hex with colons).
_VENDORS: Final[dict[str, tuple[VendorKind, tuple[str, ...]]]] = {
    "Siemens": (
        VendorKind.OT,
        (
            "00:01:E3",
            "00:0B:A3",
            "00:0E:8C",
            "00:1B:1B",
            "00:1F:F8",
            "08:00:06",
            "10:DF:FC",
            "20:87:56",
            "20:A8:B9",
            "28:63:36",
            "AC:64:17",
            "E0:DC:A0",
        ),
    ),
    "Rockwell Automation": (
        VendorKind.OT,
        (
            "00:00:BC",
            "00:1D:9C",
            "08:61:95",
            "18:4C:08",
            "34:C0:F9",
            "40:41:01",
            "5C:88:16",
            "E4:90:69",
            "F4:54:33",
        ),
    ),
    "Schneider Electric": (
        VendorKind.OT,
        ("00:00:54", "00:01:23", "00:04:17", "00:0C:81", "00:11:00", "00:80:F4"),
    ),
    "ABB": (VendorKind.OT, ("00:00:23", "00:03:2C", "00:0C:02", "00:0C:DE", "00:21:C1")),
    "Hitachi Energy": (VendorKind.OT, ("00:02:A3",)),
    "Honeywell": (VendorKind.OT, ("00:40:84", "00:06:4A", "00:11:12")),
    "Emerson": (VendorKind.OT, ("00:40:03", "00:26:16", "00:03:AD")),  # incl. Rosemount
    "Phoenix Contact": (VendorKind.OT, ("00:A0:45",)),
    "WAGO": (VendorKind.OT, ("00:30:DE",)),
    "Beckhoff": (VendorKind.OT, ("00:01:05",)),
    "Omron": (VendorKind.OT, ("00:00:0A", "3C:F7:D1")),
    "Mitsubishi Electric": (VendorKind.OT, ("00:26:92", "10:4B:46", "28:E9:8E", "30:BE:3B", "38:E0:8E")),
    "Yokogawa": (VendorKind.OT, ("00:00:64", "00:60:41", "D0:0A:AB")),
    "Schweitzer Engineering": (VendorKind.OT, ("00:30:A7",)),
    "Automated Logic": (VendorKind.OT, ("00:E0:C9",)),
    "JUMPtec": (VendorKind.OT, ("00:E0:4B",)),  # Jump Industrielle Computertechnik (Kontron)
    "Hilscher": (VendorKind.OT, ("00:02:A2",)),
    "Bosch Rexroth": (VendorKind.OT, ("00:0B:0F",)),
    "Pilz": (VendorKind.OT, ("00:02:48",)),
    "Eaton": (VendorKind.OT, ("00:05:4B", "00:0C:C1", "00:13:45", "00:18:64", "00:20:85")),
    "Red Lion": (VendorKind.OT, ("00:05:E4", "00:07:AF", "00:13:47", "00:60:DA", "00:A0:1D")),
    "Host Engineering": (VendorKind.OT, ("00:E0:62",)),
    "Advantech": (VendorKind.OT, ("00:0B:AB", "00:0E:02", "00:14:53", "00:D0:C9", "74:FE:48")),
    "Moxa": (VendorKind.NETWORK, ("00:90:E8",)),
    "Hirschmann": (VendorKind.NETWORK, ("00:80:63", "00:D0:26", "64:60:38", "74:0B:B0", "94:AE:E3")),
    "RuggedCom": (VendorKind.NETWORK, ("00:0A:DC",)),
    "Westermo": (VendorKind.NETWORK, ("00:07:7C", "00:11:B4")),
    "Lantronix": (VendorKind.NETWORK, ("00:0D:2C", "00:0F:2C", "00:80:A3")),
    "Cisco": (
        VendorKind.NETWORK,
        ("00:00:0C", "00:01:42", "00:01:64", "00:01:96", "00:01:97", "00:01:C7", "00:19:07", "00:1E:F6"),
    ),
    "Juniper Networks": (VendorKind.NETWORK, ("00:05:85", "00:10:DB", "00:12:1E", "00:14:F6")),
    "Fortinet": (VendorKind.NETWORK, ("00:09:0F", "00:0C:E6", "08:5B:0E")),
    "Palo Alto Networks": (VendorKind.NETWORK, ("00:1B:17", "00:86:9C")),
    "HP": (
        VendorKind.IT,
        (
            "00:01:E6",
            "00:01:E7",
            "00:02:A5",
            "00:04:EA",
            "00:08:02",
            "00:08:83",
            "3C:D9:2B",
            "04:0E:3C",
            "14:CB:19",
            "24:6A:0E",
        ),
    ),
    "Dell": (
        VendorKind.IT,
        (
            "00:06:5B",
            "00:08:74",
            "00:0B:DB",
            "00:0D:56",
            "00:0F:1F",
            "00:11:43",
            "00:13:72",
            "00:14:22",
            "00:15:C5",
            "00:1D:09",
            "00:1E:C9",
            "00:C0:4F",
            "10:98:19",
            "18:03:73",
            "B8:AC:6F",
            "F8:BC:12",
        ),
    ),
    "Intel": (
        VendorKind.IT,
        (
            "00:02:B3",
            "00:12:F0",
            "00:13:02",
            "00:13:20",
            "00:13:CE",
            "00:13:E8",
            "00:15:00",
            "00:15:17",
            "00:1B:21",
            "3C:A9:F4",
            "A0:36:9F",
        ),
    ),
    "VMware": (VendorKind.IT, ("00:05:69", "00:0C:29", "00:1C:14", "00:50:56")),
    "Microsoft": (VendorKind.IT, ("00:03:FF", "00:0D:3A", "00:12:5A", "00:15:5D", "00:17:FA", "00:1D:D8")),
    "Super Micro": (VendorKind.IT, ("00:25:90", "00:30:48", "0C:C4:7A", "3C:EC:EF")),
    "Raspberry Pi": (VendorKind.IT, ("28:CD:C1", "2C:CF:67", "B8:27:EB", "D8:3A:DD", "DC:A6:32")),
    "IBM": (VendorKind.IT, ("00:09:6B",)),
    "Apple": (VendorKind.IT, ("C4:2C:03",)),
    "ASUSTek": (VendorKind.IT, ("90:E6:BA",)),
}

#: 24-bit OUI -> vendor name, built once from the table above.
OUI_VENDORS: Final[dict[int, str]] = {
    int(prefix.replace(":", ""), 16): vendor
    for vendor, (_, prefixes) in _VENDORS.items()
    for prefix in prefixes
}
VENDOR_KINDS: Final[dict[str, VendorKind]] = {vendor: kind for vendor, (kind, _) in _VENDORS.items()}


def oui_of(mac: bytes | str) -> int | None:
    """The 24-bit OUI of a MAC given as 6 bytes or as text (``aa:bb:cc:...``, ``aa-bb-cc-...``)."""
    if isinstance(mac, bytes):
        return int.from_bytes(mac[:3], "big") if len(mac) >= 3 else None
    digits = mac.replace(":", "").replace("-", "").replace(".", "")
    if len(digits) < 6:
        return None
    try:
        return int(digits[:6], 16)
    except ValueError:
        return None


def vendor_of(mac: bytes | str | None) -> str | None:
    """Vendor name for a MAC, or ``None`` when unknown or locally administered (randomised MACs)."""
    if mac is None:
        return None
    oui = oui_of(mac)
    if oui is None or oui & 0x020000:  # locally administered bit: no vendor behind it
        return None
    return OUI_VENDORS.get(oui)


def kind_of(vendor: str | None) -> VendorKind | None:
    return None if vendor is None else VENDOR_KINDS.get(vendor)
