"""Substation: each IEC 61850 GOOSE publisher's state and sequence numbers and its heartbeat.

A publisher (one control block, keyed by source MAC and ``gocbRef``) retransmits its dataset with
``sqNum`` counting up and the same ``stNum``; a new event raises ``stNum`` by one and restarts
``sqNum``; the next frame is due before ``timeAllowedtoLive`` ms (IEC 61850-8-1, 18.1). Checked on
every GOOSE record:

* GOOSE State Number Out of Sequence: ``stNum`` up by more than one (events lost or injected), or
  down without the publisher restarting (a restart starts again at stNum 1 with a new event time).
  T0856 Spoof Reporting Message.
* GOOSE Message Replayed: the same ``stNum`` and event time ``t`` with a ``sqNum`` that does not
  increase (and does not wrap): a captured frame sent again. T0830 Adversary-in-the-Middle.
* GOOSE Simulation/Test Message: the simulation (Ed. 1 test) flag, or the simulation bit of the
  header's reserved field: an IED in test mode would act on it. T0856 Spoof Reporting Message.
* GOOSE Publisher Silent Past Its Time Allowed to Live: the next frame came later than the last
  one's ``timeAllowedtoLive`` (subscribers then declare the data invalid). T0814 Denial of Service.

Memory is bounded: at most :data:`MAX_PUBLISHERS` publishers, least recently heard forgotten first.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Final

from otwatch.inventory.asset import Asset
from otwatch.protocols.base import Record
from otwatch.protocols.operations import (
    ADVERSARY_IN_THE_MIDDLE_T,
    DENIAL_OF_SERVICE_T,
    SPOOF_REPORTING_T,
    Technique,
)
from otwatch.sensor.tracking.alerts import AlertStore

MAX_PUBLISHERS: Final = 10_000
COUNTER_WRAP: Final = 1 << 32
TAL_GRACE: Final = 0.010  # seconds of capture-clock jitter allowed past timeAllowedtoLive


class _Publisher:
    __slots__ = ("last", "sq_num", "st_num", "t", "tal")

    def __init__(self, ts: float, st_num: int, sq_num: int, t: Any, tal: int) -> None:
        self.last, self.st_num, self.sq_num, self.t, self.tal = ts, st_num, sq_num, t, tal


class SubstationEngine:
    def __init__(self, alerts: AlertStore) -> None:
        self.alerts = alerts
        self._publishers: OrderedDict[tuple[bytes, str], _Publisher] = OrderedDict()

    def on_goose(self, ts: float, src_mac: bytes, src: Asset | None, record: Record) -> None:
        fields = record.fields
        if record.malformed or record.protocol != "goose":
            return
        ref: str = fields["gocb_ref"]
        st, sq, t, tal = fields["st_num"], fields["sq_num"], fields.get("t"), fields["time_allowed_to_live"]
        if fields.get("simulation"):
            self._raise("GOOSE_SIMULATION", ts, src, ref, SPOOF_REPORTING_T,
                        f"{ref} published with the simulation/test flag set (stNum {st}, sqNum {sq})", fields)  # fmt: skip
        key = (src_mac, ref)
        pub = self._publishers.get(key)
        if pub is None:
            self._publishers[key] = _Publisher(ts, st, sq, t, tal)
            if len(self._publishers) > MAX_PUBLISHERS:
                self._publishers.popitem(last=False)
            return
        self._publishers.move_to_end(key)
        gap = ts - pub.last
        if pub.tal and gap > pub.tal / 1000 + TAL_GRACE:
            self._raise("GOOSE_TAL_EXPIRED", ts, src, ref, DENIAL_OF_SERVICE_T,
                        f"{ref} was silent {gap:.3f} s, past its timeAllowedtoLive of {pub.tal} ms", fields)  # fmt: skip
        restarted = st <= 1 and t != pub.t
        if st != pub.st_num and not restarted and st != (pub.st_num + 1) % COUNTER_WRAP:
            if not (pub.st_num == COUNTER_WRAP - 1 and st == 1):
                self._raise("GOOSE_STNUM_JUMP", ts, src, ref, SPOOF_REPORTING_T,
                            f"{ref} stNum went from {pub.st_num} to {st}", fields, previous=pub.st_num)  # fmt: skip
        elif st == pub.st_num and t == pub.t and sq <= pub.sq_num and pub.sq_num < COUNTER_WRAP - 1:
            self._raise("GOOSE_SQNUM_REPLAY", ts, src, ref, ADVERSARY_IN_THE_MIDDLE_T,
                        f"{ref} sqNum {sq} after {pub.sq_num} with the same stNum {st} and event time",
                        fields, previous=pub.sq_num)  # fmt: skip
        pub.last, pub.st_num, pub.sq_num, pub.t, pub.tal = ts, st, sq, t, tal

    def _raise(self, code: str, ts: float, src: Asset | None, ref: str, technique: Technique,
               description: str, fields: dict[str, Any], previous: int | None = None) -> None:  # fmt: skip
        details: dict[str, Any] = {
            "technique": technique.id,
            "technique_name": technique.name,
            "gocb_ref": ref,
            "appid": fields.get("appid"),
            "st_num": fields.get("st_num"),
            "sq_num": fields.get("sq_num"),
        }
        if previous is not None:
            details["previous"] = previous
        self.alerts.raise_alert(
            code, ts, description, src=src, protocol="goose", subject=ref, details=details
        )
