"""The agent's Read CPU Model query against a test CPU, and that test CPU against a real client.

pymcprotocol (PyPI) is the second party: its client talks to :class:`Responder` and must understand
every answer (so the responder speaks real SLMP), and the frames it sent are dissected field for
field as the client meant them (so the dissector agrees with an independent implementation).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from otwatch.protocols.base import QueryTarget
from otwatch.protocols.melsec import SPEC
from otwatch.protocols.melsec.dissect import MelsecDissector
from otwatch.protocols.melsec.query import identify
from otwatch.protocols.operations import Operation
from tests.protocols.melsec.responder import Responder


def test_query_reads_the_cpu_model() -> None:
    async def run() -> tuple[Any, Responder]:
        responder = Responder("R04CPU", 0x4800)
        async with responder.running() as port:
            identity = await identify(QueryTarget("127.0.0.1", port))
        return identity, responder

    identity, responder = asyncio.run(run())
    assert identity is not None
    assert (identity.vendor, identity.model, identity.product_code) == (
        "Mitsubishi Electric",
        "R04CPU",
        0x4800,
    )
    assert identity.extra["model_code"] == "0x4800"
    # exactly one request, Read CPU Model, over one connection
    assert responder.connections == 1
    assert responder.received == [bytes.fromhex("500000ffff03000600040001010000")]


def test_query_gives_none_when_nothing_listens() -> None:
    async def run() -> Any:
        return await identify(QueryTarget("127.0.0.1", 1, connect_timeout=0.5, response_timeout=0.5))

    assert asyncio.run(run()) is None


def test_query_gives_none_on_an_error_end_code() -> None:
    class Locked(Responder):
        def answer(self, frame: bytes) -> bytes:
            return bytes.fromhex("d00000ffff030002000002c2")[:-2] + (0xC201).to_bytes(2, "little")

    async def run() -> Any:
        async with Locked().running() as port:
            return await identify(QueryTarget("127.0.0.1", port))

    assert asyncio.run(run()) is None


def _pymcprotocol_session(responder: Responder, plctype: str, commtype: str) -> dict[str, Any]:
    pymc = pytest.importorskip("pymcprotocol")
    out: dict[str, Any] = {}

    async def run() -> None:
        async with responder.running() as port:

            def client() -> None:
                plc = pymc.Type3E(plctype=plctype)
                plc.setaccessopt(commtype=commtype)
                plc.connect("127.0.0.1", port)
                out["cpu"] = plc.read_cputype()
                out["words"] = plc.batchread_wordunits("D100", 4)
                plc.batchwrite_wordunits("D200", [1, 2, 3])
                plc.batchwrite_bitunits("M10", [1, 0, 1])
                plc.remote_stop()
                plc.remote_run(clear_mode=0)
                plc.remote_pause()
                plc.remote_latchclear()
                plc.remote_unlock("1234" if plctype != "iQ-R" else "secret1")
                plc.remote_lock("1234" if plctype != "iQ-R" else "secret1")
                plc.close()

            await asyncio.to_thread(client)

    asyncio.run(run())
    return out


@pytest.mark.parametrize(("plctype", "commtype"), [("Q", "binary"), ("iQ-R", "binary"), ("Q", "ascii")])
def test_pymcprotocol_client_against_responder_and_dissector(plctype: str, commtype: str) -> None:
    responder = Responder("Q03UDVCPU", 0x0268)
    out = _pymcprotocol_session(responder, plctype, commtype)
    assert out["cpu"] == ("Q03UDVCPU", "0268")
    assert out["words"] == [0, 0, 0, 0]
    # every frame pymcprotocol sent is MC protocol by content, and dissects as the client meant it
    assert all(SPEC.detect(frame) for frame in responder.received)
    dissector = MelsecDissector()
    requests, replies = [], []
    for sent, answer in zip(responder.received, responder.sent, strict=True):
        requests += dissector.feed(sent, True)
        replies += dissector.feed(answer, False)
    assert [r.malformed for r in requests + replies] == [None] * len(requests + replies)
    names = [r.fields["command_name"] for r in requests]
    assert names == ["Read CPU Model", "Read", "Write", "Write", "Remote Stop", "Remote Run", "Remote Pause",
                     "Remote Latch Clear", "Remote Password Unlock", "Remote Password Lock"]  # fmt: skip
    encoding = "ascii" if commtype == "ascii" else "binary"
    assert {
        (r.fields["frame"], r.fields["encoding"], r.fields["station"], r.fields["module_io"])
        for r in requests
    } == {("3E", encoding, 0xFF, 0x03FF)}
    read, write_d, write_m = requests[1].fields, requests[2].fields, requests[3].fields
    assert (read["head_device"], read["points"]) == ("D100", 4)
    assert (write_d["head_device"], write_d["points"], write_d["operation"]) == (
        "D200",
        3,
        Operation.PARAMETER_WRITE,
    )
    assert (write_m["head_device"], write_m["points"], write_m["bit_units"]) == ("M10", 3, True)
    ops = [r.fields.get("operation") for r in requests[4:]]
    assert ops == [Operation.CONTROLLER_STOP, Operation.CONTROLLER_START, Operation.MODE_CHANGE,
                   Operation.PARAMETER_WRITE, Operation.AUTHENTICATION, Operation.PROTECTION_CHANGE]  # fmt: skip
    assert replies[0].fields["cpu_model"] == "Q03UDVCPU" and replies[0].fields["cpu_model_code"] == 0x0268
    assert SPEC.identity_from(replies[0]) is not None
    assert all(r.fields["end_code"] == 0 and r.fields["matched"] for r in replies)
