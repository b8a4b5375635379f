"""Active MMS Identify against the test responder (PyPI offers no IEC 61850 server in the machine's
package lists): the identity read, and only initiate / identify / conclude sent."""

from __future__ import annotations

import asyncio

import pytest

from otwatch.protocols.base import QueryTarget, query_shares_connection
from otwatch.protocols.mms import SPEC, codes
from otwatch.protocols.mms.query import identify
from tests.peers import free_port
from tests.protocols.mms.responder import Responder

pytestmark = pytest.mark.network


def test_spec_runs_this_query() -> None:
    assert SPEC.query is identify
    assert query_shares_connection(identify)


def test_identify_reads_vendor_model_revision_and_sends_nothing_else() -> None:
    async def run() -> tuple[object, list[tuple[int, int | None]]]:
        responder = Responder()
        async with responder.serve():
            identity = await identify(QueryTarget("127.0.0.1", responder.port))
        return identity, [(p.pdu, p.service) for p in responder.received]

    identity, sent = asyncio.run(run())
    assert identity is not None
    assert identity.as_dict() == {  # type: ignore[attr-defined]
        "protocol": "mms",
        "vendor": "ABB",
        "model": "REF615",
        "firmware": "5.0 FP1",
        "device_type": "IED",
    }
    assert sent == [
        (codes.INITIATE_REQUEST, None),
        (codes.CONFIRMED_REQUEST, codes.IDENTIFY),
        (codes.CONCLUDE_REQUEST, None),
    ]


def test_not_an_mms_server() -> None:
    async def run() -> object:
        responder = Responder(accept_tsap=b"\x01\x02")  # refuses our TSAP: closes the connection
        async with responder.serve():
            return await identify(QueryTarget("127.0.0.1", responder.port, response_timeout=0.5))

    assert asyncio.run(run()) is None


def test_gives_up_fast_without_a_listener() -> None:
    async def run() -> object:
        return await identify(QueryTarget("127.0.0.1", free_port("127.0.0.1")))

    assert asyncio.run(run()) is None
