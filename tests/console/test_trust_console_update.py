"""Review of the console update from the Updates page (finding 23): Apply is refused while another
console process serves from the same data directory.

docs/deployment.md says Apply is "not supported" with several console processes (the documented
systemd layout runs two, otwatch-console@8441 and @8442, on one data directory): the supervisor stops
and restarts only the process that received Apply, so the others would serve the old code on a
migrated database, and a rollback would restore the backup under their feet. It was only written
down; Apply went ahead."""

from __future__ import annotations

import sys

from fastapi.testclient import TestClient

from otwatch.console import handover
from otwatch.console.context import ConsoleContext
from tests.console.test_updates_console_apply import _upload, keys
from tests.console.test_updates_selfupdate import console_pkg

__all__ = ["keys"]  # the fixture


def test_apply_refused_while_another_console_serves_the_data_directory(
    admin: TestClient, ctx: ConsoleContext, keys: None
) -> None:
    good = _upload(admin, console_pkg("0.2.0", "0.1.0", []))
    admin.app.state.restart_command = [sys.executable, "-m", "otwatch", "console", "run"]  # type: ignore[attr-defined]
    other = handover.Presence(ctx.settings)  # a second console process on the same data directory
    other.hold()
    try:
        r = admin.post("/api/v1/updates/console/apply", json={"package_id": good})
        assert r.status_code == 409, r.text
        message = r.json()["error"]["message"]
        assert "another console process" in message and "otwatch console update" in message
        assert handover.current(ctx.settings) is None  # no supervisor was started
    finally:
        other.release()
        del admin.app.state.restart_command  # type: ignore[attr-defined]
    # the console's own presence (held while it serves) does not count against it
    mine = admin.app.state.presence  # type: ignore[attr-defined]
    assert isinstance(mine, handover.Presence) and not mine.others_present()
