"""Pure formatters: an event (an alert or a system notification as a JSON dict) to the wire formats.

* RFC 5424 syslog with an ``otwatch@32473`` structured-data element (32473 is the enterprise number
  RFC 5612 reserves for documentation; a deployment with its own PEN can change ``SD_ID``),
* ArcSight CEF 0 and IBM QRadar LEEF 2.0, each carried as the MSG of an RFC 5424 syslog line,
* octet-counted framing for syslog over TCP and TLS (RFC 6587 section 3.4.1, RFC 5425),
* email subject and body, and the webhook JSON body.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from otwatch.inventory.vocabulary import Severity

Event = dict[str, Any]

VENDOR = PRODUCT = "OTWatch"
SD_ID = "otwatch@32473"
APP_NAME = "otwatch"
CEF_SEVERITY = {s.value: s.cef for s in Severity}  # the shared vocabulary's mappings
SYSLOG_SEVERITY = {s.value: s.syslog for s in Severity}
LEEF_TIME_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"
FACILITY_LOCAL0 = 16


# Line breaks and control characters a sensor may put in a title or description (CR, LF, NUL, VT, FF,
# ESC, NEL, U+2028, U+2029 and every other C0/C1 control): never raw in a syslog line or a header.
_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(value: Any) -> str:
    """``value`` as text without line breaks or control characters (each becomes a space; TAB stays,
    the formats that give it a meaning replace it themselves)."""
    return _CONTROLS.sub(" ", str(value))


def event_time(ev: Event) -> datetime:
    raw = ev.get("last_seen") or ev.get("created_at")
    if not raw:
        return datetime.now(UTC)
    t = datetime.fromisoformat(str(raw))
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def event_code(ev: Event) -> str:
    """The signature id: the alert code, or the notification kind in capitals."""
    if ev.get("kind") == "notification":
        return str(ev.get("type", "SYSTEM_NOTIFICATION")).upper()
    return str(ev.get("code") or "ALERT")


def _fields(ev: Event) -> list[tuple[str, Any]]:
    """The common fields of an event, in a fixed order, with absent values dropped later."""
    if ev.get("kind") == "notification":
        return [
            ("msg", ev.get("message")),
            ("reason", ev.get("reason")),
            ("cat", "System Notification"),
        ]
    return [
        ("src", ev.get("source_ip")),
        ("smac", ev.get("source_mac")),
        ("dst", ev.get("destination_ip")),
        ("dmac", ev.get("destination_mac")),
        ("proto", ev.get("protocol")),
        ("cat", ev.get("engine")),
        ("msg", ev.get("description")),
        ("cnt", ev.get("count")),
    ]


# ---------------------------------------------------------------- CEF


def _cef_header(value: Any) -> str:
    return one_line(value).replace("\\", "\\\\").replace("|", "\\|")


def _cef_value(value: Any) -> str:
    text = str(value).replace("\\", "\\\\").replace("=", "\\=")
    text = text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")
    return one_line(text)


def _technique(ev: Event) -> str | None:
    """ "T0843 Program Download": the MITRE ATT&CK for ICS technique an alert maps onto, if any."""
    tid = ev.get("technique")
    if not tid:
        return None
    return f"{tid} {ev.get('technique_name') or ''}".strip()


def cef(ev: Event, version: str) -> str:
    """``CEF:0|OTWatch|OTWatch|<ver>|<code>|<title>|<severity 0-10>|rt=.. src=.. dst=.. proto=..``."""
    ms = int(event_time(ev).timestamp() * 1000)
    ext: list[tuple[str, Any]] = [("rt", ms), *_fields(ev)]
    ext += [
        ("externalId", ev.get("id")),
        ("deviceExternalId", ev.get("sensor_id")),
        ("cs1Label", "Sensor" if ev.get("sensor_name") else None),
        ("cs1", ev.get("sensor_name")),
        ("cs2Label", "MITRE ATT&CK for ICS" if ev.get("technique") else None),
        ("cs2", _technique(ev)),
    ]
    header = [
        "CEF:0",
        _cef_header(VENDOR),
        _cef_header(PRODUCT),
        _cef_header(version),
        _cef_header(event_code(ev)),
        _cef_header(ev.get("title", "")),
        str(CEF_SEVERITY.get(str(ev.get("severity")), 5)),
    ]
    extension = " ".join(f"{k}={_cef_value(v)}" for k, v in ext if v not in (None, ""))
    return "|".join(header) + "|" + extension


def parse_cef(line: str) -> tuple[list[str], dict[str, str]]:
    """Split a CEF record into its 7 header fields and its extension (for tests and receivers)."""
    start = line.index("CEF:")
    header: list[str] = []
    cur, i, text = "", start, line
    while len(header) < 7:
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur += text[i + 1]
            i += 2
            continue
        if ch == "|":
            header.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    ext: dict[str, str] = {}
    rest = text[i:]
    keys = list(re.finditer(r"(?:^| )([A-Za-z0-9_]+)=", rest))
    for n, m in enumerate(keys):
        end = keys[n + 1].start() if n + 1 < len(keys) else len(rest)
        raw = rest[m.end() : end]
        ext[m.group(1)] = re.sub(r"\\(.)", lambda x: "\n" if x.group(1) == "n" else x.group(1), raw)
    return header, ext


# ---------------------------------------------------------------- LEEF


def _leef_header(value: Any) -> str:
    return one_line(value).replace("\\", "\\\\").replace("|", "\\|")


def _leef_value(value: Any) -> str:
    return one_line(re.sub(r"[\t\r\n]+", " ", str(value)))


def leef(ev: Event, version: str) -> str:
    """``LEEF:2.0|OTWatch|OTWatch|<ver>|<code>|x09|devTime=..<tab>sev=..<tab>src=..`` (tab-delimited)."""
    t = event_time(ev)
    stamp = t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
    names = {"smac": "srcMAC", "dmac": "dstMAC", "cnt": "count"}
    attrs: list[tuple[str, Any]] = [
        ("devTime", stamp),
        ("devTimeFormat", LEEF_TIME_FORMAT),
        ("sev", CEF_SEVERITY.get(str(ev.get("severity")), 5)),
        ("name", ev.get("title")),
        *((names.get(k, k), v) for k, v in _fields(ev)),
        ("externalId", ev.get("id")),
        ("sensorId", ev.get("sensor_id")),
        ("sensor", ev.get("sensor_name")),
        ("technique", _technique(ev)),
    ]
    header = ["LEEF:2.0", VENDOR, PRODUCT, version, event_code(ev), "x09"]
    body = "\t".join(f"{k}={_leef_value(v)}" for k, v in attrs if v not in (None, ""))
    return "|".join(_leef_header(h) for h in header) + "|" + body


def parse_leef(line: str) -> tuple[list[str], dict[str, str]]:
    start = line.index("LEEF:")
    parts = line[start:].split("|", 6)
    attrs = dict(kv.split("=", 1) for kv in parts[6].split("\t") if "=" in kv)
    return parts[:6], attrs


# ---------------------------------------------------------------- RFC 5424


def _header_token(value: str, limit: int) -> str:
    """A header field: printable US-ASCII without spaces, at most ``limit`` characters, or "-"."""
    text = "".join(ch for ch in value if 33 <= ord(ch) <= 126)[:limit]
    return text or "-"


def _sd_value(value: Any) -> str:
    return one_line(value).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def structured_data(ev: Event) -> str:
    params: list[tuple[str, Any]] = [
        ("id", ev.get("id")),
        ("code", event_code(ev)),
        ("severity", ev.get("severity")),
    ]
    if ev.get("kind") == "notification":
        params += [("reason", ev.get("reason"))]
    else:
        params += [
            ("engine", ev.get("engine")),
            ("protocol", ev.get("protocol")),
            ("src", ev.get("source_ip")),
            ("dst", ev.get("destination_ip")),
            ("count", ev.get("count")),
            ("technique", ev.get("technique")),
        ]
    params += [("sensorId", ev.get("sensor_id")), ("sensor", ev.get("sensor_name"))]
    inner = " ".join(f'{k}="{_sd_value(v)}"' for k, v in params if v not in (None, ""))
    return f"[{SD_ID} {inner}]"


def rfc5424(
    ev: Event,
    *,
    hostname: str,
    msg: str | None = None,
    with_sd: bool = True,
    facility: int = FACILITY_LOCAL0,
    procid: str = "-",
) -> str:
    """``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG``; the time is the event's."""
    pri = facility * 8 + SYSLOG_SEVERITY.get(str(ev.get("severity")), 5)
    t = event_time(ev)
    stamp = t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}Z"
    if msg is None:
        title, detail = ev.get("title", ""), ev.get("description") or ev.get("message") or ""
        msg = f"{title}: {detail}" if detail else str(title)
    msgid = "ALERT" if ev.get("kind") == "alert" else event_code(ev)
    sd = structured_data(ev) if with_sd else "-"
    fields = [
        f"<{pri}>1",
        stamp,
        _header_token(hostname, 255),
        APP_NAME,
        _header_token(procid, 128),
        _header_token(msgid, 32),
        sd,
    ]
    return " ".join(fields) + " " + one_line(msg)


