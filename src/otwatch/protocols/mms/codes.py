"""The one table of MMS (ISO 9506-2) PDU, service and error codes, and the ISO session (ISO 8327) SPDU
codes that carry them; names are tshark's (``mms.confirmedServiceRequest`` value strings)."""

from __future__ import annotations

from typing import Final

from otwatch.protocols.operations import Operation

# -- ISO 8327 session -----------------------------------------------------------------------------------
SPDU_DT: Final = 1  # data transfer (also give tokens, category 0, same SI)
SPDU_CN: Final = 13  # connect
SPDU_AC: Final = 14  # accept
SPDU_NAMES: Final = {
    1: "DATA TRANSFER (DT)",
    5: "EXPEDITED (EX)",
    8: "NOT FINISHED (NF)",
    9: "FINISH (FN)",
    10: "DISCONNECT (DN)",
    12: "REFUSE (RF)",
    13: "CONNECT (CN)",
    14: "ACCEPT (AC)",
    25: "ABORT (AB)",
    26: "ABORT ACCEPT (AA)",
}
SESSION_USER_DATA: Final = 193  # PI of the user data in CN/AC/FN/DN/RF/AB
SESSION_EXTENDED_USER_DATA: Final = 194

# -- ISO 8650 ACSE application tags -----------------------------------------------------------------------
ACSE_NAMES: Final = {0: "aarq", 1: "aare", 2: "rlrq", 3: "rlre", 4: "abrt"}
ACSE_USER_INFORMATION: Final = 30

# -- MMS PDUs (context tags of MMSpdu) ---------------------------------------------------------------------
CONFIRMED_REQUEST: Final = 0
CONFIRMED_RESPONSE: Final = 1
CONFIRMED_ERROR: Final = 2
UNCONFIRMED: Final = 3
REJECT: Final = 4
CANCEL_REQUEST: Final = 5
CANCEL_RESPONSE: Final = 6
CANCEL_ERROR: Final = 7
INITIATE_REQUEST: Final = 8
INITIATE_RESPONSE: Final = 9
INITIATE_ERROR: Final = 10
CONCLUDE_REQUEST: Final = 11
CONCLUDE_RESPONSE: Final = 12
CONCLUDE_ERROR: Final = 13
PDU_NAMES: Final = {
    0: "confirmed-RequestPDU",
    1: "confirmed-ResponsePDU",
    2: "confirmed-ErrorPDU",
    3: "unconfirmed-PDU",
    4: "rejectPDU",
    5: "cancel-RequestPDU",
    6: "cancel-ResponsePDU",
    7: "cancel-ErrorPDU",
    8: "initiate-RequestPDU",
    9: "initiate-ResponsePDU",
    10: "initiate-ErrorPDU",
    11: "conclude-RequestPDU",
    12: "conclude-ResponsePDU",
    13: "conclude-ErrorPDU",
}
REQUEST_PDUS: Final = frozenset((CONFIRMED_REQUEST, CANCEL_REQUEST, INITIATE_REQUEST, CONCLUDE_REQUEST))

# -- ConfirmedServiceRequest / Response (same tag for both) -----------------------------------------------
STATUS: Final = 0
GET_NAME_LIST: Final = 1
IDENTIFY: Final = 2
RENAME: Final = 3
READ: Final = 4
WRITE: Final = 5
GET_VARIABLE_ACCESS_ATTRIBUTES: Final = 6
TAKE_CONTROL: Final = 19
RELINQUISH_CONTROL: Final = 20
INITIATE_DOWNLOAD: Final = 26
DOWNLOAD_SEGMENT: Final = 27
TERMINATE_DOWNLOAD: Final = 28
INITIATE_UPLOAD: Final = 29
UPLOAD_SEGMENT: Final = 30
TERMINATE_UPLOAD: Final = 31
REQUEST_DOMAIN_DOWNLOAD: Final = 32
REQUEST_DOMAIN_UPLOAD: Final = 33
LOAD_DOMAIN_CONTENT: Final = 34
STORE_DOMAIN_CONTENT: Final = 35
DELETE_DOMAIN: Final = 36
GET_DOMAIN_ATTRIBUTES: Final = 37
CREATE_PROGRAM_INVOCATION: Final = 38
DELETE_PROGRAM_INVOCATION: Final = 39
START: Final = 40
STOP: Final = 41
RESUME: Final = 42
RESET: Final = 43
KILL: Final = 44
OBTAIN_FILE: Final = 46
GET_ALARM_SUMMARY: Final = 63
FILE_OPEN: Final = 72
FILE_READ: Final = 73
FILE_CLOSE: Final = 74
FILE_RENAME: Final = 75
FILE_DELETE: Final = 76
FILE_DIRECTORY: Final = 77

