"""Review of the agent's Windows layer (finding 27): the parsers of IP Helper buffers take any bytes.

``parse_ipnet_table2`` and ``parse_ipnet_table`` read ``MIB_IPNET_TABLE2`` / ``MIB_IPNETTABLE`` as
``GetIpNetTable2`` / ``GetIpNetTable`` return them. A malformed buffer must not read past its end or
stop the agent: the parser answers rows or a ValueError (which ``neighbours()`` turns into "no
neighbours", like an IP Helper failure). A buffer shorter than its row count was already refused; one
shorter than the count itself raised ``struct.error``, which nothing caught."""

from __future__ import annotations

import ctypes
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from otwatch.agent.platform import Neighbour
from otwatch.agent.platform import windows as w

ROW2 = ctypes.sizeof(w.MIB_IPNET_ROW2)
ROW = ctypes.sizeof(w.MIB_IPNETROW)


def _check(parse: object, data: bytes) -> None:
    try:
        rows = parse(data)  # type: ignore[operator]
    except ValueError:
        return
    assert isinstance(rows, list) and all(isinstance(r, Neighbour) for r in rows)
    for r in rows:
        assert len(r.mac.split(":")) == 6 and r.mac != "00:00:00:00:00:00"


@given(st.binary(max_size=4 * ROW2))
@settings(max_examples=300, deadline=None)
def test_any_bytes_as_ipnet_table2(data: bytes) -> None:
    _check(w.parse_ipnet_table2, data)


@given(st.binary(max_size=8 * ROW))
@settings(max_examples=300, deadline=None)
def test_any_bytes_as_ipnet_table(data: bytes) -> None:
    _check(w.parse_ipnet_table, data)


@given(st.integers(0, 3), st.data())
@settings(max_examples=200, deadline=None)
def test_counted_tables_with_random_rows(count: int, data: st.DataObject) -> None:
    """A consistent count with rows of random bytes (any family, state, MAC length, type)."""
    first2 = w.MIB_IPNET_TABLE2.Table.offset
    body2 = data.draw(st.binary(min_size=count * ROW2, max_size=count * ROW2))
    _check(w.parse_ipnet_table2, struct.pack("<I", count) + b"\0" * (first2 - 4) + body2)
    first = w.MIB_IPNETTABLE.table.offset
    body = data.draw(st.binary(min_size=count * ROW, max_size=count * ROW))
    _check(w.parse_ipnet_table, struct.pack("<I", count) + b"\0" * (first - 4) + body)


def test_short_buffers_are_value_errors() -> None:
    for parse in (w.parse_ipnet_table2, w.parse_ipnet_table):
        for data in (b"", b"\x01", b"\x01\x00\x00"):
            _check(parse, data)
