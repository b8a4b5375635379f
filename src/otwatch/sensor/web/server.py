"""Serve the sensor console over HTTPS with the sensor's own certificate, in a background thread.

The certificate is the one chosen on the SSL/TLS page (self-signed until a CA-signed one is
imported). After an import the running server's TLS context loads the new certificate, so new
connections get it without a restart.
"""

from __future__ import annotations

import logging
import threading

import uvicorn
from fastapi import FastAPI

from otwatch.sensor.local.store import SensorStore

log = logging.getLogger("otwatch.sensor.console")


class ConsoleServer:
    def __init__(self, app: FastAPI, store: SensorStore, host: str = "127.0.0.1", port: int = 443) -> None:
        cert, key = store.tls_files()
        self.store = store
        self.config = uvicorn.Config(
            app,
            host=host,
            port=port,
            ssl_certfile=str(cert),
            ssl_keyfile=str(key),
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=3,
        )
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, name="sensor-console", daemon=True)
        store.on_certificate_changed = self.reload_certificate

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        for srv in self.server.servers:
            for sock in srv.sockets:
                return int(sock.getsockname()[1])
        return int(self.config.port)

    def start(self, timeout: float = 20.0) -> ConsoleServer:
        self.thread.start()
        done = threading.Event()
        waited = 0.0
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the sensor console failed to start (is the port free?)")
            done.wait(0.05)
            waited += 0.05
            if waited > timeout:
                raise TimeoutError("the sensor console did not start")
        return self

    def reload_certificate(self) -> None:
        cert, key = self.store.tls_files()
        if self.config.ssl is not None:
            self.config.ssl.load_cert_chain(str(cert), str(key))
            log.info("sensor console now serves %s", cert.name)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
