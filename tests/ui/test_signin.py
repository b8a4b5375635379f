"""otwatch.ui.signin: the rules both consoles share, without a web framework."""

from __future__ import annotations

from otwatch.ui.signin import MemoryThrottle, Outcome, locked_message, normalise, sign_in


def test_normalise() -> None:
    assert {normalise(n) for n in ("Alice", " alice ", "ＡＬＩＣＥ", "ALICE")} == {"alice"}


def test_memory_throttle_window() -> None:
    t = MemoryThrottle(limit=2, window=0.2)
    t.failed("a")
    assert t.retry_after("a") is None
    t.failed("a")
    wait = t.retry_after("a")
    assert wait is not None and 0 < wait <= 1
    assert t.retry_after("b") is None
    t.succeeded("a")
    assert t.retry_after("a") is None


def test_one_answer_for_unknown_user_and_wrong_password() -> None:
    users = {"alice": "right-password"}

    def verify(name: str, password: str) -> str | None:
        return name if users.get(name) == password else None

    t = MemoryThrottle()
    unknown: Outcome[str] = sign_in(None, "mallory", "x", t, verify)
    wrong: Outcome[str] = sign_in(None, "alice", "x", t, verify)
    assert (
        (unknown.status, unknown.error)
        == (wrong.status, wrong.error)
        == (401, "Wrong user name or password.")
    )
    assert sign_in(None, "alice", "right-password", t, verify).principal == "alice"
    assert "15 min" in locked_message(900) and "30 s" in locked_message(30)
