"""The one table of SNMP codes and names (RFC 1157, RFC 3416, RFC 3412, RFC 1213)."""

from __future__ import annotations

VERSIONS: dict[int, str] = {0: "1", 1: "2c", 3: "3"}

# PDU tags (context-specific, constructed)
GET_REQUEST = 0xA0
GET_NEXT_REQUEST = 0xA1
RESPONSE = 0xA2
SET_REQUEST = 0xA3
TRAP_V1 = 0xA4
GET_BULK_REQUEST = 0xA5
INFORM_REQUEST = 0xA6
TRAP_V2 = 0xA7
REPORT = 0xA8

PDU_NAMES: dict[int, str] = {
    GET_REQUEST: "get_request",
    GET_NEXT_REQUEST: "get_next_request",
    RESPONSE: "response",
    SET_REQUEST: "set_request",
    TRAP_V1: "trap",
    GET_BULK_REQUEST: "get_bulk_request",
    INFORM_REQUEST: "inform_request",
    TRAP_V2: "trap_v2",
    REPORT: "report",
}
#: PDUs a manager sends (the rest come from agents)
REQUEST_PDUS = frozenset({GET_REQUEST, GET_NEXT_REQUEST, SET_REQUEST, GET_BULK_REQUEST})

ERROR_STATUS: dict[int, str] = {
    0: "noError", 1: "tooBig", 2: "noSuchName", 3: "badValue", 4: "readOnly", 5: "genErr",
    6: "noAccess", 7: "wrongType", 8: "wrongLength", 9: "wrongEncoding", 10: "wrongValue",
    11: "noCreation", 12: "inconsistentValue", 13: "resourceUnavailable", 14: "commitFailed",
    15: "undoFailed", 16: "authorizationError", 17: "notWritable", 18: "inconsistentName",
}  # fmt: skip

# Universal and application value tags
INTEGER = 0x02
OCTET_STRING = 0x04
NULL = 0x05
OBJECT_IDENTIFIER = 0x06
SEQUENCE = 0x30
IP_ADDRESS = 0x40
COUNTER32 = 0x41
GAUGE32 = 0x42
TIMETICKS = 0x43
OPAQUE = 0x44
COUNTER64 = 0x46
NO_SUCH_OBJECT = 0x80
NO_SUCH_INSTANCE = 0x81
END_OF_MIB_VIEW = 0x82

VALUE_TYPES: dict[int, str] = {
    INTEGER: "Integer", OCTET_STRING: "OctetString", NULL: "Null", OBJECT_IDENTIFIER: "ObjectIdentifier",
    IP_ADDRESS: "IpAddress", COUNTER32: "Counter32", GAUGE32: "Gauge32", TIMETICKS: "TimeTicks",
    OPAQUE: "Opaque", COUNTER64: "Counter64", NO_SUCH_OBJECT: "noSuchObject",
    NO_SUCH_INSTANCE: "noSuchInstance", END_OF_MIB_VIEW: "endOfMibView",
}  # fmt: skip

# MIB-2 objects the agent reads (all read-only)
SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SYS_CONTACT = "1.3.6.1.2.1.1.4.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
SYS_LOCATION = "1.3.6.1.2.1.1.6.0"
SYS_SERVICES = "1.3.6.1.2.1.1.7.0"
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_PHYS_ADDRESS = "1.3.6.1.2.1.2.2.1.6"
IP_AD_ENT_IF_INDEX = "1.3.6.1.2.1.4.20.1.2"

SYSTEM_FIELDS: dict[str, str] = {
    SYS_DESCR: "sys_descr",
    SYS_OBJECT_ID: "sys_object_id",
    SYS_CONTACT: "sys_contact",
    SYS_NAME: "sys_name",
    SYS_LOCATION: "sys_location",
    SYS_SERVICES: "sys_services",
}

ENTERPRISE_PREFIX = "1.3.6.1.4.1."
#: IANA private enterprise numbers of vendors common on plant networks (sysObjectID -> vendor)
ENTERPRISES: dict[int, str] = {
    9: "Cisco",
    11: "Hewlett-Packard",
    311: "Microsoft",
    248: "Hirschmann",
    1916: "Extreme Networks",
    2011: "Huawei",
    2021: "UC Davis (net-snmp)",
    2636: "Juniper Networks",
    4329: "Siemens",
    8072: "net-snmp",
    8691: "Moxa",
    14988: "MikroTik",
    30065: "Arista Networks",
}

# sysServices bits (RFC 1213): layer n sets bit n-1
SERVICE_DATALINK = 0x02
SERVICE_INTERNET = 0x04
SERVICE_APPLICATION = 0x40
