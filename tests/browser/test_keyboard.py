"""Keyboard only on the Agents page: Tab reaches a row checkbox and the Actions button, each with a
visible focus outline, the Actions menu opens and closes from the keyboard, and the focus survives the
table's refresh by polling."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Page, expect

from otwatch.console.db import utcnow
from otwatch.console.fleet.models import Node
from tests.browser.conftest import sign_in
from tests.e2e.conftest import LiveConsole

pytestmark = pytest.mark.browser

FOCUS = """() => {
  const el = document.activeElement;
  const s = getComputedStyle(el);
  return {id: el.id, cls: el.className, label: el.getAttribute("aria-label") || el.textContent.trim(),
          row: el.closest("tr") ? el.closest("tr").dataset.id || null : null,
          visible: el.matches(":focus-visible"), style: s.outlineStyle, width: parseFloat(s.outlineWidth)};
}"""


def _tab_until(page: Page, key: str, match: str, limit: int = 80) -> dict[str, object]:
    """Press ``key`` until the focused element matches the CSS selector ``match``; return its focus."""
    for _ in range(limit):
        page.keyboard.press(key)
        if page.evaluate(f"() => document.activeElement.matches({match!r})"):
            focus: dict[str, object] = page.evaluate(FOCUS)
            return focus
    raise AssertionError(f"{key} never reached {match}; last focus {page.evaluate(FOCUS)}")


def _outlined(focus: dict[str, object]) -> None:
    assert focus["visible"], focus
    assert focus["style"] not in ("none", "hidden"), focus
    assert isinstance(focus["width"], int | float) and focus["width"] >= 2, focus


def test_agents_page_by_keyboard(page: Page, live_console: LiveConsole) -> None:
    now = utcnow()
    with live_console.ctx.db.session() as db:
        for i in range(3):
            db.add(
                Node(
                    kind="agent",
                    install_id=uuid.uuid4().hex,
                    name=f"kbd-agent-{i}",
                    hostname=f"kbd-{i}",
                    ip=f"10.0.0.{i + 1}",
                    approved_at=now,
                    configured_at=now,
                    first_seen=now,
                    last_seen=now,
                )
            )
    sign_in(page, live_console.url)
    expect(page.locator("#agents-body tr[data-id]")).to_have_count(3)

    box = _tab_until(page, "Tab", "#agents-body input.row-check")
    _outlined(box)
    assert str(box["label"]).startswith("Select kbd-agent-"), box
    page.keyboard.press("Space")
    expect(page.locator("#actions-btn")).to_be_enabled()

    # Tab on into the row (its links), wait for a poll to re-render the rows: the focus stays put
    page.keyboard.press("Tab")
    in_row = page.evaluate(FOCUS)
    assert in_row["row"] == box["row"], in_row
    page.wait_for_timeout(2500)
    assert page.evaluate(FOCUS)["label"] == in_row["label"]

    actions = _tab_until(page, "Shift+Tab", "#actions-btn")
    _outlined(actions)
    page.keyboard.press("Enter")
    expect(page.get_by_role("menuitem", name="Approve")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(page.get_by_role("menuitem", name="Configure")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#actions-menu")).to_be_hidden()
    expect(page.locator("#actions-btn")).to_be_focused()
    expect(page.locator(f'#agents-body input.row-check[value="{box["row"]}"]')).to_be_checked()
