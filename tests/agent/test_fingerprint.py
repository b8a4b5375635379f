"""Initial Enrichment: banner rules, port hints, and banner grabbing from real loopback listeners."""

from __future__ import annotations

import asyncio

import pytest
import typer

from otwatch.agent import fingerprint
from otwatch.agent.cli import parse_port_map, parse_ports
from otwatch.agent.safety import ScanContext, ScanPolicy, Scope
from otwatch.inventory.identity import DeviceType
from tests.peers import CountingServer, free_port


@pytest.mark.parametrize(
    ("banners", "ports", "expected"),
    [
        ({"http": "SIMATIC S7-1500 Web Server"}, [80, 102], ("Siemens", "S7-1500", DeviceType.PLC, None)),
        ({"ftp": "220 Modicon M340 FTP server ready (VxWorks 6.4)"}, [21, 502],
         ("Schneider Electric", "M340", DeviceType.PLC, "VxWorks")),
        ({"ssh": "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"}, [22], (None, None, DeviceType.IT_HOST, "Linux")),
        ({"http": "Microsoft-IIS/10.0"}, [80, 3389], ("Microsoft", None, DeviceType.IT_HOST, "Windows")),
        ({}, [445, 3389], (None, None, DeviceType.IT_HOST, "Windows")),
        ({}, [44818], (None, None, DeviceType.PLC, None)),
        ({}, [2404], (None, None, DeviceType.RTU, None)),
        ({"telnet": "Hirschmann Railswitch"}, [23], ("Hirschmann", None, DeviceType.SWITCH, None)),
        ({"http": "lighttpd/1.4.59"}, [80], (None, None, None, None)),
    ],
)  # fmt: skip
def test_classify(
    banners: dict[str, str],
    ports: list[int],
    expected: tuple[str | None, str | None, DeviceType | None, str | None],
) -> None:
    fp = fingerprint.classify(banners, ports)
    assert (fp.vendor, fp.model, fp.device_type, fp.os) == expected


def test_http_server_header() -> None:
    assert (
        fingerprint.http_server_header(b"HTTP/1.1 200 OK\r\nserver: GoAhead-Webs\r\n\r\n") == "GoAhead-Webs"
    )
    assert fingerprint.http_server_header(b"HTTP/1.0 404 Not Found\r\nX: y\r\n\r\n") is None
    assert fingerprint.http_server_header(b"SSH-2.0-x\r\n") is None


@pytest.mark.network
def test_grab_banners_from_loopback_services() -> None:
    host = "127.0.3.60"
    http, telnet, ftp = (free_port(host) for _ in range(3))

    async def http_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.0 200 OK\r\nServer: Allegro-Software-RomPager/4.01\r\nContent-Length: 0\r\n\r\n"
        )
        await writer.drain()
        writer.close()

    async def main() -> dict[str, str | None]:
        ctx = ScanContext(ScanPolicy(networks=(host,)), Scope([host]))
        web = await asyncio.start_server(http_handler, host, http)
        banners = {
            telnet: b"\xff\xfb\x01\xff\xfb\x03\r\nWAGO 750-8202 PFC200 login: ",
            ftp: b"220 ProFTPD Server (Phoenix Contact AXC F 2152)\r\n",
        }
        async with CountingServer(host, [telnet, ftp], banners) as other:
            try:
                async with ctx.exclusive(host):
                    got = {
                        "http": await fingerprint.grab_banner(ctx, host, http, "http"),
                        "telnet": await fingerprint.grab_banner(ctx, host, telnet, "telnet"),
                        "ftp": await fingerprint.grab_banner(ctx, host, ftp, "ftp"),
                    }
            finally:
                web.close()
                await web.wait_closed()
            await asyncio.sleep(0.1)
            assert other.current == 0 and other.closed_by_peer == 2
        assert ctx.token.open_count == 0
        return got

    got = asyncio.run(main())
    assert got == {
        "http": "Allegro-Software-RomPager/4.01",
        "telnet": "WAGO 750-8202 PFC200 login:",
        "ftp": "220 ProFTPD Server (Phoenix Contact AXC F 2152)",
    }
    fp = fingerprint.classify({k: v for k, v in got.items() if v}, [80, 23, 21])
    assert fp.vendor == "WAGO"


def test_cli_option_parsers() -> None:
    assert parse_ports("502, 102,8000-8002") == [502, 102, 8000, 8001, 8002]
    assert parse_port_map("modbus=5020,s7comm=1102") == {"modbus": 5020, "s7comm": 1102}
    for bad in ("http", "0", "70000", "10-5", "1-5000"):
        with pytest.raises(typer.BadParameter):
            parse_ports(bad)
    for bad in ("modbus", "modbus=", "=502", "modbus=abc", "modbus=0"):
        with pytest.raises(typer.BadParameter):
            parse_port_map(bad)
