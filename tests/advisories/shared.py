"""The shared CISA advisories (``../shared/advisories/csaf/``), parsed once per test session."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from otwatch.advisories import csaf
from otwatch.advisories.match import Catalog

ADVISORIES = Path(__file__).resolve().parents[2].parent / "shared" / "advisories" / "csaf"


def files() -> list[Path]:
    if not ADVISORIES.is_dir():
        pytest.skip(f"advisory folder {ADVISORIES} is absent (expected ../shared/advisories/csaf/)")
    return sorted(ADVISORIES.rglob("*.json"))


def document(year: int, name: str) -> csaf.Advisory:
    files()
    return csaf.load(ADVISORIES / str(year) / f"{name}.json")


@cache
def _catalog() -> Catalog:
    return Catalog(csaf.load(f) for f in files())


def catalog() -> Catalog:
    files()
    return _catalog()
