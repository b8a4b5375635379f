"""The one password policy of both consoles (the central console's users, the sensor's local users).

Length is what matters against guessing; the rule also refuses a password made of one repeated
character. Argon2 does the rest. Kept here, in the shared UI layer, so the two consoles cannot
drift apart again (the sensor's used to accept 8 characters, the console's 10).

Both consoles hash and verify through :func:`hash_password` and :func:`verify_password`, the one
place a :class:`argon2.PasswordHasher` is made. Its cost is ``OTWATCH_ARGON2_PROFILE``: ``default``
(argon2-cffi's RFC 9106 low-memory profile, 64 MiB and 3 passes, as before) unless set; ``test`` is
argon2-cffi's cheapest parameters, for the test suite only (tests/conftest.py) — never in production.
A hash records its own parameters, so a hash made under either profile verifies under either.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Annotated, Final

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import AfterValidator, Field

MIN_LENGTH: Final = 10
MAX_LENGTH: Final = 1000


def password_problem(password: str) -> str | None:
    """Why ``password`` is refused, in words for the user; None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"a password has at most {MAX_LENGTH} characters"
    if len(set(password)) == 1:
        return "a password can't be one character repeated"
    return None


def check_password(password: str) -> str:
    """``password`` if the policy accepts it; ValueError with the reason otherwise."""
    problem = password_problem(password)
    if problem is not None:
        raise ValueError(problem)
    return password


#: A new password in a pydantic model (API bodies): the policy applied at validation.
NewPassword = Annotated[str, Field(max_length=MAX_LENGTH), AfterValidator(check_password)]


ARGON2_PROFILE_ENV: Final = "OTWATCH_ARGON2_PROFILE"
#: The argon2 cost profiles by name; ``default`` is ``PasswordHasher()``'s own.
ARGON2_PROFILES: Final = {"default": profiles.RFC_9106_LOW_MEMORY, "test": profiles.CHEAPEST}


def argon2_profile() -> str:
    """The profile named by ``OTWATCH_ARGON2_PROFILE`` (``default`` when unset); ValueError if unknown."""
    name = os.environ.get(ARGON2_PROFILE_ENV, "").strip() or "default"
    if name not in ARGON2_PROFILES:
        raise ValueError(f"{ARGON2_PROFILE_ENV}={name!r}: expected one of {', '.join(ARGON2_PROFILES)}")
    return name


@cache
def _hasher(profile: str) -> PasswordHasher:
    return PasswordHasher.from_parameters(ARGON2_PROFILES[profile])


@cache
def _dummy_hash(profile: str) -> str:
    return _hasher(profile).hash("timing-equaliser")


def hasher() -> PasswordHasher:
    """The password hasher of the current profile (read at each call, so a test can switch it)."""
    return _hasher(argon2_profile())


def hash_password(password: str) -> str:
    """An argon2 hash of ``password`` (salted; its parameters are encoded in it)."""
    return hasher().hash(password)


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``; False for a malformed hash too."""
    try:
        return hasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def equalise_timing(password: str) -> None:
    """Do the work of one verification when there is nothing to verify (an unknown user name),
    so that an unknown name and a wrong password cost the same."""
    verify_password(password, _dummy_hash(argon2_profile()))
