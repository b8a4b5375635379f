"""The sensor console's sign-in with the pushed Active Directory settings, against a real slapd."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from otwatch.sensor.local.store import Role
from otwatch.sensor.node.managed import SensorNode
from otwatch.wire.client import NodeState
from tests.conftest import form_login
from tests.ldapserver import BIND_PW, Slapd, ad_settings, slapd
from tests.sensor.web.conftest import PASSWORDS, AppFactory

__all__ = ["slapd"]  # the fixture
pytestmark = pytest.mark.network


@pytest.fixture
def node(tmp_path: Path) -> Iterator[SensorNode]:
    n = SensorNode(NodeState(tmp_path / "sensor"), [])
    n.secrets.set("ad_bind_password", BIND_PW)
    try:
        yield n
    finally:
        n.stop()


@pytest.fixture
def client(make_app: AppFactory, node: SensorNode) -> Iterator[TestClient]:
    with TestClient(make_app(node), base_url="https://testserver") as c:
        yield c


def sign_in(client: TestClient, username: str, password: str) -> tuple[int, str]:
    r = form_login(client, username, password, follow_redirects=False)
    return r.status_code, r.headers.get("location") or r.text


def test_ad_users_sign_in_with_their_mapped_role(client: TestClient, node: SensorNode, slapd: Slapd) -> None:
    assert sign_in(client, "alice", "alice-pass")[0] == 401  # AD not configured: an unknown user
    node.apply_config({"active_directory": ad_settings(slapd)})

    assert sign_in(client, "alice", "alice-pass") == (303, "/overview")
    page = client.get("/overview")
    assert page.status_code == 200 and "Signed in as <strong>admin</strong>" in page.text
    client.post("/logout")

    status, text = sign_in(client, "bob", "bob-pass")  # mapped to Read Only: the sensor has no such user
    assert status == 403 and "maps to Read Only" in text
    status, text = sign_in(client, "carol", "carol-pass")  # in no mapped group
    assert status == 403 and "none of their groups (none) is mapped to a role" in text
    status, text = sign_in(client, "alice", "wrong")
    assert status == 401 and "Wrong user name or password." in text
    # local users still sign in while AD is on
    assert sign_in(client, "admin", PASSWORDS[Role.ADMIN]) == (303, "/overview")
    stats = next(r for r in node.build_reports() if r.kind == "stats").stats["system"]
    assert stats["active_directory"]["in_use"] is True and BIND_PW not in str(stats)


def test_unreachable_ad_is_a_clear_error_and_local_users_still_work(
    client: TestClient, node: SensorNode, slapd: Slapd
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    node.apply_config({"active_directory": ad_settings(slapd, port=closed, timeout=2.0)})
    status, text = sign_in(client, "alice", "alice-pass")
    assert status == 503 and "Active Directory cannot be reached, so only local users can sign in now" in text
    assert sign_in(client, "admin", PASSWORDS[Role.ADMIN]) == (303, "/overview")
    # AD off again: AD accounts are simply unknown
    node.apply_config({"active_directory": {**ad_settings(slapd), "enabled": False}})
    client.post("/logout")
    assert sign_in(client, "alice", "alice-pass")[0] == 401
