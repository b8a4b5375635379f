"""The sensor's own e-mail (sensor/node/mailer.py) against a real SMTP server on 127.0.0.1 (aiosmtpd):
plain, STARTTLS with a CA and AUTH, implicit TLS, refusals told as they are, bounded retries when the
server is away, a bounded queue, and a caller that never waits on the mail server."""

from __future__ import annotations

import asyncio
import time
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from otwatch.sensor.node.mailer import MailConfig, Mailer, MailError, MailSetup, send_mail
from tests.listeners import MailSink, NTLMOnly, make_tls, password_authenticator, smtp_server, wait_until
from tests.pg import free_port

pytestmark = pytest.mark.network


def _parsed(sink: MailSink, i: int = 0) -> Message:
    content = sink.envelopes[i].content
    assert isinstance(content, bytes)
    return message_from_bytes(content)


def _body(msg: Message) -> str:
    payload = msg.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def test_plain_message_arrives_with_subject_body_and_recipients() -> None:
    with smtp_server() as (ctl, sink):
        cfg = MailConfig(host="127.0.0.1", port=ctl.port, sender="sensor@plant.example")
        notes = send_mail(cfg, ["ot@plant.example", "soc@plant.example"], "Port\r\nfailed", "the body")
        assert notes == []
        (env,) = sink.envelopes
        assert env.mail_from == "sensor@plant.example"
        assert env.rcpt_tos == ["ot@plant.example", "soc@plant.example"]
        msg = _parsed(sink)
        assert msg["Subject"] == "Port failed"  # one line, whatever the event's text held
        assert _body(msg).strip() == "the body"


def test_starttls_with_the_configured_ca_and_auth_login(tmp_path: Path) -> None:
    tls = make_tls(tmp_path / "tls")
    auth = password_authenticator("relay", "relay-pass")
    with smtp_server(
        tls_context=tls.server_context(), require_starttls=True, authenticator=auth, auth_require_tls=True
    ) as (ctl, sink):
        cfg = MailConfig(
            host="127.0.0.1", port=ctl.port, sender="s@plant.example", security="starttls",
            username="relay", password="relay-pass", ca_pem=tls.ca_pem, ntlm=True,
        )  # fmt: skip
        notes = send_mail(cfg, ["ot@plant.example"], "over TLS", "x")
        (note,) = notes  # Use NTLM is on: the fallback is said, not hidden
        assert (
            note.startswith("NTLM authentication is not supported")
            and "authenticated with AUTH PLAIN" in note
        )
        assert len(sink.envelopes) == 1
        # the system roots do not know the throw-away CA: refused, and the reason is said
        with pytest.raises(MailError, match="certificate verification failed") as bad:
            send_mail(_with(cfg, ca_pem=""), ["a@b.c"], "s", "b")
        assert bad.value.permanent
        with pytest.raises(MailError, match="authentication failed for 'relay'") as wrong:
            send_mail(_with(cfg, password="nope"), ["a@b.c"], "s", "b")
        assert wrong.value.permanent
        # plain SMTP to a server that insists on STARTTLS: its answer is told
        with pytest.raises(MailError, match="530"):
            send_mail(_with(cfg, security="none", username=""), ["a@b.c"], "s", "b")
    assert len(sink.envelopes) == 1


def _with(cfg: MailConfig, **over: object) -> MailConfig:
    values = {f: getattr(cfg, f) for f in MailConfig.__dataclass_fields__}
    values.update(over)
    return MailConfig(**values)  # type: ignore[arg-type]


def test_implicit_tls(tmp_path: Path) -> None:
    tls = make_tls(tmp_path / "tls")
    sink = MailSink()
    ctl = Controller(sink, hostname="127.0.0.1", port=free_port(), ssl_context=tls.server_context())
    ctl.start()
    try:
        cfg = MailConfig(
            host="127.0.0.1", port=ctl.port, sender="s@p.example", security="ssl", ca_pem=tls.ca_pem
        )
        send_mail(cfg, ["ot@p.example"], "implicit", "b")
        assert len(sink.envelopes) == 1
    finally:
        ctl.stop()


def test_ntlm_only_server_is_refused_clearly() -> None:
    with smtp_server(NTLMOnly(), auth_require_tls=False, auth_exclude_mechanism=["LOGIN", "PLAIN"]) as (
        ctl,
        _,
    ):
        cfg = MailConfig(
            host="127.0.0.1", port=ctl.port, sender="s@p.example", username="u", password="p", ntlm=True
        )
        with pytest.raises(MailError, match="NTLM authentication is not supported") as exc:
            send_mail(cfg, ["a@p.example"], "s", "b")
        assert exc.value.permanent


def test_unreachable_server_and_no_recipients() -> None:
    cfg = MailConfig(host="127.0.0.1", port=free_port(), sender="s@p.example")
    with pytest.raises(MailError, match=r"cannot connect to the mail server 127\.0\.0\.1") as exc:
        send_mail(cfg, ["a@p.example"], "s", "b", timeout=2)
    assert not exc.value.permanent  # worth trying again
    with pytest.raises(MailError, match="no recipients"):
        send_mail(cfg, [], "s", "b")


