"""What the SPAN port watch reads of a live monitoring interface on Linux: whether it is up (carrier)
and how many frames it received (``/sys/class/net/<if>/``). The capture socket's drops come from the
node (:func:`otwatch.sensor.node.snmpagent.kernel_drops`); the rules are
:class:`otwatch.sensor.tracking.monitoring.PortWatch`."""

from __future__ import annotations

from pathlib import Path

SYS_NET = Path("/sys/class/net")
IFF_UP = 0x1


def port_up(name: str, root: Path = SYS_NET) -> bool:
    """Operationally up: the link has carrier (``operstate`` up; ``unknown``, as some virtual and
    older drivers report, counts when the interface is administratively up)."""
    try:
        state = (root / name / "operstate").read_text().strip()
    except OSError:
        return False  # gone (unplugged USB adapter, renamed)
    if state == "up":
        return True
    if state == "unknown":
        try:
            return bool(int((root / name / "flags").read_text(), 16) & IFF_UP)
        except (OSError, ValueError):
            return False
    return False


def rx_packets(name: str, root: Path = SYS_NET) -> int:
    """Frames the interface received so far (the kernel's counter); 0 when it cannot be read."""
    try:
        return int((root / name / "statistics" / "rx_packets").read_text())
    except (OSError, ValueError):
        return 0
