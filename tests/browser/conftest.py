"""Browser tests reuse the live TLS console of the end-to-end suite."""

from __future__ import annotations

from tests.e2e.conftest import live_console  # noqa: F401
