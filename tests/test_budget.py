"""The Hypothesis budgets scale with the profile (tests/budget.py), so ``fuzz`` really runs more."""

from __future__ import annotations

import hypothesis
import pytest

from tests import budget


def test_budgets_follow_the_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(budget.PROFILE_ENV, raising=False)
    assert budget.profile() == "ci" and budget.examples(300) == 300
    monkeypatch.setenv(budget.PROFILE_ENV, "fuzz")
    assert budget.examples(300) == 300 * budget.FACTORS["fuzz"] > 300
    assert hypothesis.settings.get_profile("fuzz").max_examples == budget.examples(100)
    monkeypatch.setenv(budget.PROFILE_ENV, "nightly")
    with pytest.raises(ValueError, match="HYPOTHESIS_PROFILE"):
        budget.examples(300)
