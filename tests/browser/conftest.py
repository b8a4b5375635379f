"""Browser tests reuse the live TLS console of the end-to-end suite. Chromium is launched once for all of
them (package scope: closed after the last browser test); each test gets a fresh context and page, so
no cookie, storage or cache leaks from one test into the next."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import sqlite_copy
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
def db_url(tmp_path: Path, sqlite_template: Path) -> str:
    """The pages are database-agnostic (the API tests run both legs), so the browser drives SQLite only."""
    return sqlite_copy(sqlite_template, tmp_path)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI: scripts/system-deps.sh should have installed it")
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


def screenshot(page: Page, name: str) -> None:
    """Save a screenshot: into docs/screenshots when OTWATCH_SCREENSHOTS=1 (to refresh the README's
    pictures), else under the temporary directory, so a test run leaves the work tree untouched."""
    import tempfile

    base = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("OTWATCH_SCREENSHOTS") != "1":
        base = Path(tempfile.gettempdir()) / "otwatch-screenshots"
    base.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(base / f"{name}.png"), full_page=True)


def sign_in(
    page: Page, url: str, username: str = "admin", password: str | None = None, then: str | None = "/agents"
) -> None:
    """Sign in to the console through its sign-in form, land on the Dashboard, then open ``then``
    (the Agents page unless told otherwise; None stays on the Dashboard)."""
    from tests.conftest import ADMIN_PASSWORD

    page.goto(url + "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password or ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(url + "/dashboard")
    if then is not None:
        page.goto(url + then)
        expect(page).to_have_url(url + then)
