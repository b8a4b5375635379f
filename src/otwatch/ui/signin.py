"""The one sign-in path of both web consoles: login CSRF, a lockout per user, one answer per failure.

The central console and the sensor's own console used to sign users in two ways that had drifted
apart (the sensor's form had no CSRF token, counted failures per name as typed, and raced under
concurrent guesses). Both now call :func:`sign_in`:

1. The form must carry the CSRF token of the sign-in page's session (login CSRF).
2. The user name is normalised (NFKC, trimmed, case-folded) before it is counted, so ``ALICE``,
   `` alice`` or full-width letters are the same user for the lockout as ``alice``.
3. The lockout check, the password check and the count of a failure happen under one lock per
   normalised user, so concurrent guesses are evaluated one at a time and none slips past the limit.
4. Every wrong name or password gets the same answer, :data:`WRONG`.
5. A successful sign-in starts a new session with a new CSRF token.

Where failures are counted is the console's business (:class:`Throttle`): the central console
counts them in its audit log, which every console process shares; the sensor keeps them in memory
(:class:`MemoryThrottle`).
"""

from __future__ import annotations

import threading
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final, Generic, Protocol, TypeVar

from starlette.requests import Request

from otwatch.ui import csrf

MAX_FAILURES: Final = 5  # failed sign-ins of one user ...
LOCKOUT_SECONDS: Final = 15 * 60  # ... within this window lock that user for the rest of it
ADDRESS_FAILURES: Final = 50  # failed sign-ins from one client address in the window (any name)
# MAX_FAILURES count per (name, client address) where the address is known; this many failures of a
# name from all addresses lock it everywhere (guessing spread over many addresses)
USER_FAILURES_ANYWHERE: Final = 50
WRONG: Final = "Wrong user name or password."
EXPIRED: Final = "The sign-in form expired; please sign in again."

T = TypeVar("T")


def normalise(username: str) -> str:
    """The name a lockout counts: NFKC (full-width letters become ASCII), trimmed, case-folded."""
    return unicodedata.normalize("NFKC", username).strip().casefold()


def locked_message(retry_after: int) -> str:
    minutes, seconds = divmod(max(1, retry_after), 60)
    wait = f"{minutes} min" if minutes and not seconds else f"{minutes * 60 + seconds} s"
    return f"Too many failed sign-ins; try again in {wait}."


class Throttle(Protocol):
    """Counts failed sign-ins per normalised user name."""

    def retry_after(self, user: str) -> int | None:
        """Seconds until ``user`` may try again, or None when not locked."""
        ...

    def failed(self, user: str) -> None: ...

    def succeeded(self, user: str) -> None: ...


class MemoryThrottle:
    """Failures kept in this process (the sensor console runs in one process)."""

    def __init__(self, limit: int = MAX_FAILURES, window: float = LOCKOUT_SECONDS) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, user: str) -> int | None:
        now = time.monotonic()
        with self._lock:
            times = self._failures.get(user)
            if times is None:
                return None
            while times and now - times[0] >= self.window:
                times.popleft()
            if len(times) < self.limit:
                return None
            return int(self.window - (now - times[-self.limit])) + 1

    def failed(self, user: str) -> None:
        with self._lock:
            self._failures.setdefault(user, deque(maxlen=self.limit)).append(time.monotonic())

    def succeeded(self, user: str) -> None:
        with self._lock:
            self._failures.pop(user, None)

    def unlock(self, user: str) -> None:
        """Forget ``user``'s failures, from every address (`PerAddressThrottle`)."""
        name = normalise(user)
        with self._lock:
            for key in [k for k in self._failures if k == name or k.startswith(name + "\0")]:
                del self._failures[key]


class PerAddressThrottle:
    """A :class:`Throttle` for one request: MAX_FAILURES count per (name, client address) in ``near``,
    and USER_FAILURES_ANYWHERE per name in ``anywhere``. Someone guessing a user's password from one
    address locks that user out of that address only, not out of the console."""

    def __init__(self, near: MemoryThrottle, anywhere: MemoryThrottle, address: str) -> None:
        self.near, self.anywhere, self.address = near, anywhere, address or "(unknown)"

    def _key(self, user: str) -> str:
        return f"{user}\0{self.address}"

    def retry_after(self, user: str) -> int | None:
        wait = self.near.retry_after(self._key(user))
        return wait if wait is not None else self.anywhere.retry_after(user)

    def failed(self, user: str) -> None:
        self.near.failed(self._key(user))
        self.anywhere.failed(user)

    def succeeded(self, user: str) -> None:
        self.near.succeeded(self._key(user))


_user_locks: dict[str, threading.Lock] = {}
_user_locks_guard = threading.Lock()


@contextmanager
def _one_at_a_time(user: str) -> Iterator[None]:
    """Serialise sign-ins of one normalised user in this process (check, verify, count)."""
    with _user_locks_guard:
        lock = _user_locks.setdefault(user, threading.Lock())
        if len(_user_locks) > 10_000:  # names nobody uses again: forget idle locks
            for name in [n for n, lk in _user_locks.items() if n != user and not lk.locked()]:
                del _user_locks[name]
    with lock:
        yield


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    """What a sign-in attempt came to: the signed-in principal, or an HTTP status and message."""

    principal: T | None
    status: int
    error: str | None = None
    retry_after: int | None = None


def sign_in(
    request: Request | None,
    username: str,
    password: str,
    throttle: Throttle,
    verify: Callable[[str, str], T | None],
    *,
    csrf_field: str | None = None,
) -> Outcome[T]:
    """One sign-in attempt. ``request`` is the form's request (its CSRF token is checked and, on
    success, its session is started anew); None for JSON API sign-in, which carries no cookie.
    ``verify`` checks the name and password as typed and returns the principal or None; it may
    raise to refuse with a message of its own (the caller maps that)."""
    if request is not None and not csrf.matches(request, csrf_field):
        return Outcome(None, 403, EXPIRED)
    user = normalise(username)
    with _one_at_a_time(user):
        wait = throttle.retry_after(user)
        if wait is not None:
            return Outcome(None, 429, locked_message(wait), wait)
        found = verify(username, password) if username and password else None
        if found is None:
            throttle.failed(user)
            return Outcome(None, 401, WRONG)
        throttle.succeeded(user)
    if request is not None:
        request.session.clear()
        csrf.rotate(request)
    return Outcome(found, 200)
