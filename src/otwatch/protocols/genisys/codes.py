"""The one table of Genisys codes (Union Switch & Signal / Hitachi Rail's wayside code-line protocol
between a control office and field code units, here over TCP 10001).

Source: CISA ICSNPP's icsnpp-genisys Spicy parser (analyzer/analyzer.spicy, analyzer/main.zeek): header
codes, byte escaping, terminator, the CRC's placement and which messages carry one. The CRC is
CRC-16/MODBUS (initial value 0xFFFF): every transmitted CRC in ICSNPP's own baseline log
(tests/baseline/analyzer.basic/genisys.log, replayed from a field capture) matches it, while the
"crc_calculated" column there, computed with initial value 0, matches none.
"""

from __future__ import annotations

from typing import Final

GENISYS_PORT: Final = 10001
ESCAPE: Final = 0xF0
TERMINATOR: Final = 0xF6
HEADER_MIN: Final = 0xF1
HEADER_MAX: Final = 0xFE

HEADERS: Final[dict[int, str]] = {
    0xF1: "Acknowledge Client",
    0xF2: "Indication Data",
    0xF3: "Control Data Checkback",
    0xF9: "Common Control Data",
    0xFA: "Acknowledge Indication and Poll",
    0xFB: "Poll",
    0xFC: "Control Data",
    0xFD: "Recall Header",
    0xFE: "Execute Controls",
}
ACKNOWLEDGE_CLIENT: Final = 0xF1
INDICATION_DATA: Final = 0xF2
POLL: Final = 0xFB
#: Headers a field unit (the server) sends; the office (the client) sends 0xF9-0xFE.
FROM_SERVER: Final = frozenset({0xF1, 0xF2, 0xF3})


def header_name(code: int) -> str:
    return HEADERS.get(code, "unknown")
