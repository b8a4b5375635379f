"""The README's protocol table is the registry's truth: every registered protocol has a row, whose
ports, active query and detected operations are what the code does, and whose tests exist."""

from __future__ import annotations

import re
from pathlib import Path

from otwatch.protocols.operations import Operation
from otwatch.protocols.registry import PROTOCOLS

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ROOT / "src" / "otwatch" / "protocols"


def _rows() -> dict[str, list[str]]:
    text = (ROOT / "README.md").read_text()
    start = text.index("<!-- protocol-table")
    rows: dict[str, list[str]] = {}
    for line in text[start:].splitlines()[3:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        for name in cells[0].split(", "):
            rows[name] = cells
    return rows


def _ports(cell: str) -> set[tuple[str, int]]:
    out: set[tuple[str, int]] = set()
    for item in cell.split():
        if "/" not in item:
            continue
        transport, ports = item.split("/", 1)
        for part in ports.split(","):
            if transport == "eth":
                out.add((transport, int(part, 16)))
            elif "-" in part:
                low, high = part.split("-")
                out.update((transport, p) for p in range(int(low), int(high) + 1))
            else:
                out.add((transport, int(part)))
    return out


def _package(name: str) -> str:
    spec = next(s for s in PROTOCOLS if s.name == name)
    return spec.detect.__module__.split(".")[2]


def _operations_in(package: str) -> set[str]:
    names: set[str] = set()
    for path in (PACKAGES / package).rglob("*.py"):
        names.update(re.findall(r"Operation\.([A-Z_]+)", path.read_text()))
    return names


def test_every_registered_protocol_has_a_truthful_row() -> None:
    rows = _rows()
    assert {s.name for s in PROTOCOLS} <= rows.keys()
    assert rows.keys() <= {s.name for s in PROTOCOLS}, "a row for a protocol the sensor does not have"
    for name, cells in rows.items():
        _, transport, _, query, operations, tests = cells
        specs = [s for s in PROTOCOLS if s.name == name]
        assert (ROOT / tests).exists(), tests
        if transport == "IT context":
            assert not any(s.ot for s in specs), name
            continue
        assert {(s.transport, p) for s in specs for p in s.ports} == _ports(transport), name
        assert query == ("yes" if any(s.query for s in specs) else "no"), name
        if operations.startswith("("):  # shares another protocol's package and row
            continue
        listed = set(operations.split())
        assert listed <= {op.name for op in Operation}, name
        assert listed == _operations_in(_package(name)), name


def test_docs_operations_table_is_the_code_table() -> None:
    from otwatch.protocols.operations import OPERATIONS

    text = (ROOT / "docs" / "protocols.md").read_text()
    start = text.index("<!-- operations-table")
    rows = {}
    for line in text[start:].splitlines()[3:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells
    assert rows.keys() == {op.value for op in OPERATIONS}
    for op, kind in OPERATIONS.items():
        _, title, severity, technique, protocols = rows[op.value]
        assert (title, severity) == (kind.title, kind.severity), op
        assert technique.startswith(f"[{kind.technique.id}]({kind.technique.url}) {kind.technique.name}"), op
        found = {p.parent.name for p in PACKAGES.rglob("*.py") if f"Operation.{op.value}" in p.read_text()}
        assert set(protocols.split(", ")) - {""} == {p for p in found if p != "protocols"}, op
