"""Issue 17, items 11 and 12: no raw line breaks or control characters in any syslog format, and an
alert title with CR/LF is e-mailed like any other."""

from __future__ import annotations

from typing import Any

import pytest

from otwatch.console.forwarding import formats
from otwatch.console.mail.service import build_message

NASTY = "a\r\nb\x00c\x0bd\x0ce\u2028f\u2029g\x85h\x1bi"
BAD = ("\r", "\n", "\x00", "\x0b", "\x0c", "\u2028", "\u2029", "\x85", "\x1b")
EV: dict[str, Any] = {
    "kind": "alert", "id": "a1", "code": "S7_STOP", "title": "Stop " + NASTY, "description": NASTY,
    "severity": "Major", "engine": "Operational", "protocol": "s7" + NASTY, "source_ip": "10.0.0.5",
    "destination_ip": "10.0.0.10", "first_seen": "2026-11-22T10:00:00+00:00",
    "last_seen": "2026-11-22T10:00:00+00:00", "count": 2, "sensor_id": "n1", "sensor_name": "plant" + NASTY,
}  # fmt: skip


@pytest.mark.parametrize("fmt", ["rfc5424", "cef", "leef"])
def test_no_raw_line_breaks_or_controls_in_syslog(fmt: str) -> None:
    line = formats.syslog_line(EV, fmt, hostname="h", version="1.0")
    assert not [c for c in BAD if c in line], repr(line)
    assert formats.structured_data(EV).count("[") == 1


def test_a_title_with_cr_lf_is_emailed() -> None:
    subject = formats.email_subject(EV)
    assert not [c for c in BAD if c in subject]
    msg = build_message("otwatch@plant.example", ["soc@plant.example"], subject, formats.email_body(EV))
    assert msg["Subject"].startswith("[OTWatch] Major alert: Stop a")
