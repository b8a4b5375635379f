"""The one password policy of both consoles (the central console's users, the sensor's local users).

Length is what matters against guessing; the rule also refuses a password made of one repeated
character. Argon2 does the rest. Kept here, in the shared UI layer, so the two consoles cannot
drift apart again (the sensor's used to accept 8 characters, the console's 10).
"""

from __future__ import annotations

from typing import Annotated, Final

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
