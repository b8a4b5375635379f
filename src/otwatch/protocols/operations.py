"""The one table of engineering operations, across every protocol, with its MITRE ATT&CK for ICS technique.

A dissector that recognises an operation that changes a controller (a program download, a mode change,
a firmware update, a clock set ...) tags the request's record with :func:`tag`::

    tag(fields, Operation.PROGRAM_DOWNLOAD, "MMS InitiateDownloadSequence of domain 'LD0'")

The sensor's Operational engine raises the alert type of the same code for every tagged record, so a
new protocol needs no engine code, and the analyst sees the same operation named the same way whether
it came over S7, CIP, MMS, ADS, FINS or MELSEC. The alert carries the technique below into the UI, the
API and every forwarding format (CEF, LEEF, syslog, webhook).

Techniques are those of ATT&CK for ICS (https://attack.mitre.org/techniques/ics/).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

#: Record field names a dissector sets (see :func:`tag`).
OPERATION_FIELD: Final = "operation"
OPERATION_DETAIL_FIELD: Final = "operation_detail"
#: Optional: a more specific alert type of the same operation that the sensor raises instead (e.g. the
#: long-standing S7_STOP for an S7 PLC Stop, a CONTROLLER_STOP); it carries the same technique.
OPERATION_ALERT_FIELD: Final = "operation_alert"
#: Set when the operation is carried by a server's answer (a BOOTP reply that sets a device's address):
#: the sender is the server, and the sensor raises the alert for the answer rather than a request.
OPERATION_BY_SERVER_FIELD: Final = "operation_by_server"


@dataclass(frozen=True, slots=True)
class Technique:
    """An ATT&CK for ICS technique: its id (``T0843``) and name (``Program Download``)."""

    id: str
    name: str

    @property
    def url(self) -> str:
        return f"https://attack.mitre.org/techniques/{self.id}/"

    def __str__(self) -> str:
        return f"{self.id} {self.name}"


PROGRAM_DOWNLOAD_T: Final = Technique("T0843", "Program Download")
PROGRAM_UPLOAD_T: Final = Technique("T0845", "Program Upload")
CHANGE_MODE_T: Final = Technique("T0858", "Change Operating Mode")
RESTART_T: Final = Technique("T0816", "Device Restart/Shutdown")
SYSTEM_FIRMWARE_T: Final = Technique("T0857", "System Firmware")
MODIFY_PARAMETER_T: Final = Technique("T0836", "Modify Parameter")
MODIFY_PROGRAM_T: Final = Technique("T0889", "Modify Program")
VALID_ACCOUNTS_T: Final = Technique("T0859", "Valid Accounts")
CHANGE_CREDENTIAL_T: Final = Technique("T0892", "Change Credential")
REMOTE_SERVICES_T: Final = Technique("T0886", "Remote Services")
UNAUTHORIZED_COMMAND_T: Final = Technique("T0855", "Unauthorized Command Message")
SERVICE_STOP_T: Final = Technique("T0881", "Service Stop")
REMOTE_DISCOVERY_T: Final = Technique("T0846", "Remote System Discovery")
DATA_DESTRUCTION_T: Final = Technique("T0809", "Data Destruction")
SPOOF_REPORTING_T: Final = Technique("T0856", "Spoof Reporting Message")
ADVERSARY_IN_THE_MIDDLE_T: Final = Technique("T0830", "Adversary-in-the-Middle")
REMOTE_INFO_DISCOVERY_T: Final = Technique("T0888", "Remote System Information Discovery")
DENIAL_OF_SERVICE_T: Final = Technique("T0814", "Denial of Service")
STANDARD_PROTOCOL_T: Final = Technique("T0869", "Standard Application Layer Protocol")


class Operation(StrEnum):
    """Engineering operations; each value is also the code of the alert type the sensor raises."""

    PROGRAM_DOWNLOAD = "PROGRAM_DOWNLOAD"  # logic or configuration written into a controller
    PROGRAM_UPLOAD = "PROGRAM_UPLOAD"  # logic read out of a controller
    PROGRAM_DELETE = "PROGRAM_DELETE"  # a program, block or domain deleted
    PROGRAM_TO_ROM = "PROGRAM_TO_ROM"  # the running program made permanent (S7 copy RAM to ROM)
    CONTROLLER_STOP = "CONTROLLER_STOP"
    CONTROLLER_START = "CONTROLLER_START"
    CONTROLLER_RESET = "CONTROLLER_RESET"  # restart, reset, kill
    MODE_CHANGE = "MODE_CHANGE"  # a requested change of operating mode other than plain run/stop
    FIRMWARE_UPDATE = "FIRMWARE_UPDATE"
    CLOCK_SET = "CLOCK_SET"
    NETWORK_CONFIG = "NETWORK_CONFIG"  # IP address, station name, port or protocol settings
    FACTORY_RESET = "FACTORY_RESET"
    ROUTE_ADDED = "ROUTE_ADDED"  # a route or trust entry that lets a new station program the device
    AUTHENTICATION = "AUTHENTICATION"  # a password sent to unlock a protected controller
    PROTECTION_CHANGE = "PROTECTION_CHANGE"  # a password set, a controller locked or unlocked
    PARAMETER_WRITE = "PARAMETER_WRITE"  # a write to controller memory, variables or settings


@dataclass(frozen=True, slots=True)
class OperationType:
    operation: Operation
    title: str
    severity: str  # a Severity value; kept a string so this layer imports nothing above it
    technique: Technique


OPERATIONS: Final[dict[Operation, OperationType]] = {
    t.operation: t
    for t in (
        OperationType(Operation.PROGRAM_DOWNLOAD, "PLC Program Download", "Minor", PROGRAM_DOWNLOAD_T),
        OperationType(Operation.PROGRAM_UPLOAD, "PLC Program Upload", "Warning", PROGRAM_UPLOAD_T),
        OperationType(Operation.PROGRAM_DELETE, "PLC Program Deleted", "Major", MODIFY_PROGRAM_T),
        OperationType(
            Operation.PROGRAM_TO_ROM, "PLC Program Copied to Permanent Memory", "Minor", MODIFY_PROGRAM_T
        ),
        OperationType(Operation.CONTROLLER_STOP, "Controller Stop", "Major", CHANGE_MODE_T),
        OperationType(Operation.CONTROLLER_START, "Controller Start", "Warning", CHANGE_MODE_T),
        OperationType(Operation.CONTROLLER_RESET, "Controller Reset", "Major", RESTART_T),
        OperationType(Operation.MODE_CHANGE, "Controller Mode Change Command", "Minor", CHANGE_MODE_T),
        OperationType(Operation.FIRMWARE_UPDATE, "Firmware Update", "Major", SYSTEM_FIRMWARE_T),
        OperationType(Operation.CLOCK_SET, "Controller Clock Set", "Minor", MODIFY_PARAMETER_T),
        OperationType(
            Operation.NETWORK_CONFIG, "Device Network Configuration Change", "Major", MODIFY_PARAMETER_T
        ),
        OperationType(
            Operation.FACTORY_RESET, "Device Reset to Factory Settings", "Critical", DATA_DESTRUCTION_T
        ),
        OperationType(Operation.ROUTE_ADDED, "Engineering Route Added", "Major", REMOTE_SERVICES_T),
        OperationType(
            Operation.AUTHENTICATION, "Controller Password Authentication", "Warning", VALID_ACCOUNTS_T
        ),
        OperationType(
            Operation.PROTECTION_CHANGE, "Controller Protection Change", "Major", CHANGE_CREDENTIAL_T
        ),
        OperationType(Operation.PARAMETER_WRITE, "Controller Parameter Write", "Warning", MODIFY_PARAMETER_T),
    )
}


def tag(
    fields: dict[str, Any],
    operation: Operation,
    detail: str,
    alert: str | None = None,
    by_server: bool = False,
) -> None:
    """Mark a record's fields with the operation it carries and a short human description of it.

    The first operation a message carries wins (one alert per message); ``detail`` completes the
    sentence "<client> sent <detail> to <server>", e.g. "an MMS Stop of program invocation 'P1'".
    """
    if OPERATION_FIELD not in fields:
        fields[OPERATION_FIELD] = operation
        fields[OPERATION_DETAIL_FIELD] = detail
        if alert is not None:
            fields[OPERATION_ALERT_FIELD] = alert
        if by_server:
            fields[OPERATION_BY_SERVER_FIELD] = True
