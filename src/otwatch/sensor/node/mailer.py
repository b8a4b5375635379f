"""E-mail sent by the sensor itself (seed 003: "email alerts about ... failed sensor backup retrievals,
and SPAN monitoring port failures"), through the sensor's mail server settings.

The settings come from System settings > Integrations > Mail server: pushed by the console for a
managed sensor, saved on the sensor console for a locally managed one
(:func:`mail_setup` picks the one in force). The account's password and an optional CA certificate for
the server are this sensor's own secrets (never pushed); the recipients are kept on the sensor too.

Sending never blocks the capture or a page: :meth:`Mailer.notify` puts the message on a bounded
queue and returns; one daemon thread sends, with a timeout per connection and a bounded number of
retries (growing pauses) for temporary failures (no answer, 4xx). A full queue drops the oldest
message (logged). Each result is kept (:meth:`Mailer.results`) and handed to ``on_result`` (the event
timeline). :meth:`Mailer.test` sends at once and raises what the server said (the page's "Send test
e-mail").

Transport: the SMTP session the central console uses too (:mod:`otwatch.wire.smtp`: plain, STARTTLS or
implicit TLS, certificates checked against the system roots or the configured CA, what Use NTLM does).
"""

from __future__ import annotations

import collections
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, Final

from otwatch.wire.smtp import SmtpError, SmtpServer, build_message, converse, deliver

log = logging.getLogger("otwatch.sensor.mail")

DEFAULT_TIMEOUT: Final = 10.0
DEFAULT_RETRIES: Final = (10.0, 60.0, 300.0)  # pauses before the 2nd, 3rd and 4th attempt
MAX_QUEUE: Final = 100
KEPT_RESULTS: Final = 20


MailError = SmtpError  # permanent when trying again cannot help (refused, misconfigured)


@dataclass(frozen=True, slots=True)
class MailConfig:
    host: str
    port: int = 25
    sender: str = ""
    security: str = "none"  # none | starttls | ssl
    username: str = ""  # empty: no authentication
    password: str = field(default="", repr=False)
    ntlm: bool = False
    ca_pem: str = ""
    held_back: str = ""  # why the stored password is not sent to this server (it was set for another)

    @classmethod
    def from_group(cls, group: Mapping[str, Any] | None, secrets: Mapping[str, str]) -> MailConfig | None:
        """The ``mail_server`` group (pushed or saved here) with this sensor's secrets; None when unset."""
        if not group or not str(group.get("address") or "").strip():
            return None
        return cls(
            host=str(group["address"]).strip(),
            port=int(group.get("port") or 25),
            sender=str(group.get("sender") or ""),
            security=str(group.get("ssl") or "none"),
            username=str(group.get("username") or ""),
            password=secrets.get("mail_password", ""),
            ntlm=bool(group.get("ntlm")),
            ca_pem=secrets.get("mail_ca_certificate", ""),
            held_back=secrets.get("mail_password@moved", ""),
        )

    def server(self) -> SmtpServer:
        return SmtpServer(
            host=self.host,
            port=self.port,
            security=self.security,
            ca_pem=self.ca_pem or None,
            authenticate=bool(self.username),
            username=self.username,
            password=self.password,
            ntlm=self.ntlm,
        )


@dataclass(frozen=True, slots=True)
class MailSetup:
    """What sending needs: the server and who receives the sensor's e-mail."""

    config: MailConfig
    recipients: tuple[str, ...]


def mail_setup(
    group: Mapping[str, Any] | None, recipients: Sequence[str], secrets: Mapping[str, str]
) -> MailSetup | None:
    cfg = MailConfig.from_group(group, secrets)
    return None if cfg is None else MailSetup(cfg, tuple(recipients))


# ---------------------------------------------------------------- one message


def send_mail(
    cfg: MailConfig, to: Sequence[str], subject: str, body: str, *, timeout: float = DEFAULT_TIMEOUT
) -> list[str]:
    """Send one message now; returns notes for the operator. MailError says what went wrong."""
    if not to:
        raise MailError("no recipients are set (Mail server > Recipients)", permanent=True)
    if cfg.username and cfg.held_back:  # neither the password nor an empty one goes to this server
        raise MailError(cfg.held_back, permanent=True)
    sender = cfg.sender or f"otwatch-sensor@{socket.getfqdn()}"
    msg = build_message(sender, to, subject, body, domain="otwatch-sensor")
    return converse(cfg.server(), timeout, sender, deliver(msg, sender, to))


# ---------------------------------------------------------------- the queue


@dataclass(frozen=True, slots=True)
class MailResult:
    at: float
    subject: str
    sent: bool
    detail: str  # the recipients, or why it was not sent
    attempts: int


@dataclass(frozen=True, slots=True)
class _Message:
    subject: str
    body: str
    queued: float


