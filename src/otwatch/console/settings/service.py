"""Typed access to console-wide settings with their defaults."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from otwatch.console.settings.models import SettingRow

DEFAULTS: dict[str, Any] = {
    "auto_approve": False,  # "Auto-Approve Agent Pairing Requests"
    "auto_update": False,  # agents' "Auto-Updates": off by default (seed)
}


def get(db: Session, key: str) -> Any:
    row = db.get(SettingRow, key)
    return DEFAULTS[key] if row is None else row.value


def put(db: Session, key: str, value: Any) -> None:
    if key not in DEFAULTS:
        raise KeyError(key)
    row = db.get(SettingRow, key)
    if row is None:
        db.add(SettingRow(key=key, value=value))
    else:
        row.value = value
