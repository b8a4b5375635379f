"""SNMP identification against snmpsim: exact system group, interfaces and MACs, v1/v2c/v3."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from otwatch.inventory.identity import DeviceType, Identity
from otwatch.protocols.base import QueryTarget
from otwatch.protocols.snmp import SPEC
from otwatch.protocols.snmp.query import CredentialError, format_mac, identify
from tests.peers import free_port, snmpsim_peer, switch_records

pytestmark = pytest.mark.network

HOST = "127.0.3.50"
COMMUNITY = "cell9ro"
SYS_DESCR = "Hirschmann MACH104-20TX-F Managed Gigabit Switch SW 09.4.02"
SYS_NAME = "line9-core"
INTERFACES = [(f"Module 1 Port {i}", f"ec:e5:55:00:10:{i:02x}") for i in range(1, 41)]  # > 2 GETBULK pages


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    p = free_port(HOST, "udp")
    records = switch_records(SYS_DESCR, SYS_NAME, INTERFACES, own_ip=HOST, own_if_index=3)
    with snmpsim_peer(HOST, p, COMMUNITY, records, tmp_path_factory.mktemp("snmpsim")):
        yield p


def _ask(port: int, **extra: Any) -> Identity | None:
    return asyncio.run(identify(QueryTarget(HOST, port, response_timeout=1.0, extra=extra)))


def _expected_interfaces(n: int = len(INTERFACES)) -> list[dict[str, object]]:
    return [{"index": i, "descr": d, "mac": m} for i, (d, m) in enumerate(INTERFACES[:n], start=1)]


def _assert_switch(ident: Identity | None) -> None:
    assert ident is not None
    assert ident.protocol == "snmp"
    assert ident.extra["sys_descr"] == SYS_DESCR
    assert ident.name == SYS_NAME
    assert ident.extra["sys_object_id"] == "1.3.6.1.4.1.248.14.10.24"
    assert ident.extra["sys_contact"] == "ot-team@plant.example"
    assert ident.extra["sys_location"] == "Hall 3"
    assert ident.vendor == "Hirschmann"
    assert ident.device_type is DeviceType.SWITCH
    assert ident.extra["interfaces"] == _expected_interfaces()
    assert ident.extra["mac"] == INTERFACES[2][1]  # ipAdEntIfIndex of the scanned address is 3


def test_v2c_reads_system_group_and_interface_table(port: int) -> None:
    _assert_switch(_ask(port, community=COMMUNITY))


def test_v1_walks_with_getnext(port: int) -> None:
    _assert_switch(_ask(port, community=COMMUNITY, version="1"))


def test_v3_auth_priv(port: int) -> None:
    ident = _ask(
        port,
        version="3",
        user="simulator",
        auth_key="auctoritas",
        auth_protocol="md5",
        priv_key="privatus",
        priv_protocol="des",
        context_name=hashlib.md5(COMMUNITY.encode()).hexdigest(),  # snmpsim's v3 context naming
    )
    _assert_switch(ident)


def test_walk_is_bounded(port: int) -> None:
    ident = _ask(port, community=COMMUNITY, max_interfaces=20)
    assert ident is not None
    assert ident.extra["interfaces"] == _expected_interfaces(20)


def test_wrong_community_gives_none(port: int) -> None:
    assert _ask(port, community="guess") is None


def test_no_credentials_sends_nothing() -> None:
    """No community guessing: without credentials not one datagram leaves."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind((HOST, 0))
        sink.settimeout(0.3)
        assert SPEC.query is identify
        assert asyncio.run(identify(QueryTarget(HOST, sink.getsockname()[1]))) is None
        with pytest.raises(TimeoutError):
            sink.recvfrom(64)


@pytest.mark.parametrize(
    "extra",
    [{"community": "x", "version": "4"}, {"user": "u", "auth_key": "k" * 8, "auth_protocol": "crc32"}],
)
def test_bad_credentials_are_refused(extra: dict[str, str]) -> None:
    with pytest.raises(CredentialError):
        asyncio.run(identify(QueryTarget(HOST, free_port(HOST, "udp"), extra=extra)))


def test_format_mac() -> None:
    assert format_mac(bytes.fromhex("00800a112233")) == "00:80:0a:11:22:33"
    assert format_mac(b"") is None and format_mac(b"\0" * 6) is None


def test_icmp_unreachable_ends_the_query_without_a_retry() -> None:
    """No agent on the port: the host's ICMP port-unreachable ends the query, not the timeout."""
    calls = 0

    async def pace() -> None:
        nonlocal calls
        calls += 1

    target = QueryTarget(
        HOST, free_port(HOST, "udp"), response_timeout=5.0, extra={"community": "x"}, pace=pace
    )
    assert asyncio.run(asyncio.wait_for(identify(target), 4.0)) is None  # one timeout alone is 5 s
    assert calls == 1
