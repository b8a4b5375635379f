"""Browser tests reuse the live TLS console of the end-to-end suite; Chromium is launched once per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.e2e.conftest import live_console  # noqa: F401

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    if request.node.callspec.params.get("db_url") != "sqlite":
        pytest.skip("browser tests run on the SQLite leg only")
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (scripts/system-deps.sh)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1600, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    try:
        yield pg
    finally:
        context.close()