class Mailer:
    """The sensor's outgoing e-mail: a bounded queue and one sending thread (started on first use)."""

    def __init__(
        self,
        source: Callable[[], MailSetup | None],
        *,
        sensor_name: Callable[[], str] = socket.gethostname,
        timeout: float = DEFAULT_TIMEOUT,
        retries: Sequence[float] = DEFAULT_RETRIES,
        max_queue: int = MAX_QUEUE,
    ) -> None:
        self.source = source
        self.sensor_name = sensor_name
        self.timeout = timeout
        self.retries = tuple(retries)
        self.max_queue = max_queue
        self.on_result: Callable[[MailResult], object] | None = None
        self._queue: collections.deque[_Message] = collections.deque()
        self._results: collections.deque[MailResult] = collections.deque(maxlen=KEPT_RESULTS)
        self._cond = threading.Condition()
        self._busy = False
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what callers use ------------------------------------------------------------------------
    def notify(self, subject: str, body: str) -> bool:
        """Queue one message for the recipients (returns at once); False when no mail is set up."""
        setup = self._setup()
        if setup is None or not setup.recipients:
            log.debug("no mail server or recipients set: not e-mailing %r", subject)
            return False
        with self._cond:
            if len(self._queue) >= self.max_queue:
                dropped = self._queue.popleft()
                log.warning("mail queue full (%d): dropped %r", self.max_queue, dropped.subject)
                self._record(
                    MailResult(time.time(), dropped.subject, False, "dropped: the mail queue was full", 0)
                )
            self._queue.append(_Message(subject, body, time.time()))
            if self._thread is None or not self._thread.is_alive():
                self._stopped.clear()
                self._thread = threading.Thread(target=self._run, name="sensor-mail", daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return True

    def test(
        self, to: Sequence[str] | None = None, setup: MailSetup | None = None
    ) -> tuple[list[str], list[str]]:
        """Send a test message now (the page's button), with ``setup`` (the form's values, unsaved) or
        the settings in force: (recipients, notes); MailError otherwise. The result is kept either way."""
        setup = setup or self._setup()
        if setup is None:
            raise MailError("no mail server is set", permanent=True)
        recipients = list(to) if to else list(setup.recipients)
        name = self.sensor_name()
        subject = f"[OTWatch sensor {name}] Test e-mail"
        body = (
            f"This is a test e-mail from the OTWatch sensor {name}.\n\n"
            f"Mail server: {setup.config.host}:{setup.config.port} ({setup.config.security})\n"
            f"Sent at: {formatdate(localtime=False, usegmt=True)}\n"
        )
        try:
            notes = send_mail(setup.config, recipients, subject, body, timeout=self.timeout)
        except MailError as exc:
            self._record(MailResult(time.time(), "Test e-mail", False, str(exc), 1))
            raise
        self._record(MailResult(time.time(), "Test e-mail", True, ", ".join(recipients), 1))
        return recipients, notes

    def results(self) -> list[MailResult]:
        """The latest results, newest first."""
        with self._cond:
            return list(reversed(self._results))

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued message was sent or given up (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def stop(self) -> None:
        self._stopped.set()
        with self._cond:
            self._cond.notify_all()

    # -- the sending thread ------------------------------------------------------------------------
    def _setup(self) -> MailSetup | None:
        try:
            return self.source()
        except Exception:  # a broken settings file must not stop the caller
            log.exception("reading the mail settings failed")
            return None

    def _record(self, result: MailResult) -> None:
        with self._cond:
            self._results.append(result)
        if self.on_result is not None:
            try:
                self.on_result(result)
            except Exception:
                log.exception("recording a mail result failed")

    def _run(self) -> None:
        while not self._stopped.is_set():
            with self._cond:
                while not self._queue and not self._stopped.is_set():
                    self._cond.wait(1.0)
                if self._stopped.is_set():
                    return
                msg = self._queue.popleft()
                self._busy = True
            try:
                self._record(self._deliver(msg))
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _deliver(self, msg: _Message) -> MailResult:
        name = self.sensor_name()
        subject = f"[OTWatch sensor {name}] {msg.subject}"
        body = f"{msg.body}\n\nSensor: {name}\nEvent time: {formatdate(msg.queued, usegmt=True)}\n"
        attempts = 0
        while True:
            setup = self._setup()
            if setup is None or not setup.recipients:
                return MailResult(
                    time.time(), msg.subject, False, "no mail server or recipients set", attempts
                )
            attempts += 1
            try:
                notes = send_mail(setup.config, setup.recipients, subject, body, timeout=self.timeout)
            except MailError as exc:
                if exc.permanent or attempts > len(self.retries):
                    log.warning("e-mail %r not sent after %d attempt(s): %s", msg.subject, attempts, exc)
                    return MailResult(time.time(), msg.subject, False, str(exc), attempts)
                log.info("e-mail %r: %s; trying again", msg.subject, exc)
                if self._stopped.wait(self.retries[attempts - 1]):
                    return MailResult(time.time(), msg.subject, False, f"{exc} (sensor stopping)", attempts)
                continue
            detail = ", ".join(setup.recipients) + (f" ({'; '.join(notes)})" if notes else "")
            return MailResult(time.time(), msg.subject, True, detail, attempts)
