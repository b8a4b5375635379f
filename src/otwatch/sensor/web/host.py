"""What the sensor console drives: the pipeline, its lock and, for a managed sensor, the console link.

:func:`~otwatch.sensor.web.app.create_sensor_app` takes either a running
:class:`~otwatch.sensor.node.managed.SensorNode` (managed by a console) or a bare
:class:`~otwatch.sensor.pipeline.sensor.Sensor` (locally managed, and handy in tests); this adapter gives
the pages one surface for both.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from otwatch.inventory.vocabulary import Engine
from otwatch.sensor.capture.sources import Frame
from otwatch.sensor.config.settings import SensorSettings
from otwatch.sensor.local.store import Detection
from otwatch.sensor.local.trust import is_validation_failure
from otwatch.sensor.node.managed import SensorNode
from otwatch.sensor.pipeline.sensor import Sensor
from otwatch.sensor.tracking.monitoring import PortNotice
from otwatch.wire.client import LinkError
from otwatch.wire.runtime import NodeRuntime


class Connectivity(StrEnum):
    CONNECTED = "Connected"
    CONNECTING = "Connecting"
    DISCONNECTED = "Disconnected"
    LOCAL = "Locally managed"

    @property
    def colour(self) -> str:
        return {"Connected": "green", "Connecting": "blue", "Disconnected": "red"}.get(self.value, "grey")


@dataclass(frozen=True, slots=True)
class LinkStatus:
    state: Connectivity
    message: str | None = None  # the disconnection message (why), when disconnected
    console_status: str | None = (
        None  # what the console calls this sensor ("Connected", "Pending Approval", ...)
    )
    certificate_refused: bool = False


class SensorHost:
    def __init__(self, target: SensorNode | Sensor) -> None:
        self.node = target if isinstance(target, SensorNode) else None
        self._sensor = target if isinstance(target, Sensor) else None
        self._lock = threading.Lock()

    @property
    def sensor(self) -> Sensor:
        if self.node is not None:
            return self.node.sensor
        assert self._sensor is not None
        return self._sensor

    @property
    def lock(self) -> threading.Lock:
        return self.node.lock if self.node is not None else self._lock

    @property
    def runtime(self) -> NodeRuntime | None:
        return self.node.runtime if self.node is not None else None

    def console_address(self) -> str | None:
        if self.node is None:
            return None
        try:
            return self.node.runtime.state.load().address
        except LinkError:
            return None

    def management_mode(self) -> str:
        address = self.console_address()
        return f"Managed by the console at {address}" if address else "Locally managed"

    def apply_detection(self, detection: Detection | None) -> None:
        """Learning, Smart IT Learning and the engines saved on a locally managed sensor's own console,
        onto its pipeline (a console-connected sensor keeps what its console sends)."""
        if detection is None or not self.locally_managed():
            return
        with self.lock:
            s = self.sensor
            s.settings.smart_it_learning = detection.smart_it_learning
            for e in Engine:
                s.set_engine(e, e in detection.engines)
            if s.learning != detection.learning:
                s.learning = detection.learning

    def port_failures(self) -> list[PortNotice]:
        """SPAN monitoring-port failures in force (a bare pipeline watches no port)."""
        return self.node.port_failures() if self.node is not None else []

    def locally_managed(self) -> bool:
        """No console link: the sensor's own console owns its settings (learning, engines)."""
        runtime = self.runtime
        return runtime is None or not runtime.state.exists()

    def link_status(self) -> LinkStatus:
        runtime = self.runtime
        if runtime is None or not runtime.state.exists():  # locally managed (sensor/node/activation.py)
            return LinkStatus(Connectivity.LOCAL)
        if runtime.last_error:
            refused = is_validation_failure(runtime.last_error)
            message = runtime.last_error
            if refused:
                message = f"Validation of the management console certificate failed: {message}"
            return LinkStatus(Connectivity.DISCONNECTED, message, None, refused)
        if runtime.status == "unknown":
            return LinkStatus(Connectivity.CONNECTING, None, None)
        return LinkStatus(Connectivity.CONNECTED, None, runtime.status)

    def play(self, source: Iterable[Frame], on_done: Callable[[], None] | None = None) -> threading.Thread:
        """Feed a replayed capture into the running pipeline, in a background thread."""
        if self.node is not None:
            return self.node.play(source, on_done)

        def work() -> None:
            try:
                batch: list[Frame] = []
                for frame in source:
                    batch.append(frame)
                    if len(batch) >= 256:
                        self._feed(batch)
                        batch = []
                self._feed(batch)
                with self._lock:
                    self.sensor.finish()
            finally:
                if on_done is not None:
                    on_done()

        t = threading.Thread(target=work, name="play-pcap", daemon=True)
        t.start()
        return t

    def _feed(self, batch: list[Frame]) -> None:
        with self._lock:
            process = self.sensor.process
            for f in batch:
                process(*f)

    def clear_data(self, console_too: bool = False) -> None:
        """Clear data; ``console_too`` (a console-connected sensor only) asks its console to forget this
        sensor's assets and alerts too."""
        if self.node is not None:
            self.node.clear_data(console_too and not self.locally_managed())
            return
        with self._lock:
            self._sensor = Sensor(SensorSettings())
