"""The one password policy of both consoles (the central console's users, the sensor's local users).

Length is what matters against guessing; the rule also refuses a password made of one repeated
character, one of a single kind of characters (only letters, only digits), and the passwords (or
their core) everyone tries first. Generated passwords reach a terminal only (`reveal_generated`). Argon2 does the rest. Kept here, in the shared UI layer, so the two consoles cannot
drift apart again (the sensor's used to accept 8 characters, the console's 10).

Both consoles hash and verify through :func:`hash_password` and :func:`verify_password`, the one
place a :class:`argon2.PasswordHasher` is made. Its cost is ``OTWATCH_ARGON2_PROFILE``: ``default``
(argon2-cffi's RFC 9106 low-memory profile, 64 MiB and 3 passes, as before) unless set; ``test`` is
argon2-cffi's cheapest parameters, for the test suite only (tests/conftest.py) — never in production.
A hash records its own parameters, so a hash made under either profile verifies under either.
"""

from __future__ import annotations

import os
import string
import sys
from functools import cache
from pathlib import Path
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
    kinds = sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )
    if kinds < 2:
        return "a password needs two kinds of characters at least (lower case, upper case, digits, others)"
    core = password.strip(string.digits + string.punctuation + string.whitespace).casefold()
    if core in COMMON or password.casefold() in COMMON:
        return "this password is too common; choose another"
    return None


#: passwords (or their core, without the digits and punctuation around it) everyone tries first
COMMON: Final = frozenset(
    {
        "password", "passw0rd", "p@ssw0rd", "p@ssword", "qwerty", "qwertyuiop", "qwertz", "azerty",
        "asdfghjkl", "letmein", "welcome", "admin", "administrator", "root", "toor", "changeme",
        "iloveyou", "abc", "abcdef", "abcdefgh", "monkey", "dragon", "sunshine", "football", "master",
        "default", "secret", "login", "support", "operator", "engineer", "siemens", "schneider",
        "rockwell", "otwatch", "scada", "plc", "test", "guest", "user",
    }
)  # fmt: skip


def reveal_generated(user: str, password: str, directory: Path, tty: bool | None = None) -> str:
    """The line that tells an operator a generated password. On a terminal it is shown once; anywhere
    else (a service's journal, a log file) it is written to a 0600 file in ``directory`` instead and
    the line names that file, so no password lands in a log."""
    if tty is None:
        tty = sys.stdout.isatty()
    if tty:
        return f"user {user}: generated password (shown once): {password}"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"generated-password-{user}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    os.chmod(path, 0o600)
    return f"user {user}: generated password written to {path} (readable by this account only; delete it after use)"


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
