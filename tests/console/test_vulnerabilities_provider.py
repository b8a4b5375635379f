"""Sync from a CSAF provider over HTTPS: a local server (its own CA) serves the shared advisories as
a trusted provider does: provider-metadata.json, a ROLIE feed, and a directory with changes.csv."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from otwatch.cli import app
from otwatch.console.context import ConsoleContext
from otwatch.console.settings import service as settings
from otwatch.console.vulnerabilities import provider
from otwatch.console.vulnerabilities.models import Advisory
from tests.advisories.shared import ADVISORIES, files
from tests.listeners import TLSFiles, make_tls

pytestmark = pytest.mark.network

DOCS = ["icsa-21-103-02", "icsa-21-194-02", "icsa-18-079-02"]


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *_: Any) -> None:
        pass


@contextmanager
def csaf_provider(root: Path, tls: TLSFiles) -> Iterator[str]:
    """An HTTPS server on 127.0.0.1 serving ``root``; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    server.socket = tls.server_context().wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _site(root: Path, base: str) -> None:
    """A provider's tree: metadata -> ROLIE feed (two documents) and a directory (one more + a bad one)."""
    files()
    white = root / ".well-known" / "csaf" / "white"
    white.mkdir(parents=True)
    entries = []
    for name in DOCS:
        year = "20" + name.split("-")[1]
        shutil.copy(ADVISORIES / year / f"{name}.json", white / f"{name}.json")
    for name in DOCS[:2]:
        entries.append({"id": name.upper(), "title": name, "updated": "2021-12-01T00:00:00Z",
                        "link": [{"rel": "self", "href": f"{base}/.well-known/csaf/white/{name}.json"}],
                        "format": {"schema": "https://docs.oasis-open.org/csaf/csaf/v2.0/csaf_json_schema.json", "version": "2.0"}})  # fmt: skip
    entries.append({"id": "missing", "updated": "2021-12-01T00:00:00Z",
                    "link": [{"rel": "self", "href": f"{base}/.well-known/csaf/white/missing.json"}]})  # fmt: skip
    feed = {
        "feed": {"id": "white", "title": "TLP:WHITE", "updated": "2021-12-01T00:00:00Z", "entry": entries}
    }
    (root / ".well-known" / "csaf" / "feed-tlp-white.json").write_text(json.dumps(feed))
    directory = root / "dir"
    directory.mkdir()
    shutil.copy(white / f"{DOCS[2]}.json", directory / f"{DOCS[2]}.json")
    (directory / "bad.json").write_text("{")
    (directory / "changes.csv").write_text(
        f'"{DOCS[2]}.json","2021-12-02T00:00:00Z"\n"bad.json","2021-12-02T00:00:00Z"\n'
    )
    metadata = {
        "canonical_url": f"{base}/.well-known/csaf/provider-metadata.json",
        "metadata_version": "2.0",
        "role": "csaf_trusted_provider",
        "distributions": [
            {"rolie": {"feeds": [{"summary": "WHITE", "tlp_label": "WHITE", "url": f"{base}/.well-known/csaf/feed-tlp-white.json"}]}},
            {"directory_url": f"{base}/dir/"},
        ],
    }  # fmt: skip
    (root / ".well-known" / "csaf" / "provider-metadata.json").write_text(json.dumps(metadata))


def test_sync_from_provider_metadata_feed_and_directory(
    admin: TestClient, ctx: ConsoleContext, tmp_path: Path
) -> None:
    tls = make_tls(tmp_path / "tls")
    root = tmp_path / "www"
    with csaf_provider(root, tls) as base:
        _site(root, base)
        url = f"{base}/.well-known/csaf/provider-metadata.json"
        assert admin.get("/api/v1/vulnerabilities/provider").json()["url"] is None  # nothing by default
        bad = admin.put("/api/v1/vulnerabilities/provider", json={"url": url.replace("https", "http")})
        assert bad.status_code == 422 and "https" in bad.text
        r = admin.put(
            "/api/v1/vulnerabilities/provider", json={"url": url, "ca_pem": tls.ca_pem, "sync_hours": 12}
        )
        assert r.status_code == 200 and r.json()["has_ca"]
        r = admin.post("/api/v1/vulnerabilities/provider/sync")
        assert r.status_code == 200, r.text
        last = r.json()["last_sync"]
        assert last["ok"] and (last["added"], last["updated"]) == (3, 0)
        assert sorted(Path(f["file"]).name for f in last["failed"]) == ["bad.json", "missing.json"]
        with ctx.db.session() as db:
            assert {a.id for a in db.query(Advisory)} == {
                "ICSA-21-103-02",
                "ICSA-21-194-02",
                "ICSA-18-079-02",
            }
            assert db.get(Advisory, "ICSA-21-103-02").source.startswith(base)  # type: ignore[union-attr]
            # not due again before sync_hours; a forced sync downloads nothing the feed says is unchanged
            assert provider.sync_configured(db) is None
            later = datetime.now(UTC) + timedelta(hours=13)
            again = provider.sync_configured(db, now=later)
            assert again is not None and again["unchanged"] >= 2 and again["added"] == 0

        # without the provider's CA the TLS handshake fails, and the console says so
        with ctx.db.session() as db:
            settings.put(db, provider.CA_KEY, None)
            result = provider.sync_configured(db, force=True)
        assert result is not None and not result["ok"] and "CERTIFICATE" in result["error"].upper()
        assert "Provider" in admin.get("/vulnerabilities").text


def test_cli_sync_from_a_rolie_feed(ctx: ConsoleContext, tmp_path: Path) -> None:
    tls = make_tls(tmp_path / "tls")
    (tmp_path / "ca.pem").write_text(tls.ca_pem)
    root = tmp_path / "www"
    with csaf_provider(root, tls) as base:
        _site(root, base)
        env = {"OTWATCH_DATA_DIR": str(ctx.settings.data_dir), "OTWATCH_DATABASE_URL": str(ctx.db.engine.url)}
        feed = f"{base}/.well-known/csaf/feed-tlp-white.json"
        r = CliRunner().invoke(
            app,
            ["console", "advisories", "sync", "--url", feed, "--ca", str(tmp_path / "ca.pem"), "--json"],
            env=env,
        )
        assert r.exit_code == 0, r.output
        result = json.loads(r.output)
        assert result["added"] == 2 and [Path(f["file"]).name for f in result["failed"]] == ["missing.json"]
    nothing = CliRunner().invoke(app, ["console", "advisories", "sync", "--url", "ftp://x"], env=env)
    assert nothing.exit_code == 2
