"""`Notifier.wait`: a long-poll's wait, woken by a wake-up from any thread, or timed out."""

from __future__ import annotations

import asyncio
import threading
import time

from otwatch.console.fleet.notify import Notifier


def _run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_times_out_false_and_leaves_nothing_behind() -> None:
    n = Notifier()

    async def main() -> tuple[bool, float]:
        n.bind(asyncio.get_running_loop())
        t0 = time.monotonic()
        woken = await n.wait("a", 0.2)
        return woken, time.monotonic() - t0

    woken, took = _run(main())  # type: ignore[misc]
    assert woken is False and 0.15 <= took < 2.0
    assert n._waiters == {}


def test_a_wake_from_another_thread_ends_every_wait_of_the_node() -> None:
    n = Notifier()

    async def main() -> list[bool]:
        n.bind(asyncio.get_running_loop())
        waits = [asyncio.create_task(n.wait("a", 30)) for _ in range(2)]
        other = asyncio.create_task(n.wait("b", 0.5))
        await asyncio.sleep(0.05)
        threading.Thread(target=n.wake, args=("a",)).start()  # writers run in worker threads
        return [*await asyncio.wait_for(asyncio.gather(*waits), 5), await other]

    assert _run(main()) == [True, True, False]
    assert n._waiters == {}


def test_a_wake_between_two_long_polls_ends_the_next_at_once() -> None:
    n = Notifier()

    async def main() -> tuple[bool, float, bool]:
        n.bind(asyncio.get_running_loop())
        n.wake("a")
        await asyncio.sleep(0.01)  # delivered on the loop while nobody waits
        t0 = time.monotonic()
        first = await n.wait("a", 30)
        took = time.monotonic() - t0
        second = await n.wait("a", 0.1)  # used up
        return first, took, second

    first, took, second = _run(main())  # type: ignore[misc]
    assert first is True and took < 1.0 and second is False


def test_a_cancelled_wait_is_forgotten() -> None:
    n = Notifier()

    async def main() -> None:
        n.bind(asyncio.get_running_loop())
        task = asyncio.create_task(n.wait("a", 30))
        await asyncio.sleep(0.05)
        assert len(n._waiters["a"]) == 1
        task.cancel()  # the node went away
        await asyncio.gather(task, return_exceptions=True)

    _run(main())
    assert n._waiters == {}
