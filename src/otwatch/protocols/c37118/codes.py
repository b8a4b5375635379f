"""The one table of IEEE C37.118.2 synchrophasor codes: frame types, commands, ports."""

from __future__ import annotations

from typing import Final

TCP_PORT: Final = 4712
UDP_PORT: Final = 4713
SYNC: Final = 0xAA

FRAME_TYPES: Final = {
    0: "Data",
    1: "Header",
    2: "Configuration 1",
    3: "Configuration 2",
    4: "Command",
    5: "Configuration 3",
}
DATA, HEADER, CFG1, CFG2, COMMAND, CFG3 = 0, 1, 2, 3, 4, 5
VERSIONS: Final = {1: "C37.118-2005", 2: "C37.118.2-2011"}

COMMANDS: Final = {
    1: "Turn off transmission of data frames",
    2: "Turn on transmission of data frames",
    3: "Send HDR frame",
    4: "Send CFG-1 frame",
    5: "Send CFG-2 frame",
    6: "Send CFG-3 frame",
    8: "Extended frame",
}
