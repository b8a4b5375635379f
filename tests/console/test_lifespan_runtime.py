"""While the console runs, full garbage collections are rare and the GIL is handed over quickly; both
are put back when it stops (tests start many consoles in one process)."""

from __future__ import annotations

import gc
import sys

from fastapi.testclient import TestClient

from otwatch.console.app import GC_FULL_AFTER, GIL_SWITCH_INTERVAL, create_app
from otwatch.console.context import ConsoleContext


def test_gc_and_switch_interval_while_running_and_restored(ctx: ConsoleContext) -> None:
    outside = (gc.get_threshold(), sys.getswitchinterval())  # (another test's console may be running)
    gc.set_threshold(700, 10, 10)  # Python's defaults
    sys.setswitchinterval(0.005)
    try:
        before = (gc.get_threshold(), sys.getswitchinterval())
        with TestClient(create_app(ctx)) as client:
            assert client.get("/api/v1/health").status_code == 200
            assert gc.get_threshold() == (700, 10, GC_FULL_AFTER)
            assert sys.getswitchinterval() == GIL_SWITCH_INTERVAL
        assert (gc.get_threshold(), sys.getswitchinterval()) == before
    finally:
        gc.set_threshold(*outside[0])
        sys.setswitchinterval(outside[1])