SERVICE_NAMES: Final = {
    0: "status",
    1: "getNameList",
    2: "identify",
    3: "rename",
    4: "read",
    5: "write",
    6: "getVariableAccessAttributes",
    7: "defineNamedVariable",
    8: "defineScatteredAccess",
    9: "getScatteredAccessAttributes",
    10: "deleteVariableAccess",
    11: "defineNamedVariableList",
    12: "getNamedVariableListAttributes",
    13: "deleteNamedVariableList",
    14: "defineNamedType",
    15: "getNamedTypeAttributes",
    16: "deleteNamedType",
    17: "input",
    18: "output",
    19: "takeControl",
    20: "relinquishControl",
    21: "defineSemaphore",
    22: "deleteSemaphore",
    23: "reportSemaphoreStatus",
    24: "reportPoolSemaphoreStatus",
    25: "reportSemaphoreEntryStatus",
    26: "initiateDownloadSequence",
    27: "downloadSegment",
    28: "terminateDownloadSequence",
    29: "initiateUploadSequence",
    30: "uploadSegment",
    31: "terminateUploadSequence",
    32: "requestDomainDownload",
    33: "requestDomainUpload",
    34: "loadDomainContent",
    35: "storeDomainContent",
    36: "deleteDomain",
    37: "getDomainAttributes",
    38: "createProgramInvocation",
    39: "deleteProgramInvocation",
    40: "start",
    41: "stop",
    42: "resume",
    43: "reset",
    44: "kill",
    45: "getProgramInvocationAttributes",
    46: "obtainFile",
    47: "defineEventCondition",
    48: "deleteEventCondition",
    49: "getEventConditionAttributes",
    50: "reportEventConditionStatus",
    51: "alterEventConditionMonitoring",
    52: "triggerEvent",
    53: "defineEventAction",
    54: "deleteEventAction",
    55: "getEventActionAttributes",
    56: "reportEventActionStatus",
    57: "defineEventEnrollment",
    58: "deleteEventEnrollment",
    59: "alterEventEnrollment",
    60: "reportEventEnrollmentStatus",
    61: "getEventEnrollmentAttributes",
    62: "acknowledgeEventNotification",
    63: "getAlarmSummary",
    64: "getAlarmEnrollmentSummary",
    65: "readJournal",
    66: "writeJournal",
    67: "initializeJournal",
    68: "reportJournalStatus",
    69: "createJournal",
    70: "deleteJournal",
    71: "getCapabilityList",
    72: "fileOpen",
    73: "fileRead",
    74: "fileClose",
    75: "fileRename",
    76: "fileDelete",
    77: "fileDirectory",
}

UNCONFIRMED_NAMES: Final = {0: "informationReport", 1: "unsolicitedStatus", 2: "eventNotification"}

#: ObjectClass basicObjectClass values (GetNameList).
OBJECT_CLASS_NAMES: Final = {
    0: "namedVariable",
    1: "scatteredAccess",
    2: "namedVariableList",
    3: "namedType",
    4: "semaphore",
    5: "eventCondition",
    6: "eventAction",
    7: "eventEnrollment",
    8: "journal",
    9: "domain",
    10: "programInvocation",
    11: "operatorStation",
    12: "dataExchange",
    13: "accessControlList",
}

#: ServiceError errorClass choices.
ERROR_CLASS_NAMES: Final = {
    0: "vmd-state",
    1: "application-reference",
    2: "definition",
    3: "resource",
    4: "service",
    5: "service-preempt",
    6: "time-resolution",
    7: "access",
    8: "initiate",
    9: "conclude",
    10: "cancel",
    11: "file",
    12: "others",
}

#: The engineering operation each request carries (operations.py), with the words of its detail.
OPERATIONS: Final[dict[int, tuple[Operation, str]]] = {
    STOP: (Operation.CONTROLLER_STOP, "Stop of program invocation"),
    START: (Operation.CONTROLLER_START, "Start of program invocation"),
    RESUME: (Operation.CONTROLLER_START, "Resume of program invocation"),
    RESET: (Operation.CONTROLLER_RESET, "Reset of program invocation"),
    KILL: (Operation.CONTROLLER_RESET, "Kill of program invocation"),
    DELETE_PROGRAM_INVOCATION: (Operation.PROGRAM_DELETE, "DeleteProgramInvocation of"),
    CREATE_PROGRAM_INVOCATION: (Operation.PROGRAM_DOWNLOAD, "CreateProgramInvocation of"),
    DELETE_DOMAIN: (Operation.PROGRAM_DELETE, "DeleteDomain of domain"),
    INITIATE_DOWNLOAD: (Operation.PROGRAM_DOWNLOAD, "InitiateDownloadSequence of domain"),
    REQUEST_DOMAIN_DOWNLOAD: (Operation.PROGRAM_DOWNLOAD, "RequestDomainDownload of domain"),
    LOAD_DOMAIN_CONTENT: (Operation.PROGRAM_DOWNLOAD, "LoadDomainContent of domain"),
    INITIATE_UPLOAD: (Operation.PROGRAM_UPLOAD, "InitiateUploadSequence of domain"),
    REQUEST_DOMAIN_UPLOAD: (Operation.PROGRAM_UPLOAD, "RequestDomainUpload of domain"),
    STORE_DOMAIN_CONTENT: (Operation.PROGRAM_UPLOAD, "StoreDomainContent of domain"),
    WRITE: (Operation.PARAMETER_WRITE, "Write of"),
    FILE_DELETE: (Operation.PARAMETER_WRITE, "FileDelete of"),
    FILE_RENAME: (Operation.PARAMETER_WRITE, "FileRename of"),
    OBTAIN_FILE: (Operation.PARAMETER_WRITE, "ObtainFile (a file written to the server) of"),
}
