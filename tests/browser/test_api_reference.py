"""The API reference in Chromium with every other host unreachable: Swagger UI renders the console's
OpenAPI document, and the page asks no other host for anything."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import sign_in
from tests.e2e.conftest import LiveConsole

pytestmark = pytest.mark.browser


def test_api_reference_works_offline(page: Page, live_console: LiveConsole) -> None:
    url = live_console.url
    host = urlsplit(url).netloc
    foreign: list[str] = []

    def offline(route: Route) -> None:
        if urlsplit(route.request.url).netloc != host and not route.request.url.startswith("data:"):
            foreign.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.route("**/*", offline)
    sign_in(page, url, then=None)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API reference").click()
    expect(page).to_have_url(url + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("OTWatch console")
    expect(page.locator(".opblock-tag-section").filter(has_text="dashboard")).to_have_count(1)
    expect(page.locator(".opblock-summary-path").filter(has_text="/api/v1/dashboard")).to_be_visible()
    assert foreign == []
