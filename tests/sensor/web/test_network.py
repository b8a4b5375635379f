"""Sensor network settings: validation (a table), the Debian and Windows host back-ends, the form."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from otwatch.sensor.config.netsettings import (
    NetworkErrors,
    NetworkSettings,
    Proxy,
    is_hostname,
    parse_mask,
    validate,
)
from otwatch.sensor.local.hostnet import DebianNetwork, WindowsNetwork
from otwatch.sensor.local.store import SensorStore
from tests.sensor.web.conftest import client_for, csrf

GOOD = {
    "ip": "10.10.0.5",
    "mask": "255.255.255.0",
    "gateway": "10.10.0.1",
    "dns": "10.10.0.2, 10.10.0.3",
    "hostname": "sensor-1.plant.local",
    "interface": "eth0",
}


def test_good_settings() -> None:
    s = validate(GOOD)
    assert s == NetworkSettings(
        "10.10.0.5", "255.255.255.0", "10.10.0.1", ("10.10.0.2", "10.10.0.3"), "sensor-1.plant.local", "eth0"
    )
    assert s.prefix == 24 and str(s.network) == "10.10.0.0/24"
    assert validate({**GOOD, "mask": "/24"}).mask == "255.255.255.0"
    assert validate({**GOOD, "mask": "24"}).mask == "255.255.255.0"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"ip": "10.10.0.300"}, "ip", "IP address: '10.10.0.300' is not an IPv4 address"),
        ({"ip": ""}, "ip", "IP address: '' is not an IPv4 address"),
        ({"ip": "fe80::1"}, "ip", "is not an IPv4 address"),
        (
            {"ip": "127.0.0.1", "gateway": "127.0.0.2", "mask": "255.0.0.0"},
            "ip",
            "cannot be a host's address",
        ),
        ({"ip": "224.0.0.5"}, "ip", "cannot be a host's address"),
        ({"ip": "10.10.0.0"}, "ip", "IP address: 10.10.0.0 is the network address of 10.10.0.0/24"),
        ({"ip": "10.10.0.255"}, "ip", "IP address: 10.10.0.255 is the broadcast address of 10.10.0.0/24"),
        ({"mask": "255.0.255.0"}, "mask", "Subnet mask: 255.0.255.0 is not contiguous"),
        ({"mask": "255.255.255.1"}, "mask", "is not contiguous"),
        ({"mask": "/33"}, "mask", "/33 is not a prefix length"),
        ({"mask": "0.0.0.0"}, "mask", "leaves no subnet"),
        ({"mask": "banana"}, "mask", "is not a mask like 255.255.255.0 or /24"),
        (
            {"gateway": "10.20.0.1"},
            "gateway",
            "Default gateway: 10.20.0.1 is outside the subnet 10.10.0.0/24",
        ),
        ({"gateway": "10.10.0.5"}, "gateway", "must not be the sensor's own IP address"),
        ({"gateway": "10.10.0.255"}, "gateway", "is the network or broadcast address"),
        ({"gateway": "gw"}, "gateway", "Default gateway: 'gw' is not an IPv4 address"),
        ({"dns": ""}, "dns", "give at least one DNS server"),
        ({"dns": "10.0.0.1 10.0.0.2 10.0.0.3 10.0.0.4"}, "dns", "at most 3 servers"),
        ({"dns": "10.0.0.1, dns.example"}, "dns", "DNS: 'dns.example' is not an IPv4 address"),
        ({"hostname": "-sensor"}, "hostname", "is not a valid RFC 1123 host name"),
        ({"hostname": "sensor_1"}, "hostname", "RFC 1123"),
        ({"hostname": "a" * 64}, "hostname", "RFC 1123"),
        ({"hostname": "10.10.0.5"}, "hostname", "RFC 1123"),
        ({"interface": "eth0; reboot"}, "interface", "is not an interface name"),
        ({"proxy_enabled": "1"}, "proxy_host", "Proxy host: required when the proxy is enabled"),
        (
            {"proxy_enabled": "1", "proxy_host": "proxy", "proxy_port": "70000"},
            "proxy_port",
            "is not a port (1-65535)",
        ),
        (
            {"proxy_enabled": "1", "proxy_host": "bad host", "proxy_port": "3128"},
            "proxy_host",
            "is not a host name or IP address",
        ),
        (
            {"proxy_enabled": "1", "proxy_host": "proxy", "proxy_port": "3128", "proxy_password": "x"},
            "proxy_username",
            "required when a proxy password is given",
        ),
    ],
)
def test_refused(change: dict[str, str], field: str, message: str) -> None:
    with pytest.raises(NetworkErrors) as info:
        validate({**GOOD, **change})
    assert field in info.value.fields, info.value.fields
    assert message in info.value.fields[field]


def test_every_wrong_field_is_reported_at_once() -> None:
    with pytest.raises(NetworkErrors) as info:
        validate({"ip": "x", "mask": "255.0.255.0", "gateway": "y", "dns": "", "hostname": "_"})
    assert set(info.value.fields) == {"ip", "mask", "gateway", "dns", "hostname"}


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("sensor", True),
        ("sensor-1.plant.local", True),
        ("1sensor", True),
        ("a" * 63, True),
        ("", False),
        ("a" * 64, False),
        ("-a", False),
        ("a-", False),
        ("a..b", False),
        ("a.b.", False),
        ("a_b", False),
        ("1.2.3.4", False),
        (".".join(["a" * 63] * 4), False),
    ],
)
def test_hostnames(name: str, ok: bool) -> None:
    assert is_hostname(name) is ok


def test_masks() -> None:
    assert str(parse_mask("255.255.252.0")) == "255.255.252.0"
    assert str(parse_mask("/32")) == "255.255.255.255"


def test_debian_apply_to_a_fake_host(fake_host: Path) -> None:
    s = validate(
        {
            **GOOD,
            "proxy_enabled": "1",
            "proxy_host": "proxy.plant.local",
            "proxy_port": "3128",
            "proxy_username": "svc",
            "proxy_password": "p@ss",
        }
    )
    written = DebianNetwork(fake_host).apply(s)
    etc = fake_host / "etc"
    assert set(written) == {
        etc / "network/interfaces.d/eth0",
        etc / "resolv.conf",
        etc / "hostname",
        etc / "hosts",
        etc / "otwatch-sensor/proxy.env",
    }
    iface = (etc / "network/interfaces.d/eth0").read_text()
    assert "auto eth0\niface eth0 inet static\n    address 10.10.0.5/24\n    gateway 10.10.0.1\n" in iface
    resolv = (etc / "resolv.conf").read_text()
    assert resolv.endswith("search plant.local\nnameserver 10.10.0.2\nnameserver 10.10.0.3\n")
    assert (etc / "hostname").read_text() == "sensor-1.plant.local\n"
    assert (etc / "hosts").read_text() == "127.0.0.1 localhost\n127.0.1.1 sensor-1.plant.local sensor-1\n"
    proxy = (etc / "otwatch-sensor/proxy.env").read_text()
    assert "https_proxy=http://svc:p%40ss@proxy.plant.local:3128\n" in proxy
    assert (etc / "otwatch-sensor/proxy.env").stat().st_mode & 0o777 == 0o600
    assert not [p for p in fake_host.rglob("*.tmp")]  # atomic writes leave no temporary files
    # proxy off: its file goes
    DebianNetwork(fake_host).apply(validate(GOOD))
    assert not (etc / "otwatch-sensor/proxy.env").exists()


def test_windows_commands_are_generated_not_run(tmp_path: Path) -> None:
    s = NetworkSettings(
        "10.10.0.5",
        "255.255.255.0",
        "10.10.0.1",
        ("10.10.0.2", "10.10.0.3"),
        "sensor-1",
        proxy=Proxy("proxy", 3128),
    )
    win = WindowsNetwork(tmp_path)
    assert win.commands(s) == [
        [
            "netsh",
            "interface",
            "ipv4",
            "set",
            "address",
            "name=Ethernet",
            "static",
            "10.10.0.5",
            "255.255.255.0",
            "10.10.0.1",
        ],
        [
            "netsh",
            "interface",
            "ipv4",
            "set",
            "dnsservers",
            "name=Ethernet",
            "static",
            "10.10.0.2",
            "primary",
        ],
        ["netsh", "interface", "ipv4", "add", "dnsservers", "name=Ethernet", "10.10.0.3", "index=2"],
        ["netsh", "winhttp", "set", "proxy", "proxy-server=proxy:3128"],
        ["powershell", "-NoProfile", "-Command", "Rename-Computer -NewName sensor-1 -Force"],
    ]
    (script,) = win.apply(s)
    text = script.read_bytes().decode()
    assert (
        text.startswith("@echo off\r\n") and "netsh interface ipv4 set address name=Ethernet static" in text
    )


# ---------------------------------------------------------------- the form


def _post(client: TestClient, **fields: str) -> object:
    return client.post(
        "/system/network", data={"csrf": csrf(client, "/system/network"), **fields}, follow_redirects=False
    )


def test_form_refuses_and_writes_nothing(admin: TestClient, store: SensorStore, fake_host: Path) -> None:
    r = admin.post(
        "/system/network",
        data={"csrf": csrf(admin, "/system/network"), **GOOD, "gateway": "10.20.0.1", "mask": "255.0.255.0"},
    )
    assert r.status_code == 400
    errors = dict(re.findall(r'data-field="(\w+)">(.*?)</p>', r.text))
    assert errors["mask"].startswith("Subnet mask: 255.0.255.0 is not contiguous")
    assert "gateway" not in errors or "outside" in errors["gateway"]
    assert 'value="10.20.0.1"' in r.text  # what was typed is kept for correcting
    assert store.network is None
    assert not (fake_host / "etc/network").exists() and not (fake_host / "etc/resolv.conf").exists()


def test_form_saves_and_applies(admin: TestClient, store: SensorStore, fake_host: Path) -> None:
    r = admin.post(
        "/system/network",
        data={
            "csrf": csrf(admin, "/system/network"),
            **GOOD,
            "proxy_enabled": "1",
            "proxy_host": "10.10.0.8",
            "proxy_port": "3128",
            "proxy_username": "svc",
            "proxy_password": "secret",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert store.network == validate(
        {
            **GOOD,
            "proxy_enabled": "1",
            "proxy_host": "10.10.0.8",
            "proxy_port": "3128",
            "proxy_username": "svc",
            "proxy_password": "secret",
        }
    )
    assert "address 10.10.0.5/24" in (fake_host / "etc/network/interfaces.d/eth0").read_text()
    page = admin.get("/system/network").text
    assert "Network settings saved." in page and str(fake_host / "etc/resolv.conf") in page
    assert "secret" not in page and "Saved; leave empty to keep it." in page  # the password never goes back
    # saving again with the password left empty keeps it
    admin.post(
        "/system/network",
        data={
            "csrf": csrf(admin, "/system/network"),
            **GOOD,
            "ip": "10.10.0.6",
            "proxy_enabled": "1",
            "proxy_host": "10.10.0.8",
            "proxy_port": "3128",
            "proxy_username": "svc",
            "proxy_password": "",
        },
    )
    assert store.network is not None and store.network.ip == "10.10.0.6"
    assert store.network.proxy == Proxy("10.10.0.8", 3128, "svc", "secret")
    assert (store.dir / "settings.json").stat().st_mode & 0o777 == 0o600
    # and the Overview shows the IP and host name
    html = admin.get("/overview").text
    assert "<dd>10.10.0.6</dd>" in html and 'data-testid="name">sensor-1.plant.local<' in html


def test_host_that_refuses_the_change(admin: TestClient, store: SensorStore, fake_host: Path) -> None:
    (fake_host / "etc" / "resolv.conf").mkdir()  # a directory where the file should go: the write fails
    r = admin.post("/system/network", data={"csrf": csrf(admin, "/system/network"), **GOOD})
    assert r.status_code == 500 and "could not be applied to the host" in r.text
    assert store.network is None


def test_a_host_managed_elsewhere_is_said_plainly(make_app: Any, store: SensorStore) -> None:
    """Without --network-root the settings are kept, not applied: the page and the message say so."""
    from otwatch.sensor.local.hostnet import RecordOnly

    with client_for(make_app(network=RecordOnly())) as admin:
        assert 'data-testid="network-elsewhere"' in admin.get("/system/network").text
        r = admin.post("/system/network", data={"csrf": csrf(admin, "/system/network"), **GOOD})
        assert r.status_code == 200 and "managed elsewhere" in r.text
        assert "take effect when the interface restarts" not in r.text
    assert store.network is not None and store.proxy_url is None
    with client_for(make_app()) as admin:  # a Debian appliance: no such notice
        assert 'data-testid="network-elsewhere"' not in admin.get("/system/network").text


def test_a_host_run_by_networkmanager_gets_a_connection_profile(
    make_app: Any, store: SensorStore, fake_host: Path
) -> None:
    """Issue 20 item 4 names NetworkManager or ifupdown, detected: an ifupdown file on a host that
    NetworkManager runs would only take the interface away from it."""
    from otwatch.sensor.local.hostnet import NetworkManagerNetwork, host_network

    assert type(host_network(fake_host)) is DebianNetwork
    (fake_host / "run" / "NetworkManager").mkdir(parents=True)  # present while NetworkManager runs
    network = host_network(fake_host)
    assert isinstance(network, NetworkManagerNetwork)
    with client_for(make_app(network=network)) as admin:
        form = {"csrf": csrf(admin, "/system/network"), **GOOD, "proxy_enabled": "1",
                "proxy_host": "10.10.0.8", "proxy_port": "3128"}  # fmt: skip
        r = admin.post("/system/network", data=form, follow_redirects=True)
        assert "nmcli connection up otwatch-eth0" in r.text and "Debian (NetworkManager)" in r.text
    profile = fake_host / "etc/NetworkManager/system-connections/otwatch-eth0.nmconnection"
    assert profile.stat().st_mode & 0o777 == 0o600  # NetworkManager ignores a keyfile others can read
    text = profile.read_text()
    for line in ("interface-name=eth0", "method=manual", "address1=10.10.0.5/24,10.10.0.1",
                 "dns=10.10.0.2;10.10.0.3;", "dns-search=plant.local;", "ignore-auto-dns=true"):  # fmt: skip
        assert f"\n{line}\n" in text, line
    assert not (fake_host / "etc/network/interfaces.d/eth0").exists()  # no ifupdown file beside it
    assert not (fake_host / "etc/resolv.conf").exists()  # NetworkManager writes it from the profile
    assert (fake_host / "etc/hostname").read_text() == "sensor-1.plant.local\n"
    assert "https_proxy=http://10.10.0.8:3128\n" in (fake_host / "etc/otwatch-sensor/proxy.env").read_text()
    # the profile reads as a keyfile (an INI file), as NetworkManager parses it
    import configparser

    ini = configparser.ConfigParser(comment_prefixes=("#",))
    ini.read_string(text)
    assert ini["connection"]["id"] == "otwatch-eth0" and ini["ipv6"]["method"] == "ignore"
