"""A small real DNS server over UDP on 127.0.0.1 for tests (dnspython builds and parses the messages).

It answers PTR and A queries from a fixed zone, NXDOMAIN for any other name, and records each query
so a test can assert that the question really reached it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset


@dataclass
class DnsServer:
    host: str
    port: int
    ptr: dict[str, str]  # reverse name (1.0.10.10.in-addr.arpa.) -> target
    a: dict[str, str]  # name (historian.plant.local.) -> address
    queries: list[tuple[str, str]] = field(default_factory=list)  # (name, type) as received
    _sock: socket.socket | None = None
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((self.host, self.port))
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        assert self._sock is not None
        while True:
            try:
                data, peer = self._sock.recvfrom(4096)
            except OSError:
                return
            query = dns.message.from_wire(data)
            question = query.question[0]
            name, rdtype = question.name.to_text(), question.rdtype
            self.queries.append((name, dns.rdatatype.to_text(rdtype)))
            resp = dns.message.make_response(query)
            zone = self.ptr if rdtype == dns.rdatatype.PTR else self.a if rdtype == dns.rdatatype.A else {}
            if name in zone:
                resp.answer.append(
                    dns.rrset.from_text(name, 60, "IN", dns.rdatatype.to_text(rdtype), zone[name])
                )
            elif name not in self.ptr and name not in self.a:
                resp.set_rcode(dns.rcode.NXDOMAIN)
            self._sock.sendto(resp.to_wire(), peer)

    def stop(self) -> None:
        if self._sock is not None:
            self._sock.close()
        if self._thread is not None:
            self._thread.join(timeout=5)


@contextmanager
def dns_server(
    ptr: dict[str, str] | None = None, a: dict[str, str] | None = None, host: str = "127.0.0.1"
) -> Iterator[DnsServer]:
    """A running server on a free UDP port of ``host``."""
    server = DnsServer(host, 0, ptr or {}, a or {})
    server.start()
    try:
        yield server
    finally:
        server.stop()