def syslog_line(ev: Event, fmt: str, *, hostname: str, version: str, facility: int = FACILITY_LOCAL0) -> str:
    """The whole syslog message for one of the three formats."""
    if fmt == "rfc5424":
        return rfc5424(ev, hostname=hostname, facility=facility)
    if fmt == "cef":
        return rfc5424(ev, hostname=hostname, msg=cef(ev, version), with_sd=False, facility=facility)
    if fmt == "leef":
        return rfc5424(ev, hostname=hostname, msg=leef(ev, version), with_sd=False, facility=facility)
    raise ValueError(f"unknown syslog format {fmt!r}")


def octet_counted(message: bytes) -> bytes:
    """RFC 6587 octet counting: ``MSG-LEN SP SYSLOG-MSG``."""
    return str(len(message)).encode() + b" " + message


# ---------------------------------------------------------------- email and webhook


def email_subject(ev: Event) -> str:
    """One line, whatever the title holds (a CR/LF made the message unsendable)."""
    if ev.get("kind") == "notification":
        return one_line(f"[OTWatch] System notification: {ev.get('title', '')}")
    if ev.get("kind") == "test":
        return "[OTWatch] Test message"
    return one_line(f"[OTWatch] {ev.get('severity', '')} alert: {ev.get('title', '')}")


