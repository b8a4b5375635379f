"""One password policy for both consoles (otwatch.ui.passwords)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from otwatch.console.auth.schemas import PasswordChange, UserIn
from otwatch.sensor.local.store import Role, SensorStore
from otwatch.ui.passwords import MIN_LENGTH, NewPassword, password_problem


@pytest.mark.parametrize("bad", ["short", "x" * (MIN_LENGTH - 1), "a" * 20, "y" * 1001])
def test_policy_refuses(bad: str) -> None:
    assert password_problem(bad) is not None

    class Body(BaseModel):
        password: NewPassword

    with pytest.raises(ValidationError):
        Body(password=bad)


def test_both_consoles_apply_it(tmp_path: Path) -> None:
    """The sensor console used to take 8 characters where the central console asked for 10."""
    store = SensorStore(tmp_path / "state")
    with pytest.raises(ValueError, match=f"at least {MIN_LENGTH}"):
        store.set_password(Role.ADMIN, "nine-char")
    store.set_password(Role.ADMIN, "long enough pass")
    assert store.authenticate("admin", "long enough pass") is Role.ADMIN
    with pytest.raises(ValidationError):
        UserIn(username="ann", password="nine-char", role="Admin")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        PasswordChange(current_password="x", new_password="zzzzzzzzzzzz")
    assert PasswordChange(current_password="x", new_password="long enough pass").new_password
