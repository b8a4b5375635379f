"""The one table of Beckhoff ADS/AMS codes: commands, ADS states, index groups, UDP services and tags.

Numbers are Beckhoff's (TcAdsDef.h, the ADS specification in the Beckhoff Information System);
names follow tshark's ``ams`` dissector where it has one.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

ADS_TCP_PORT: Final = 48898
ADS_UDP_PORT: Final = 48899
UDP_MAGIC: Final = b"\x03\x66\x14\x71"  # 0x71146603 little-endian
UDP_RESPONSE: Final = 0x80000000  # service id bit of a UDP reply

#: AMS ports of the TwinCAT runtime that answer ReadDeviceInfo: TC3 PLC, TC2 PLC, the system service.
PLC_PORTS: Final = (851, 801, 10000)
SYSTEM_SERVICE_PORT: Final = 10000

# State flags (ams.stateflags)
FLAG_RESPONSE: Final = 0x0001
FLAG_NO_RETURN: Final = 0x0002
FLAG_ADS_COMMAND: Final = 0x0004
FLAG_SYSTEM_COMMAND: Final = 0x0008
FLAG_HIGH_PRIORITY: Final = 0x0010
FLAG_TIMESTAMP: Final = 0x0020
FLAG_UDP: Final = 0x0040
FLAG_INIT: Final = 0x0080
FLAG_BROADCAST: Final = 0x8000
KNOWN_FLAGS: Final = 0x80FF


class Command(IntEnum):
    INVALID = 0
    READ_DEVICE_INFO = 1
    READ = 2
    WRITE = 3
    READ_STATE = 4
    WRITE_CONTROL = 5
    ADD_DEVICE_NOTIFICATION = 6
    DELETE_DEVICE_NOTIFICATION = 7
    DEVICE_NOTIFICATION = 8
    READ_WRITE = 9


COMMAND_NAMES: Final = {c.value: c.name for c in Command}

#: AMS/TCP header "reserved" values other than 0 (an ADS command): router-internal messages.
AMS_TCP_COMMANDS: Final = {
    0x0000: "AMS_CMD",
    0x1000: "PORT_CONNECT",
    0x1001: "ROUTER_NOTE",
    0x1002: "GET_LOCAL_NETID",
}


class AdsState(IntEnum):
    INVALID = 0
    IDLE = 1
    RESET = 2
    INIT = 3
    START = 4
    RUN = 5
    STOP = 6
    SAVECFG = 7
    LOADCFG = 8
    POWERFAILURE = 9
    POWERGOOD = 10
    ERROR = 11
    SHUTDOWN = 12
    SUSPEND = 13
    RESUME = 14
    CONFIG = 15
    RECONFIG = 16
    STOPPING = 17
    INCOMPATIBLE = 18
    EXCEPTION = 19


#: ADS state -> the word an operator reads (Identity.state).
STATE_NAMES: Final = {
    0: "Invalid",
    1: "Idle",
    2: "Reset",
    3: "Init",
    4: "Start",
    5: "Run",
    6: "Stop",
    7: "Save Config",
    8: "Load Config",
    9: "Power Failure",
    10: "Power Good",
    11: "Error",
    12: "Shutdown",
    13: "Suspend",
    14: "Resume",
    15: "Config",
    16: "Reconfig",
    17: "Stopping",
    18: "Incompatible",
    19: "Exception",
}


def state_name(state: int) -> str:
    return STATE_NAMES.get(state, f"unknown-{state}")


#: Index groups a client reads or writes, by number (TcAdsDef.h).
INDEX_GROUPS: Final = {
    0x4020: "PLC memory (%M)",
    0x4021: "PLC memory bits (%MX)",
    0x4025: "PLC memory size",
    0x4030: "PLC retain data",
    0x4040: "PLC data",
    0xF003: "SYM_HNDBYNAME",
    0xF004: "SYM_VALBYNAME",
    0xF005: "SYM_VALBYHND",
    0xF006: "SYM_RELEASEHND",
    0xF007: "SYM_INFOBYNAME",
    0xF008: "SYM_VERSION",
    0xF009: "SYM_INFOBYNAMEEX",
    0xF00A: "SYM_DOWNLOAD",
    0xF00B: "SYM_UPLOAD",
    0xF00C: "SYM_UPLOADINFO",
    0xF00D: "SYM_DT_UPLOAD",
    0xF00E: "SYM_UPLOADINFO2",
    0xF010: "SYMNOTE",
    0xF020: "IOIMAGE_RWIB (%I)",
    0xF021: "IOIMAGE_RWIX (%IX)",
    0xF025: "IOIMAGE_RISIZE",
    0xF030: "IOIMAGE_RWOB (%Q)",
    0xF031: "IOIMAGE_RWOX (%QX)",
    0xF035: "IOIMAGE_RWOSIZE",
    0xF040: "IOIMAGE_CLEARI",
    0xF050: "IOIMAGE_CLEARO",
    0xF060: "IOIMAGE_RWIOB",
    0xF080: "SUMUP_READ",
    0xF081: "SUMUP_WRITE",
    0xF082: "SUMUP_READWRITE",
    0xF083: "SUMUP_READEX",
    0xF084: "SUMUP_READEX2",
    0xF085: "SUMUP_ADDDEVNOTE",
    0xF086: "SUMUP_DELDEVNOTE",
    0xF100: "DEVICE_DATA",
}

#: Index groups of the TwinCAT system service (AMS port 10000).
SYSTEM_SERVICE_GROUPS: Final = {
    100: "OPENCREATE",
    101: "OPENREAD",
    102: "OPENWRITE",
    110: "CREATEFILE",
    111: "CLOSEHANDLE",
    120: "FOPEN",
    121: "FCLOSE",
    122: "FREAD",
    123: "FWRITE",
    124: "FSEEK",
    125: "FTELL",
    126: "FGETS",
    127: "FPUTS",
    128: "FSCANF",
    129: "FPRINTF",
    130: "FEOF",
    131: "FDELETE",
    132: "FRENAME",
    133: "FFILEFIND",
    138: "MKDIR",
    139: "RMDIR",
    200: "REG_HKEYLOCALMACHINE",
    300: "SENDEMAIL",
    400: "TIMESERVICES",
    500: "STARTPROCESS",
    600: "CHANGENETID",
    700: "IPHELPERAPI",
    701: "IPHOSTNAME",
    800: "ROUTES",
    801: "ADDREMOTE",
    802: "DELREMOTE",
    803: "ENUMREMOTE",
}

#: Index groups whose Write (or ReadWrite with write data) changes a value in the controller.
VALUE_WRITE_GROUPS: Final = frozenset(
    {0x4020, 0x4021, 0x4030, 0x4040, 0xF004, 0xF005, 0xF020, 0xF021, 0xF030, 0xF031, 0xF060, 0xF081, 0xF082}
)
#: Index groups a Write uses without changing a value: handle release, notification bookkeeping.
NON_VALUE_WRITE_GROUPS: Final = frozenset({0xF006, 0xF085, 0xF086})


def index_group_name(group: int, ams_port: int | None) -> str:
    if ams_port == SYSTEM_SERVICE_PORT and group in SYSTEM_SERVICE_GROUPS:
        return SYSTEM_SERVICE_GROUPS[group]
    return INDEX_GROUPS.get(group, f"0x{group:08x}")


#: ADS return codes met most (the full table is in the ADS specification).
ERRORS: Final = {
    0x0000: "no error",
    0x0006: "target port not found",
    0x0007: "target machine not found",
    0x0701: "service not supported",
    0x0702: "invalid index group",
    0x0703: "invalid index offset",
    0x0704: "reading/writing not permitted",
    0x0705: "parameter size not correct",
    0x0706: "invalid parameter values",
    0x0707: "device not in a ready state",
    0x0708: "device busy",
    0x0710: "symbol not found",
    0x0711: "symbol version invalid",
    0x0712: "server is in invalid state",
    0x0719: "timeout elapsed",
    0x071D: "invalid AMS port / access denied",
    0x0745: "timeout",
    0x0746: "port not connected",
}


def error_name(code: int) -> str:
    return ERRORS.get(code, f"0x{code:04x}")


class UdpService(IntEnum):
    """Services of the TwinCAT UDP service on port 48899."""

    IDENTIFY = 1
    ADD_ROUTE = 6


UDP_SERVICE_NAMES: Final = {s.value: s.name for s in UdpService}


class UdpTag(IntEnum):
    """Tags of the TwinCAT UDP service's tag list (id, length, value)."""

    STATUS = 1
    PASSWORD = 2
    TWINCAT_VERSION = 3
    OS_VERSION = 4
    HOST_NAME = 5
    NET_ID = 7
    OPTIONS = 9
    ROUTE_NAME = 12
    USER_NAME = 13
    FINGERPRINT = 18


#: OSVERSIONINFO platform ids of the OS version tag.
OS_PLATFORMS: Final = {1: "Windows 9x", 2: "Windows NT", 3: "Windows CE"}
