"""The hand-written fast paths (:func:`dissect_datagram`, ReadProperty heads) give what the general paths give."""

from __future__ import annotations

import random
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from otwatch.protocols.bacnet.dissect import _dissect_general, dissect_datagram
from otwatch.protocols.bacnet.messages import DECODE_ERRORS, ReadProperty, ReadPropertyAck
from tests.budget import examples
from tests.protocols.bacnet.test_bacnet_capture import CASES
from tests.protocols.ics_replay import capture_dir, segments


def same(data: bytes) -> bool:
    """Both paths' records compared by repr (a decoded REAL may be NaN, which equals nothing)."""
    return repr(dissect_datagram(data)) == repr(_dissect_general(data))


def _public_datagrams() -> list[bytes]:
    traces = capture_dir("icsnpp-bacnet") / "testing" / "traces"
    return [bytes(seg.payload) for name in CASES.values() for seg in segments(traces / name, {47808, 47809})]


def test_fast_path_equals_general_path_on_public_captures_and_mutations() -> None:
    datagrams = _public_datagrams()
    fast = [d for d in datagrams if d[:1] == b"\x81" and d[1:2] in (b"\x0a", b"\x0b")]
    assert len(fast) > 50  # the captures exercise the fast path
    rng = random.Random(5)
    for data in datagrams:
        assert same(data)
        for _ in range(20):  # flip, cut and extend: malformed records must agree too
            mutated = bytearray(data)
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            cut = bytes(mutated[: rng.randrange(len(mutated) + 1)])
            for sample in (bytes(mutated), cut, bytes(mutated) + b"\x00"):
                fixed = bytearray(sample)
                if len(fixed) >= 4:  # keep the BVLC length right so the fast path is taken
                    fixed[2:4] = len(fixed).to_bytes(2, "big")
                for d in (sample, bytes(fixed)):
                    assert same(d), d.hex()


@settings(max_examples=examples(300))
@given(st.sampled_from([0x0A, 0x0B]), st.integers(0, 255), st.binary(min_size=1, max_size=60))
def test_fast_path_equals_general_path_on_any_apdu(function: int, control: int, apdu: bytes) -> None:
    body = bytes((0x01, control)) + apdu
    data = bytes((0x81, function)) + (len(body) + 4).to_bytes(2, "big") + body
    assert same(data)


def _outcome(decode: Callable[[bytes], object], buf: bytes) -> str:
    try:
        return repr(decode(buf))
    except DECODE_ERRORS as exc:
        return f"raises {type(exc).__name__}"


@settings(max_examples=examples(400))
@given(st.binary(min_size=4, max_size=4), st.integers(0, 7), st.binary(max_size=30))
def test_read_property_in_place_head_matches_tag_decoding(oid: bytes, size: int, rest: bytes) -> None:
    buf = b"\x0c" + oid + bytes((0x18 | size,)) + rest
    for cls in (ReadProperty, ReadPropertyAck):
        for sample in (
            buf,
            buf[:7],
            buf + b"\x3e\x21\x05\x3f",
            buf[: 6 + size] + b"\x3e\x44\x41\x20\x00\x00\x3f",
        ):
            assert _outcome(cls.decode, sample) == _outcome(cls.decode_tags, sample), (cls, sample.hex())


@settings(max_examples=examples(400))
@given(
    st.sampled_from([b"\x00\x05\x07\x0c", b"\x02\x44\x07\x0c", b"\x30\x07\x0c", b"\x38\x07\x00\x01\x0c"]),
    st.booleans(),
    st.binary(min_size=4, max_size=4),
    st.integers(0, 7),
    st.binary(max_size=24),
)  # fmt: skip
def test_read_property_apdu_in_place_equals_general_path(
    head: bytes, routed: bool, oid: bytes, size: int, rest: bytes
) -> None:
    """ReadProperty requests and acks (segmented or not, routed or not, any value bytes) read in
    place give the general path's record, malformed ones included."""
    oid = b"\x0c" + oid  # context tag 0, four bytes
    prop = bytes((0x18 | size,)) + bytes(range(1, 1 + min(size, 5)))
    npdu = b"\x01\x20\x00\x05\x01\x07\xff" if routed else b"\x01\x00"
    for apdu in (
        head + oid + prop,
        head + oid + prop + rest,
        head + oid + prop + b"\x3e" + rest + b"\x3f",
        head + oid + prop + b"\x3e\x44\x41\x20\x00\x00\x91\x02\x3f",
        head + oid + prop + b"\x29\x01\x3e\x21\x05\x3f",
    ):
        for cut in (0, 1, 3):
            body = npdu + apdu[: len(apdu) - cut]
            data = b"\x81\x0a" + (len(body) + 4).to_bytes(2, "big") + body
            assert same(data), data.hex()
