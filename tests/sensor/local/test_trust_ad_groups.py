"""Issue 17, item 21: a look-alike "OT Admins" group in another OU does not grant the sensor's Admin
role: a group name that is not unique in the directory maps nothing; full DNs always match exactly."""

from __future__ import annotations

from collections.abc import Iterator

import ldap3
import pytest

from otwatch.sensor.local.adauth import AdConfig, AdRefused, authenticate
from tests.ldapserver import BIND_PW, ROOT_DN, ROOT_PW, SUFFIX, Slapd, ad_settings, slapd

__all__ = ["slapd"]  # the fixture
pytestmark = pytest.mark.network

EVE = f"uid=eve,ou=contractors,{SUFFIX}"
LOOKALIKE = f"cn=OT Admins,ou=contractors,{SUFFIX}"


@pytest.fixture
def lookalike(slapd: Slapd) -> Iterator[None]:
    """ou=contractors with eve, member of its own group named "OT Admins" (removed afterwards)."""
    conn = ldap3.Connection(ldap3.Server(slapd.host, port=slapd.port), ROOT_DN, ROOT_PW, auto_bind=True)
    conn.add(f"ou=contractors,{SUFFIX}", ["organizationalUnit"], {"ou": "contractors"})
    conn.add(EVE, ["inetOrgPerson"], {"uid": "eve", "cn": "Eve", "sn": "Eve", "userPassword": "eve-pass"})
    conn.add(LOOKALIKE, ["groupOfNames"], {"cn": "OT Admins", "member": EVE})
    try:
        yield
    finally:
        for dn in (LOOKALIKE, EVE, f"ou=contractors,{SUFFIX}"):
            conn.delete(dn)
        conn.unbind()


def _config(server: Slapd, **over: object) -> AdConfig:
    cfg = AdConfig.from_settings(ad_settings(server, **over), {"ad_bind_password": BIND_PW})
    assert cfg is not None
    return cfg


def test_a_lookalike_group_grants_nothing(slapd: Slapd, lookalike: None) -> None:
    with pytest.raises(AdRefused):  # "OT Admins" names two groups now: the bare name maps neither
        authenticate(_config(slapd), "eve", "eve-pass")
    with pytest.raises(AdRefused):
        authenticate(_config(slapd), "alice", "alice-pass")
    by_dn = _config(slapd, group_roles={f"cn=OT Admins,ou=groups,{SUFFIX}": "Admin"})
    alice = authenticate(by_dn, "alice", "alice-pass")
    assert alice is not None and alice.role == "Admin"
    with pytest.raises(AdRefused):
        authenticate(by_dn, "eve", "eve-pass")
    bob = authenticate(_config(slapd), "bob", "bob-pass")  # a unique name still maps
    assert bob is not None and bob.role == "Read Only"
