"""Issue 17, item 22 (part): when the console is told to stop (SIGTERM), long-polls in flight and new
check-ins are answered 503 with Retry-After, not 500."""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from otwatch.console.context import ConsoleContext
from otwatch.console.server import ConsoleServer, uvicorn_config
from tests.console.test_fleet import _connected_agent


def test_stopping_answers_long_polls_503(admin: TestClient, ctx: ConsoleContext) -> None:
    agent = _connected_agent(admin, ctx)
    agent.checkin(wait=1)  # consumes the wake-ups of approval and configuration
    got: dict[str, object] = {}

    def poll() -> None:
        with agent.mtls() as c:
            body = {
                "client_time": datetime.now(UTC).isoformat(),
                "config_version": agent.config_version,
                "wait": 20,
            }
            r = c.post("/api/v1/wire/checkin", json=body)
            got["status"], got["body"], got["retry"] = r.status_code, r.json(), r.headers.get("retry-after")

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.5)  # the long-poll is waiting
    server = ConsoleServer(uvicorn_config(admin.app, ctx, "127.0.0.1", 0), ctx)
    server.handle_exit(signal.SIGTERM, None)  # what uvicorn calls on SIGTERM
    t.join(5)
    assert not t.is_alive()
    assert got["status"] == 503 and got["body"]["error"]["code"] == "shutting_down"  # type: ignore[index]
    assert got["retry"]
    with agent.mtls() as c:
        body = {"client_time": datetime.now(UTC).isoformat(), "config_version": agent.config_version}
        r = c.post("/api/v1/wire/checkin", json=body)
    assert r.status_code == 503
