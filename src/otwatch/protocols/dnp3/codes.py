"""The one table of DNP3 codes. Function names are Zeek's/ICSNPP's, so records compare with their logs."""

from __future__ import annotations

from enum import IntEnum, IntFlag

DNP3_PORT = 20000
START = b"\x05\x64"

# Link control octet.
LINK_DIR = 0x80  # set on frames from the master
LINK_PRM = 0x40  # primary (initiating) frame
LINK_FCB = 0x20
LINK_FCV_DFC = 0x10  # FCV on primary frames, DFC on secondary ones
LINK_FUNC_MASK = 0x0F

# Transport octet.
TRANSPORT_FIN = 0x80
TRANSPORT_FIR = 0x40
TRANSPORT_SEQ_MASK = 0x3F

# Application control octet.
APP_FIR = 0x80
APP_FIN = 0x40
APP_CON = 0x20
APP_UNS = 0x10
APP_SEQ_MASK = 0x0F


class LinkPrimaryFunction(IntEnum):
    RESET_LINK_STATES = 0
    RESET_USER_PROCESS = 1
    TEST_LINK_STATES = 2
    CONFIRMED_USER_DATA = 3
    UNCONFIRMED_USER_DATA = 4
    REQUEST_LINK_STATUS = 9


class LinkSecondaryFunction(IntEnum):
    ACK = 0
    NACK = 1
    LINK_STATUS = 11
    LINK_NOT_FUNCTIONING = 14
    LINK_NOT_USED = 15


class FunctionCode(IntEnum):
    CONFIRM = 0x00
    READ = 0x01
    WRITE = 0x02
    SELECT = 0x03
    OPERATE = 0x04
    DIRECT_OPERATE = 0x05
    DIRECT_OPERATE_NR = 0x06
    IMMED_FREEZE = 0x07
    IMMED_FREEZE_NR = 0x08
    FREEZE_CLEAR = 0x09
    FREEZE_CLEAR_NR = 0x0A
    FREEZE_AT_TIME = 0x0B
    FREEZE_AT_TIME_NR = 0x0C
    COLD_RESTART = 0x0D
    WARM_RESTART = 0x0E
    INITIALIZE_DATA = 0x0F
    INITIALIZE_APPL = 0x10
    START_APPL = 0x11
    STOP_APPL = 0x12
    SAVE_CONFIG = 0x13
    ENABLE_UNSOLICITED = 0x14
    DISABLE_UNSOLICITED = 0x15
    ASSIGN_CLASS = 0x16
    DELAY_MEASURE = 0x17
    RECORD_CURRENT_TIME = 0x18
    OPEN_FILE = 0x19
    CLOSE_FILE = 0x1A
    DELETE_FILE = 0x1B
    GET_FILE_INFO = 0x1C
    AUTHENTICATE_FILE = 0x1D
    ABORT_FILE = 0x1E
    ACTIVATE_CONFIG = 0x1F
    AUTHENTICATE_REQ = 0x20
    AUTHENTICATE_ERR = 0x21
    RESPONSE = 0x81
    UNSOLICITED_RESPONSE = 0x82
    AUTHENTICATE_RESP = 0x83

    @property
    def is_response(self) -> bool:
        return self >= FunctionCode.RESPONSE


# Requests that change the outstation: control, restart, file and configuration operations.
CONTROL_CODES = frozenset(
    {
        FunctionCode.WRITE,
        FunctionCode.SELECT,
        FunctionCode.OPERATE,
        FunctionCode.DIRECT_OPERATE,
        FunctionCode.DIRECT_OPERATE_NR,
        FunctionCode.COLD_RESTART,
        FunctionCode.WARM_RESTART,
        FunctionCode.INITIALIZE_DATA,
        FunctionCode.INITIALIZE_APPL,
        FunctionCode.START_APPL,
        FunctionCode.STOP_APPL,
        FunctionCode.SAVE_CONFIG,
        FunctionCode.OPEN_FILE,
        FunctionCode.DELETE_FILE,
        FunctionCode.ACTIVATE_CONFIG,
    }
)


class IIN(IntFlag):
    """Internal indications, as the 16-bit value ``IIN1 << 8 | IIN2`` (Zeek's ``iin`` column)."""

    BROADCAST = 0x0100
    CLASS_1_EVENTS = 0x0200
    CLASS_2_EVENTS = 0x0400
    CLASS_3_EVENTS = 0x0800
    NEED_TIME = 0x1000
    LOCAL_CONTROL = 0x2000
    DEVICE_TROUBLE = 0x4000
    DEVICE_RESTART = 0x8000
    NO_FUNC_CODE_SUPPORT = 0x0001
    OBJECT_UNKNOWN = 0x0002
    PARAMETER_ERROR = 0x0004
    EVENT_BUFFER_OVERFLOW = 0x0008
    ALREADY_EXECUTING = 0x0010
    CONFIG_CORRUPT = 0x0020
    RESERVED_2 = 0x0040
    RESERVED_1 = 0x0080


def function_name(code: int) -> str:
    try:
        return FunctionCode(code).name
    except ValueError:
        return f"unknown-{code}"


def link_function_name(control: int) -> str:
    func = control & LINK_FUNC_MASK
    table: type[IntEnum] = LinkPrimaryFunction if control & LINK_PRM else LinkSecondaryFunction
    try:
        return table(func).name
    except ValueError:
        return f"unknown-{func}"


_IIN_NAMES: dict[int, tuple[str, ...]] = {}


def iin_names(iin: int) -> list[str]:
    """The set IIN flags' names. Memoised per 16-bit value: iterating an IntFlag is slow and every
    outstation response carries IIN, usually the same few values."""
    names = _IIN_NAMES.get(iin)
    if names is None:
        names = tuple(flag.name for flag in IIN if iin & flag and flag.name)
        if len(_IIN_NAMES) < 65_536:
            _IIN_NAMES[iin] = names
    return list(names)
