"""The sensor console checks the six setting groups with the console's rules (one definition in
otwatch/wire/settings.py, wrapped differently by the console's API and the sensor's forms). Every input
here is judged the same way by both, and what the sensor stores is what the console would push."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from otwatch.console.fleet.schemas import SensorConfigIn
from otwatch.sensor.config.sysgroups import (
    GroupErrors,
    parse_alias_lines,
    parse_role_lines,
    validate,
    validate_port_aliases,
    validate_subnets,
)

CASES: list[tuple[str, Any]] = [
    ("mail_server", {"address": "mail.plant.local", "sender": "s@plant.local"}),
    (
        "mail_server",
        {"address": "10.0.0.5", "port": 587, "sender": "s@p.l", "ssl": "starttls", "username": "u"},
    ),
    ("mail_server", {"address": "mail server!", "sender": "a@b.c"}),
    ("mail_server", {"address": "mail.local", "sender": "not-an-address"}),
    ("mail_server", {"address": "mail.local", "sender": "a@b.c", "password": "secret"}),
    ("mail_server", {"address": "mail.local", "sender": "a@b.c", "ssl": "tls1.0"}),
    ("mail_server", {"address": "mail.local", "sender": "a@b.c", "port": 0}),
    (
        "snmp_mib_monitoring",
        {"enabled": True, "version": "v2c", "allowed_managers": ["10.0.0.9", "10.0.0.9"]},
    ),
    ("snmp_mib_monitoring", {"enabled": True, "version": "v3"}),
    ("snmp_mib_monitoring", {"enabled": True, "version": "v3", "v3_user": "bad user"}),
    ("snmp_mib_monitoring", {"allowed_managers": ["10.0.0.0/8"]}),
    ("active_directory", {"enabled": True, "domain": "plant.local", "servers": ["dc1.plant.local"]}),
    ("active_directory", {"enabled": True, "domain": "plant.local"}),
    ("active_directory", {"ldaps": True, "starttls": True}),
    ("active_directory", {"base_dn": "plant"}),
    ("active_directory", {"user_filter": "uid={username}"}),
    ("active_directory", {"group_roles": {"OT Admins": "Boss"}}),
    ("dns_reverse_lookup", {"enabled": True, "servers": ["10.0.0.53"], "subnets": ["10.1.0.0/16"]}),
    ("dns_reverse_lookup", {"enabled": True, "servers": ["10.0.0.53"]}),
    ("dns_reverse_lookup", {"servers": ["dns.plant.local"]}),
    ("dns_reverse_lookup", {"subnets": ["10.1.0.1/16"]}),
    ("dns_reverse_lookup", {"servers": ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]}),
    ("subnets", ["10.1.0.0/16", "192.168.0.0/24"]),
    ("subnets", ["10.1.0.1/16"]),
    ("subnets", ["not a network"]),
    ("port_aliases", {502: "plant modbus", 8080: "historian"}),
    ("port_aliases", {70000: "too high"}),
    ("port_aliases", {502: ""}),
    ("port_aliases", {502: "x" * 65}),
]


@pytest.mark.parametrize(("group", "value"), CASES)
def test_sensor_and_console_agree(group: str, value: Any) -> None:
    try:
        console = SensorConfigIn.model_validate({group: value}).model_dump()[group]
    except ValidationError:
        console = None
    try:
        sensor = validate(group, value)
    except GroupErrors:
        sensor = None
    assert (console is None) == (sensor is None), (console, sensor)
    assert sensor == console  # what the sensor stores is what the console would push


def test_errors_name_the_field_and_the_line() -> None:
    with pytest.raises(GroupErrors) as exc:
        validate("mail_server", {"address": "x y", "sender": "nobody", "port": 99999})
    assert set(exc.value.errors) == {"address", "sender", "port"}
    assert exc.value.errors["sender"] == "enter an e-mail address (for example sensor@plant.example)"
    with pytest.raises(GroupErrors) as exc:
        validate_subnets(["10.0.0.0/8", "", "10.1.0.1/16"])
    assert exc.value.errors["subnets"] == "line 3: '10.1.0.1/16' has host bits set; did you mean 10.1.0.0/16?"
    with pytest.raises(GroupErrors) as exc:
        validate("snmp_mib_monitoring", {"allowed_managers": ["10.0.0.1", "nope"]})
    assert exc.value.errors["allowed_managers"] == "entry 2: 'nope' is not an IP address"
    assert validate_port_aliases(parse_alias_lines("8080 = historian\n# comment\n\n502=modbus")) == {
        502: "modbus",
        8080: "historian",
    }
    with pytest.raises(GroupErrors, match="line 2: expected PORT = NAME"):
        parse_alias_lines("502 = a\nno equals sign")
    with pytest.raises(GroupErrors, match="port 502 is given twice"):
        parse_alias_lines("502 = a\n502 = b")
    assert parse_role_lines("CN=OT Admins,OU=groups,DC=plant = Admin") == {
        "CN=OT Admins,OU=groups,DC=plant": "Admin"
    }
