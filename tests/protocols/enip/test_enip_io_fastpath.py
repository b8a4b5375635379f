"""The in-place read of class 1 I/O datagrams gives the record the CPF item decoding gives."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from otwatch.protocols.enip.dissect import _io, _io_items
from tests.budget import examples


def io_datagram(connection: int, sequence: int, payload: bytes, declared: int | None = None) -> bytes:
    length = len(payload) if declared is None else declared
    return (
        struct.pack("<HHHII", 2, 0x8002, 8, connection, sequence)
        + struct.pack("<HH", 0x00B1, length)
        + payload
    )


@settings(max_examples=examples(300))
@given(
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.binary(max_size=40),
    st.one_of(st.none(), st.integers(0, 60)),
    st.booleans(),
)
def test_fast_path_matches_item_decoding(
    connection: int, sequence: int, payload: bytes, declared: int | None, from_client: bool
) -> None:
    data = io_datagram(connection, sequence, payload, declared)
    direction = "request" if from_client else "response"
    assert _io(data, from_client) == _io_items(data, direction)
    for cut in (len(data) - 1, 17, 6):  # short datagrams fall back and agree too
        assert _io(data[:cut], from_client) == _io_items(data[:cut], direction)


def test_fast_path_fields() -> None:
    record = _io(io_datagram(0x1234, 7, b"\x01\x02"), False)
    assert record.fields == {
        "pdu": "io",
        "connection_id": "0x00001234",
        "sequence_number": 7,
        "data_length": 2,
        "io_data": "0102",
    }
    assert record.malformed is None and record.direction == "response"
