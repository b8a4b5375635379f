"""One password policy for both consoles (otwatch.ui.passwords)."""

from __future__ import annotations

import json
from pathlib import Path

import argon2
import pytest
from pydantic import BaseModel, ValidationError

from otwatch.console.auth.schemas import PasswordChange, UserIn
from otwatch.sensor.local.store import Role, SensorStore
from otwatch.ui import passwords
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
        UserIn(username="ann", password="nine-char", role="Admin")
    with pytest.raises(ValidationError):
        PasswordChange(current_password="x", new_password="zzzzzzzzzzzz")
    assert PasswordChange(current_password="x", new_password="long enough pass").new_password


# --- the argon2 cost profiles (these tests' subject is the hashing: they set the profile themselves) ---


def _params(stored: str) -> argon2.Parameters:
    return argon2.extract_parameters(stored)


def test_default_profile_is_full_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(passwords.ARGON2_PROFILE_ENV, raising=False)
    assert passwords.argon2_profile() == "default"
    stored = passwords.hash_password("long enough pass")
    assert _params(stored) == _params(argon2.PasswordHasher().hash("x"))  # argon2-cffi's own default
    assert _params(stored).memory_cost == 64 * 1024 and _params(stored).time_cost == 3
    assert passwords.verify_password("long enough pass", stored)
    assert not passwords.verify_password("wrong password!", stored)
    assert not passwords.verify_password("long enough pass", "not-a-hash")


def test_test_profile_is_cheapest_and_hashes_verify_across_profiles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(passwords.ARGON2_PROFILE_ENV, "test")
    cheap = passwords.hash_password("long enough pass")
    assert _params(cheap) == argon2.profiles.CHEAPEST
    monkeypatch.setenv(passwords.ARGON2_PROFILE_ENV, "default")
    full = passwords.hash_password("long enough pass")
    assert passwords.verify_password("long enough pass", cheap)  # a hash carries its parameters
    monkeypatch.setenv(passwords.ARGON2_PROFILE_ENV, "test")
    assert passwords.verify_password("long enough pass", full)
    assert not passwords.verify_password("wrong password!", full)


def test_unknown_profile_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(passwords.ARGON2_PROFILE_ENV, "fastest")
    with pytest.raises(ValueError, match="OTWATCH_ARGON2_PROFILE"):
        passwords.hash_password("long enough pass")


def test_both_consoles_hash_with_the_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One hasher: the console's users and the sensor's local users follow the same setting."""
    from otwatch.console.auth.service import hash_password

    monkeypatch.setenv(passwords.ARGON2_PROFILE_ENV, "default")
    store = SensorStore(tmp_path / "state")
    store.set_password(Role.ADMIN, "long enough pass")
    sensor_hash = json.loads((tmp_path / "state" / "local" / "users.json").read_text())["admin"]
    assert _params(sensor_hash) == _params(hash_password("x")) == passwords.ARGON2_PROFILES["default"]
    assert store.authenticate("admin", "long enough pass") is Role.ADMIN
    assert store.authenticate("nobody", "long enough pass") is None
