"""Passive GOOSE: one record per frame, field names after tshark's ``goose`` dissector."""

from __future__ import annotations

import re
import struct
from typing import Any, Final

from otwatch.protocols.base import Record
from otwatch.protocols.goose.messages import SIMULATION_BIT, GoosePdu, utc_time

PROTOCOL: Final = "goose"
_LD_INST: Final = re.compile(r"(LD\d*|CTRL|PROT|MEAS|SYS)$")


def ied_name(gocb_ref: str) -> str:
    """The IED part of a control block reference: its logical device less a usual LD instance
    suffix ("AA1C1Q01A1LD0/LLN0$GO$gcb_A" -> "AA1C1Q01A1")."""
    device = gocb_ref.split("/", 1)[0]
    return _LD_INST.sub("", device) or device


def dissect_frame(data: bytes) -> Record:
    """One GOOSE frame (from the APPID on) -> one record; never raises."""
    try:
        msg = GoosePdu.decode(data)
    except (ValueError, IndexError, struct.error) as exc:
        return Record(PROTOCOL, "response", {}, malformed=str(exc) or "short GOOSE frame")
    fields: dict[str, Any] = {
        "appid": msg.appid,
        "gocb_ref": msg.gocb_ref,
        "time_allowed_to_live": msg.time_allowed_to_live,
        "dat_set": msg.dat_set,
        "st_num": msg.st_num,
        "sq_num": msg.sq_num,
        "simulation": msg.simulation or bool(msg.reserved1 & SIMULATION_BIT),
        "conf_rev": msg.conf_rev,
        "nds_com": msg.nds_com,
        "num_dat_set_entries": msg.num_dat_set_entries,
    }
    if msg.go_id is not None:
        fields["go_id"] = msg.go_id
    if (t := utc_time(msg.t)) is not None:
        fields["t"] = t
    return Record(PROTOCOL, "response", fields)  # a publication: the publisher is the "server"
