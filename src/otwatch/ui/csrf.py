"""CSRF tokens for the two web consoles (synchronizer-token pattern).

Both consoles sign users in with a signed session cookie (``SameSite=Strict``). SameSite already
keeps the cookie off most cross-site requests, but not off every browser or every case (a
cross-site *sign-in* needs no cookie at all: login CSRF). So every state-changing request that
rides on the session cookie must also echo a random per-session token, which a page of another
origin cannot read: in the ``X-CSRF-Token`` header (the console's JavaScript) or a ``csrf`` form
field (plain HTML forms). API-key and mTLS clients send no cookie and are not affected.
"""

from __future__ import annotations

import secrets

from starlette.requests import Request

HEADER = "X-CSRF-Token"
FIELD = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def token(request: Request) -> str:
    """The session's token, created on first use (the sign-in page creates it for anonymous visitors)."""
    value = request.session.get("csrf")
    if not isinstance(value, str):
        value = secrets.token_urlsafe(24)
        request.session["csrf"] = value
    return value


def rotate(request: Request) -> str:
    """A new token after sign-in, so a token seen before signing in is worth nothing after."""
    value = secrets.token_urlsafe(24)
    request.session["csrf"] = value
    return value


def matches(request: Request, supplied: object) -> bool:
    expected = request.session.get("csrf")
    return (
        isinstance(expected, str)
        and isinstance(supplied, str)
        and bool(supplied)
        and secrets.compare_digest(expected.encode(), supplied.encode())
    )


async def supplied_token(request: Request) -> str | None:
    """The token the request carries: header first, else the form field of a form post."""
    value = request.headers.get(HEADER)
    if value is not None:
        return value
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(_FORM_TYPES):
        form = await request.form()  # parsed once and cached by Starlette; the route reuses it
        field = form.get(FIELD)
        return field if isinstance(field, str) else None
    return None
