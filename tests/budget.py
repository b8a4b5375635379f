"""Hypothesis example budgets that scale with the profile (selected by ``HYPOTHESIS_PROFILE``).

A test that fixes ``max_examples`` itself overrides its profile's, so the ``fuzz`` profile alone used
to raise nothing but the few tests that fix none. Tests write their budget as ``examples(n)``
instead: ``n`` under the default ``ci`` profile (``make test``, ``make test-fast``: derandomised, bounded),
``n * FACTORS["fuzz"]`` under ``HYPOTHESIS_PROFILE=fuzz`` (a long random campaign, e.g. nightly).
"""

from __future__ import annotations

import os
from typing import Final

PROFILE_ENV: Final = "HYPOTHESIS_PROFILE"
DEFAULT_PROFILE: Final = "ci"
#: How many times its CI budget each test runs under a profile. The fuzz profile's own
#: ``max_examples`` (tests that fix none) is ``examples(100)``: Hypothesis's default, scaled alike.
FACTORS: Final = {"ci": 1, "fuzz": 50}


def profile() -> str:
    """The selected Hypothesis profile's name; ValueError for a name tests/conftest.py does not register."""
    name = os.environ.get(PROFILE_ENV, "").strip() or DEFAULT_PROFILE
    if name not in FACTORS:
        raise ValueError(f"{PROFILE_ENV}={name!r}: expected one of {', '.join(FACTORS)}")
    return name


def examples(n: int) -> int:
    """The example budget of a test whose CI budget is ``n``, under the selected profile."""
    return n * FACTORS[profile()]
