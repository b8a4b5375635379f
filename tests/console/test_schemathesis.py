"""Schemathesis against the console's own OpenAPI spec, signed in as admin: no answer may be a 5xx.

Every operation gets a fixed, small number of generated requests (deterministic: derandomised, no
example database), on SQLite and PostgreSQL. Left out: signing out (it would end the session the
rest runs with) and the operations that send traffic to an address from the request (forwarding
rule, mail and sensor settings tests, the CSAF provider sync) — the test must never talk to anything
but the console.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from otwatch.console.app import create_app
from otwatch.console.bootstrap import prepare
from otwatch.console.config import Settings
from otwatch.console.context import ConsoleContext
from tests.budget import examples
from tests.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.timeout(240)

EXAMPLES = int(os.environ.get("OTWATCH_SCHEMATHESIS_EXAMPLES", "6"))
SKIP = {
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/login"),  # its lockout would count the generated failures against "admin"
    ("POST", "/api/v1/forwarding-rules/{rule_id}/test"),
    ("POST", "/api/v1/mail/test"),
    ("POST", "/api/v1/sensors/{node_id}/settings/{group}/test"),  # SMTP, LDAP, DNS to a generated host
    ("POST", "/api/v1/vulnerabilities/provider/sync"),  # would fetch from a generated https:// URL
}


@pytest.fixture
def quiet_ctx(settings: Settings) -> Iterator[ConsoleContext]:
    """No background workers: a generated forwarding rule must never be delivered anywhere."""
    c, _ = prepare(settings.model_copy(update={"background_workers": False}))
    yield c
    c.db.dispose()


def test_no_operation_answers_5xx(quiet_ctx: ConsoleContext) -> None:
    app = create_app(quiet_ctx)
    with TestClient(app, base_url="https://testserver") as login:
        r = login.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        assert r.status_code == 200, r.text
        cookies = {"otwatch_session": login.cookies["otwatch_session"]}
        headers = {"X-CSRF-Token": r.headers.get("x-csrf-token", "")}
        cookie = f"otwatch_session={cookies['otwatch_session']}"  # the document needs sign-in
        schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers={"Cookie": cookie})
        failures: list[str] = []
        codes: Counter[int] = Counter()
        ran = 0
        for result in schema.get_all_operations():
            op = result.ok()
            if (op.method.upper(), op.path) in SKIP:
                continue
            ran += 1

            @given(case=op.as_strategy())
            @settings(
                max_examples=examples(EXAMPLES),
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: schemathesis.Case) -> None:
                resp = case.call(headers=headers, cookies=cookies, base_url="https://testserver")
                codes[resp.status_code] += 1
                if resp.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} -> {resp.status_code}: {resp.text[:300]}\n"
                        f"  query={case.query} body={str(case.body)[:300]}"
                    )

            run()
        assert ran >= 60, f"only {ran} operations in the spec"
        print(sorted(codes.items()))
        # signed in for real: most answers are not 401/403 (2xx, and 404/409/422 for generated ids)
        assert codes[401] + codes[403] < sum(codes.values()) // 4, codes
        assert sum(n for c, n in codes.items() if c < 300) >= ran // 2, codes
        assert not failures, "\n".join(dict.fromkeys(failures))


def test_what_schemathesis_found_is_a_clear_4xx(admin: TestClient, ctx: ConsoleContext) -> None:
    """Regressions of the 5xx schemathesis found: an offset past SQLite's 64-bit integers, and NUL
    characters in text, which PostgreSQL refuses (a 500 before; now 422 saying why)."""
    r = admin.get("/api/v1/users", params={"offset": 2**63})
    assert r.status_code == 422 and "offset" in r.json()["error"]["message"]
    r = admin.post(
        "/api/v1/credentials", json={"name": "\x00", "secret": {"kind": "snmp_v2c", "community": "x"}}
    )
    assert r.status_code < 500, r.text
    if ctx.db.engine.dialect.name == "postgresql":
        assert r.status_code == 422 and "NUL" in r.json()["error"]["message"], r.text
