"""Protocol Violation: frames that are out of spec and codes that the protocol does not define.

Works on what the dissectors already report (``Record.malformed``, function and exception codes), so
it costs a few dict lookups per record and nothing per packet. Link/network headers that
:func:`~otwatch.sensor.capture.decode.decode` found out of spec are reported once per source.

Repeats are one alert: a fuzzer sending a hundred illegal function codes, or a stream of malformed
frames, is one alert per type between the same two devices over one protocol, whose count grows and
whose details tally what varied (``function_codes``, ``reasons``; see
:func:`~otwatch.sensor.tracking.alerts.tally`); each occurrence's packet joins the alert's PCAP.
"""

from __future__ import annotations

import re
from typing import Final

from otwatch.inventory.asset import Asset
from otwatch.protocols.base import Record
from otwatch.protocols.dnp3.codes import IIN
from otwatch.protocols.modbus.codes import ExceptionCode, FunctionCode
from otwatch.sensor.tracking.alerts import AlertStore, protocol_label
from otwatch.sensor.tracking.flows import Flow

MODBUS_CODES: Final = frozenset(int(c) for c in FunctionCode)
# Codes the specification leaves to users (65-72, 100-110) and vendor codes in the field (Schneider UMAS
# 90, Modicon programming 125/126): unusual, and left to the Policy engine rather than called illegal.
MODBUS_USER_CODES: Final = frozenset((*range(65, 73), *range(100, 111), 90, 125, 126))
#: The protocols whose codes :meth:`ProtocolViolationEngine.on_record` checks; for the others it only
#: looks at ``Record.malformed``, and the pipeline skips the call for a well-formed record.
RECORD_PROTOCOLS: Final = frozenset({"modbus", "dnp3", "s7comm"})
SLAVE_EXCEPTIONS: Final[dict[int, str]] = {
    ExceptionCode.ILLEGAL_FUNCTION: "SLAVE_ILLEGAL_FUNCTION",
    ExceptionCode.ILLEGAL_DATA_ADDRESS: "SLAVE_ILLEGAL_ADDRESS",
    ExceptionCode.ILLEGAL_DATA_VALUE: "SLAVE_ILLEGAL_VALUE",
}


class ProtocolViolationEngine:
    def __init__(self, alerts: AlertStore) -> None:
        self.alerts = alerts

    def on_malformed_frame(self, ts: float, reason: str, src: Asset | None, dst: Asset | None) -> None:
        self.alerts.raise_alert(
            "MALFORMED_PACKET",
            ts,
            f"A frame from {src.label if src else 'an unknown source'} has out-of-spec headers: {reason}.",
            src=src,
            dst=dst,
            protocol="ethernet/ip",
            subject=reason,
        )

    def on_record(self, ts: float, flow: Flow, record: Record, src: Asset | None, dst: Asset | None) -> None:
        fields = record.fields
        protocol = record.protocol
        raise_alert = self.alerts.raise_alert
        if protocol == "modbus":
            code = fields.get("func_code")
            if record.direction == "request" and code is not None:
                if code == 0:
                    raise_alert(
                        "MODBUS_FUNCTION_CODE_ZERO",
                        ts,
                        f"{_l(src)} sent a Modbus request with function code 0 to unit {fields.get('unit')} "
                        f"on {_l(dst)}; code 0 is not a valid Modbus function.",
                        src=src,
                        dst=dst,
                        protocol=protocol,
                        flow=flow.key,
                        tally_as=("units", str(fields.get("unit"))),
                    )
                    return
                if code not in MODBUS_CODES and code not in MODBUS_USER_CODES:
                    raise_alert(
                        "ILLEGAL_FUNCTION_CODE",
                        ts,
                        f"{_l(src)} sent Modbus function code {code}, which the Modbus specification does "
                        f"not define, to {_l(dst)}.",
                        src=src,
                        dst=dst,
                        protocol=protocol,
                        subject=protocol,
                        flow=flow.key,
                        tally_as=("function_codes", str(code)),
                    )
                    return
            exc = fields.get("exception_code")
            if exc is not None and exc in SLAVE_EXCEPTIONS:
                raise_alert(
                    SLAVE_EXCEPTIONS[exc],
                    ts,
                    f"Modbus device {_l(src)} (unit {fields.get('unit')}) answered {fields.get('func')} from "
                    f"{_l(dst)} with exception {fields.get('exception')}"
                    + (f" for address {fields['address']}" if "address" in fields else "")
                    + ".",
                    src=dst,
                    dst=src,
                    protocol=protocol,
                    subject=protocol,
                    flow=flow.key,
                    tally_as=("function_codes", str(fields.get("func_code"))),
                )
                return
        elif protocol == "dnp3":
            func = fields.get("func")
            if isinstance(func, str) and func.startswith("unknown-"):
                raise_alert(
                    "ILLEGAL_FUNCTION_CODE",
                    ts,
                    f"{_l(src)} sent DNP3 function code {fields.get('func_code')}, which DNP3 does not "
                    f"define, to {_l(dst)}.",
                    src=src,
                    dst=dst,
                    protocol=protocol,
                    subject=protocol,
                    flow=flow.key,
                    tally_as=("function_codes", str(fields.get("func_code"))),
                )
                return
            iin = fields.get("iin")
            if iin and iin & IIN.NO_FUNC_CODE_SUPPORT:
                raise_alert(
                    "SLAVE_ILLEGAL_FUNCTION",
                    ts,
                    f"DNP3 outstation {_l(src)} (address {fields.get('source')}) reports a function code it "
                    f"does not support (IIN2.0) in a reply to {_l(dst)}.",
                    src=dst,
                    dst=src,
                    protocol=protocol,
                    subject=protocol,
                    flow=flow.key,
                    tally_as=("function_codes", str(fields.get("func_code"))),
                )
        elif (
            protocol == "s7comm"
            and fields.get("function_name") == "unknown"
            and record.direction == "request"
        ):
            raise_alert(
                "ILLEGAL_FUNCTION_CODE",
                ts,
                f"{_l(src)} sent S7 function code {fields.get('function_code')}, which S7comm does not "
                f"define, to {_l(dst)}.",
                src=src,
                dst=dst,
                protocol=protocol,
                subject=protocol,
                flow=flow.key,
                tally_as=("function_codes", str(fields.get("function_code"))),
            )
            return
        if record.malformed is not None:
            raise_alert(
                "MALFORMED_PACKET",
                ts,
                f"{protocol_label(protocol)} message from {_l(src)} to {_l(dst)} is out of spec: "
                f"{record.malformed}.",
                src=src,
                dst=dst,
                protocol=protocol,
                subject=protocol,
                flow=flow.key,
                details={"reason": record.malformed},
                tally_as=("reasons", _reason_class(record.malformed)),
            )


def _l(asset: Asset | None) -> str:
    return asset.label if asset is not None else "an unknown device"


_DIGITS: Final = re.compile(r"\d+")


def _reason_class(reason: str) -> str:
    """Reasons that differ only by numbers ("12 bytes before ...") are counted as one ("N bytes ...")."""
    return _DIGITS.sub("N", reason)
