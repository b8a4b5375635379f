"""Active Directory sign-in (ldap3) against a real slapd on 127.0.0.1: lookup, bind, groups, roles."""

from __future__ import annotations

import socket

import pytest

from otwatch.sensor.local.adauth import AdConfig, AdRefused, AdUnavailable, authenticate
from tests.ldapserver import BIND_PW, SUFFIX, Slapd, ad_settings, slapd

__all__ = ["slapd"]  # the fixture
pytestmark = pytest.mark.network


def config(server: Slapd, secrets: dict[str, str] | None = None, **over: object) -> AdConfig:
    cfg = AdConfig.from_settings(
        ad_settings(server, **over), {"ad_bind_password": BIND_PW, **(secrets or {})}
    )
    assert cfg is not None
    return cfg


def test_users_get_the_role_of_their_mapped_group(slapd: Slapd) -> None:
    cfg = config(slapd)
    alice = authenticate(cfg, "alice", "alice-pass")
    assert alice is not None
    assert (alice.dn, alice.role) == (f"uid=alice,ou=people,{SUFFIX}", "Admin")
    assert alice.groups == (f"cn=OT Admins,ou=groups,{SUFFIX}",)
    bob = authenticate(cfg, "bob", "bob-pass")
    assert bob is not None and bob.role == "Read Only"
    # group names match case-insensitively, by CN or by full DN
    by_dn = config(slapd, group_roles={f"CN=OT Viewers,OU=groups,{SUFFIX.upper()}": "Security Analyst"})
    bob2 = authenticate(by_dn, "bob", "bob-pass")
    assert bob2 is not None and bob2.role == "Security Analyst"


def test_wrong_password_unknown_user_and_no_group(slapd: Slapd) -> None:
    cfg = config(slapd)
    assert authenticate(cfg, "alice", "wrong") is None
    assert authenticate(cfg, "alice", "") is None  # never an anonymous bind
    assert authenticate(cfg, "mallory", "x") is None
    assert authenticate(cfg, "*", "alice-pass") is None  # filter characters are escaped, not wildcards
    assert authenticate(cfg, "alice)(uid=*", "alice-pass") is None
    with pytest.raises(
        AdRefused, match=r"carol is known to Active Directory but none of their groups \(none\)"
    ):
        authenticate(cfg, "carol", "carol-pass")
    with pytest.raises(AdRefused, match=r"none of their groups \(OT Admins\)"):
        authenticate(config(slapd, group_roles={"Engineers": "Admin"}), "alice", "alice-pass")


def test_unreachable_server_and_refused_bind_account_are_clear_errors(slapd: Slapd) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(AdUnavailable, match=rf"127\.0\.0\.1:{closed}"):
        authenticate(config(slapd, port=closed, timeout=2.0), "alice", "alice-pass")
    with pytest.raises(AdUnavailable, match="bind account"):
        authenticate(config(slapd, secrets={"ad_bind_password": "nope"}), "alice", "alice-pass")
    # the next server is tried when the first does not answer
    cfg = config(slapd, servers=["127.0.0.2", slapd.host], timeout=2.0)
    with socket.socket() as probe:  # nothing listens on 127.0.0.2 at that port
        assert probe.connect_ex(("127.0.0.2", slapd.port)) != 0
    user = authenticate(cfg, "alice", "alice-pass")
    assert user is not None and user.role == "Admin"


def test_starttls_and_ldaps_check_the_server_certificate(slapd: Slapd) -> None:
    trusted = {"ad_ca_certificate": slapd.ca_pem}
    starttls = config(slapd, secrets=trusted, starttls=True)
    assert starttls.transport == "starttls"
    user = authenticate(starttls, "alice", "alice-pass")
    assert user is not None and user.role == "Admin"
    ldaps = config(slapd, secrets=trusted, ldaps=True, port=slapd.ldaps_port)
    assert ldaps.transport == "ldaps"
    user = authenticate(ldaps, "bob", "bob-pass")
    assert user is not None and user.role == "Read Only"
    # without the CA the server's certificate is not trusted: no sign-in over an unverified channel
    with pytest.raises(AdUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        authenticate(config(slapd, ldaps=True, port=slapd.ldaps_port), "alice", "alice-pass")
    with pytest.raises(AdUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        authenticate(config(slapd, starttls=True), "alice", "alice-pass")


def test_settings_that_cannot_work_are_refused() -> None:
    assert AdConfig.from_settings({"enabled": False}, {}) is None
    with pytest.raises(ValueError, match="LDAPS or StartTLS"):
        AdConfig.from_settings({"enabled": True, "servers": ["dc1"], "ldaps": True, "starttls": True}, {})
    with pytest.raises(ValueError, match=r"\{username\}"):
        AdConfig.from_settings({"enabled": True, "servers": ["dc1"], "user_filter": "(uid=x)"}, {})
    with pytest.raises(ValueError, match="at least one server"):
        AdConfig.from_settings({"enabled": True, "servers": []}, {})
