"""The one table of Modbus codes. Member names are the ICSNPP/Zeek log names, so records compare directly."""

from __future__ import annotations

from enum import IntEnum

MODBUS_PORT = 502
EXCEPTION_BIT = 0x80
MEI_READ_DEVICE_ID = 0x0E
MEI_CANOPEN = 0x0D


class FunctionCode(IntEnum):
    READ_COILS = 1
    READ_DISCRETE_INPUTS = 2
    READ_HOLDING_REGISTERS = 3
    READ_INPUT_REGISTERS = 4
    WRITE_SINGLE_COIL = 5
    WRITE_SINGLE_REGISTER = 6
    READ_EXCEPTION_STATUS = 7
    DIAGNOSTICS = 8
    GET_COMM_EVENT_COUNTER = 11
    GET_COMM_EVENT_LOG = 12
    WRITE_MULTIPLE_COILS = 15
    WRITE_MULTIPLE_REGISTERS = 16
    REPORT_SLAVE_ID = 17
    READ_FILE_RECORD = 20
    WRITE_FILE_RECORD = 21
    MASK_WRITE_REGISTER = 22
    READ_WRITE_MULTIPLE_REGISTERS = 23
    READ_FIFO_QUEUE = 24
    ENCAP_INTERFACE_TRANSPORT = 43

    @property
    def writes(self) -> bool:
        """True for codes that change device state: what an alert engine watches."""
        return self in WRITE_CODES


WRITE_CODES = frozenset(
    {
        FunctionCode.WRITE_SINGLE_COIL,
        FunctionCode.WRITE_SINGLE_REGISTER,
        FunctionCode.WRITE_MULTIPLE_COILS,
        FunctionCode.WRITE_MULTIPLE_REGISTERS,
        FunctionCode.WRITE_FILE_RECORD,
        FunctionCode.MASK_WRITE_REGISTER,
        FunctionCode.READ_WRITE_MULTIPLE_REGISTERS,
    }
)


class ExceptionCode(IntEnum):
    ILLEGAL_FUNCTION = 0x01
    ILLEGAL_DATA_ADDRESS = 0x02
    ILLEGAL_DATA_VALUE = 0x03
    SLAVE_DEVICE_FAILURE = 0x04
    ACKNOWLEDGE = 0x05
    SLAVE_DEVICE_BUSY = 0x06
    NEGATIVE_ACKNOWLEDGE = 0x07
    MEMORY_PARITY_ERROR = 0x08
    GATEWAY_PATH_UNAVAILABLE = 0x0A
    GATEWAY_TARGET_DEVICE_FAILED_TO_RESPOND = 0x0B


class ReadDeviceIdCode(IntEnum):
    """FC 43/14 read device id code: which object category is asked for."""

    BASIC = 1
    REGULAR = 2
    EXTENDED = 3
    SPECIFIC = 4


# FC 43/14 object ids -> the names the Modbus specification (and tshark, ICSNPP) use.
DEVICE_ID_OBJECTS: dict[int, str] = {
    0x00: "VendorName",
    0x01: "ProductCode",
    0x02: "MajorMinorRevision",
    0x03: "VendorUrl",
    0x04: "ProductName",
    0x05: "ModelName",
    0x06: "UserApplicationName",
}

MEI_TYPES: dict[int, str] = {
    MEI_CANOPEN: "CANopen General Reference",
    MEI_READ_DEVICE_ID: "Read Device Identification",
}

# FC 08 sub-functions (names as in ICSNPP's modbus_detailed log).
DIAGNOSTIC_SUBFUNCTIONS: dict[int, str] = {
    0x00: "Return Query Data",
    0x01: "Restart Communications Option",
    0x02: "Return Diagnostic Register",
    0x03: "Change ASCII Input Delimiter",
    0x04: "Force Listen Only Mode",
    0x0A: "Clear Counters and Diagnostic Register",
    0x0B: "Return Bus Message Count",
    0x0C: "Return Bus Communication Error Count",
    0x0D: "Return Bus Exception Error Count",
    0x0E: "Return Slave Message Count",
    0x0F: "Return Slave No Response Count",
    0x10: "Return Slave NAK Count",
    0x11: "Return Slave Busy Count",
    0x12: "Return Bus Character Overrun Count",
    0x14: "Clear Overrun Counter and Flag",
}


def function_name(code: int) -> str:
    """ICSNPP-style name, with ``_EXCEPTION`` for exception replies and ``unknown-N`` otherwise."""
    base = code & ~EXCEPTION_BIT
    try:
        name = FunctionCode(base).name
    except ValueError:
        name = f"unknown-{base}"
    return f"{name}_EXCEPTION" if code & EXCEPTION_BIT else name


def exception_name(code: int) -> str:
    try:
        return ExceptionCode(code).name
    except ValueError:
        return f"unknown-{code}"
