"""Passive IEEE C37.118.2 synchrophasor (TCP 4712, UDP 4713): framing by FRAMESIZE -> one Record per
frame; the CRC-CCITT check word is verified (a wrong one is malformed: the SYNC byte and lengths have
already made the protocol certain).

Hand-written for the sensor's hot path: data frames (tens per second per PMU, nearly all the traffic)
are read for their common header only. Configuration frames (CFG-1/2) name the stream: station names
(STN) and IDCODEs of every PMU, channel names, nominal frequency, data rate -> identity (name = the
station name; a stream of several PMUs is a PDC). CFG-3 is read for its header. Command frames (turn
transmission off/on, send a configuration or header) are kept as fields. Never raises on wire bytes.
"""

from __future__ import annotations

from typing import Any, Final

from otwatch.inventory.identity import Identity
from otwatch.protocols.base import Record
from otwatch.protocols.c37118.codes import CFG1, CFG2, COMMAND, COMMANDS, DATA, FRAME_TYPES, HEADER, SYNC
from otwatch.protocols.c37118.messages import COMMON, COMMON_SIZE, C37DecodeError, Config, crc_ccitt
from otwatch.protocols.framing import LengthFramed

PROTOCOL: Final = "c37118"
MAX_FRAME: Final = 65535
_unpack = COMMON.unpack_from


class C37118Dissector(LengthFramed):
    """Per-direction framing by FRAMESIZE; ``datagrams`` (UDP) drops a partial frame at a datagram's end."""

    __slots__ = ()
    protocol = PROTOCOL
    header_size = 4
    cut_short = "C37.118 frame cut short"

    def frame_size(self, data: bytes, pos: int, from_client: bool) -> int | Record:
        size = data[pos + 2] << 8 | data[pos + 3]
        if data[pos] != SYNC or (data[pos + 1] >> 4) & 0x7 not in FRAME_TYPES or size < COMMON_SIZE + 2:
            return Record(
                PROTOCOL,
                "request" if from_client else "response",
                {"sync": data[pos] << 8 | data[pos + 1], "framesize": size},
                malformed=f"bad C37.118 SYNC or FRAMESIZE (0x{data[pos]:02x}{data[pos + 1]:02x}, {size})",
            )
        return size

    def message(self, data: bytes, pos: int, size: int, from_client: bool) -> Record:
        return dissect_frame(data[pos : pos + size])


def dissect_frame(data: bytes) -> Record:
    """One whole frame (FRAMESIZE bytes) -> one record."""
    _sync, tv, size, idcode, soc, fracsec = _unpack(data)
    ftype = (tv >> 4) & 0x7
    fields: dict[str, Any] = {
        "frame_type_code": ftype,
        "frame_type": FRAME_TYPES[ftype],
        "version": tv & 0x0F,
        "framesize": size,
        "idcode": idcode,
        "soc": soc,
        "fracsec": fracsec & 0xFFFFFF,
        "time_quality": fracsec >> 24,
        "chk": data[size - 2] << 8 | data[size - 1],
    }
    record = Record(PROTOCOL, "request" if ftype == COMMAND else "response", fields)
    if ftype == DATA:  # the hot path: nothing more without the stream's configuration
        if crc_ccitt(data[: size - 2]) != fields["chk"]:
            record.malformed = "C37.118 CHK (CRC-CCITT) does not match"
        return record
    if crc_ccitt(data[: size - 2]) != fields["chk"]:
        record.malformed = "C37.118 CHK (CRC-CCITT) does not match"
        return record
    body = data[COMMON_SIZE : size - 2]
    if ftype == COMMAND:
        if len(body) >= 2:
            command = body[0] << 8 | body[1]
            fields["command"] = command
            fields["command_name"] = COMMANDS.get(command, f"unknown-{command}")
        else:
            record.malformed = "C37.118 command frame without a command"
    elif ftype in (CFG1, CFG2):
        try:
            config = Config.decode(body)
        except C37DecodeError as exc:
            record.malformed = str(exc)
            return record
        fields["time_base"] = config.time_base
        fields["num_pmu"] = len(config.pmus)
        fields["data_rate"] = config.data_rate
        fields["stations"] = [
            {
                "station": p.station,
                "idcode": p.idcode,
                "phasors": p.phasors,
                "analogs": p.analogs,
                "digitals": [d for d in p.digitals if d],
                "nominal_frequency": p.nominal_frequency,
                "config_count": p.config_count,
            }
            for p in config.pmus
        ]
    elif ftype == HEADER:
        fields["header"] = body[:256].decode("latin-1", "replace").strip(" \x00")
    return record


def identity_from(record: Record) -> Identity | None:
    """A configuration frame: the station name (STN) of its PMU, or of the first of a PDC's PMUs."""
    fields = record.fields
    stations = fields.get("stations")
    if record.malformed or not stations:
        return None
    first = stations[0]
    extra: dict[str, Any] = {
        "c37118_role": "PDC" if len(stations) > 1 else "PMU",
        "c37118_idcode": fields["idcode"],
        "c37118_data_rate": fields["data_rate"],
        "c37118_stations": [f"{s['station']} ({s['idcode']})" for s in stations],
        "c37118_phasors": first["phasors"],
        "nominal_frequency": first["nominal_frequency"],
    }
    return Identity(protocol=PROTOCOL, name=first["station"] or None, extra=extra)


def detect(payload: bytes) -> bool:
    """SYNC 0xAA, a defined frame type and version 1-3, and a FRAMESIZE that is at least a whole
    header and, when the frame is all there, ends in a CRC that matches."""
    if len(payload) < COMMON_SIZE + 2 or payload[0] != SYNC:
        return False
    ftype, version = (payload[1] >> 4) & 0x0F, payload[1] & 0x0F
    size = payload[2] << 8 | payload[3]
    if ftype not in FRAME_TYPES or not 1 <= version <= 3 or size < COMMON_SIZE + 2:
        return False
    if len(payload) >= size:
        return crc_ccitt(payload[: size - 2]) == (payload[size - 2] << 8 | payload[size - 1])
    return ftype in (CFG1, CFG2, 5, HEADER)  # a long configuration frame split over segments