class SlowSink(MailSink):
    """Takes its time over every message (a slow relay)."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(0.5)
        return await super().handle_DATA(server, session, envelope)


def test_notify_returns_at_once_and_the_thread_sends() -> None:
    with smtp_server(SlowSink()) as (ctl, sink):
        setup = MailSetup(MailConfig("127.0.0.1", ctl.port, "s@p.example"), ("ot@p.example",))
        mailer = Mailer(lambda: setup, sensor_name=lambda: "sensor-7")
        started = time.perf_counter()
        for i in range(3):
            assert mailer.notify(f"event {i}", f"what happened {i}")
        queued = time.perf_counter() - started
        assert queued < 0.05, queued  # three sends take 1.5 s; the caller waited for none of them
        assert mailer.flush(15)
        mailer.stop()
        subjects = [_parsed(sink, i)["Subject"] for i in range(3)]
        assert subjects == [f"[OTWatch sensor sensor-7] event {i}" for i in range(3)]
        body = _body(_parsed(sink, 2))
        assert "what happened 2" in body and "Sensor: sensor-7" in body and "Event time:" in body
        assert [r.sent for r in mailer.results()] == [True, True, True]


def test_a_server_that_comes_back_gets_the_message_after_a_retry() -> None:
    port = free_port()
    setup = MailSetup(MailConfig("127.0.0.1", port, "s@p.example"), ("ot@p.example",))
    mailer = Mailer(lambda: setup, retries=(1.0, 1.0), timeout=2)
    seen: list[bool] = []
    mailer.on_result = lambda r: seen.append(r.sent)
    assert mailer.notify("backup failed", "disk full")
    time.sleep(0.3)  # the first attempt fails: nobody listens
    sink = MailSink()
    ctl = Controller(sink, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        assert mailer.flush(15)
        (result,) = mailer.results()
        assert result.sent and result.attempts == 2, result
        assert len(sink.envelopes) == 1 and seen == [True]
    finally:
        ctl.stop()
        mailer.stop()


def test_retries_are_bounded_and_refusals_are_not_retried() -> None:
    setup = MailSetup(MailConfig("127.0.0.1", free_port(), "s@p.example"), ("ot@p.example",))
    mailer = Mailer(lambda: setup, retries=(0.1, 0.1), timeout=1)
    mailer.notify("port down", "x")
    assert mailer.flush(15)
    (gave_up,) = mailer.results()
    assert not gave_up.sent and gave_up.attempts == 3 and "cannot connect" in gave_up.detail
    with smtp_server(authenticator=password_authenticator("u", "right"), auth_require_tls=False) as (
        ctl,
        sink,
    ):
        refused = MailSetup(
            MailConfig("127.0.0.1", ctl.port, "s@p.example", username="u", password="wrong"), ("a@p.example",)
        )
        mailer.source = lambda: refused
        mailer.notify("port down", "x")
        assert mailer.flush(15)
        assert mailer.results()[0].attempts == 1 and "authentication failed" in mailer.results()[0].detail
        assert sink.envelopes == []
    mailer.stop()


def test_the_queue_is_bounded_and_nothing_is_queued_without_settings() -> None:
    setup: MailSetup | None = None
    mailer = Mailer(lambda: setup, retries=(5.0,), max_queue=2, timeout=1)
    assert not mailer.notify("no server", "x")  # no mail server set: nothing queued
    setup = MailSetup(MailConfig("127.0.0.1", free_port(), "s@p.example"), ())
    assert not mailer.notify("no recipients", "x")
    setup = MailSetup(MailConfig("127.0.0.1", free_port(), "s@p.example"), ("a@p.example",))
    for i in range(5):
        mailer.notify(f"m{i}", "x")  # the first is being retried; the queue holds two
    wait_until(lambda: sum("queue was full" in r.detail for r in mailer.results()) >= 2)
    mailer.stop()


def test_a_sensor_cut_off_from_its_console_mails_once_and_again_when_back(tmp_path: Path) -> None:
    from otwatch.sensor.local.store import SensorStore
    from tests.sensor.web.test_pages import _paired_node

    node = _paired_node(tmp_path)  # managed by console.plant:8443
    store = SensorStore(tmp_path / "paired")
    store.set_mail_recipients(["ot@plant.example"])
    with smtp_server() as (ctl, sink):
        node.apply_config(
            {"mail_server": {"address": "127.0.0.1", "port": ctl.port, "sender": "s@plant.example"}}
        )
        node.attach_store(store)
        try:
            node.check_link(1000.0)  # connected
            node.runtime.last_error = "console unreachable: [Errno 111] Connection refused"
            node.check_link(1010.0)
            node.check_link(1010.0 + node.link_mail_after - 1)  # not yet: a short outage is no news
            assert node.mailer.flush(5) and sink.envelopes == []
            node.check_link(1010.0 + node.link_mail_after)
            node.check_link(1010.0 + node.link_mail_after + 60)  # once per outage
            node.runtime.last_error = None
            node.check_link(2000.0)
            node.check_link(2010.0)
            assert node.mailer.flush(15)
        finally:
            node.stop()
    subjects = [str(_parsed(sink, i)["Subject"]) for i in range(len(sink.envelopes))]
    assert len(subjects) == 2, subjects
    assert subjects[0].endswith("Sensor not communicating with the management console")
    assert subjects[1].endswith("Connection to the management console restored")
    body = _body(_parsed(sink, 0))
    assert "console.plant:8443 for 5 min" in body and "Connection refused" in body