def email_body(ev: Event) -> str:
    if ev.get("kind") == "notification":
        rows = [
            ("Notification", ev.get("title")),
            ("Sensor", ev.get("sensor_name")),
            ("Reason", ev.get("reason")),
            ("Time", event_time(ev).isoformat()),
        ]
        lead = str(ev.get("message", ""))
    else:
        rows = [
            ("Alert", ev.get("title")),
            ("Severity", ev.get("severity")),
            ("Engine", ev.get("engine")),
            ("Protocol", ev.get("protocol")),
            ("Source", " ".join(str(x) for x in (ev.get("source_ip"), ev.get("source_mac")) if x)),
            (
                "Destination",
                " ".join(str(x) for x in (ev.get("destination_ip"), ev.get("destination_mac")) if x),
            ),
            ("Sensor", ev.get("sensor_name")),
            ("Code", ev.get("code")),
            ("ATT&CK", _technique(ev)),
            ("Count", ev.get("count")),
            ("Last seen", event_time(ev).isoformat()),
        ]
        lead = str(ev.get("description", ""))
    table = "\n".join(f"{k + ':':<13}{v}" for k, v in rows if v not in (None, ""))
    return f"{lead}\n\n{table}\n\nEvent id: {ev.get('id', '')}\n-- \nSent by OTWatch\n"


def webhook_body(ev: Event, *, delivery_id: str, rule: str, version: str) -> dict[str, Any]:
    """Stable across retries, so a receiver can de-duplicate on ``delivery_id``."""
    return {"delivery_id": delivery_id, "rule": rule, "source": f"OTWatch {version}", "event": ev}
