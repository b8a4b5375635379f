"""OPC UA binary (IEC 62541-6) codes: message types, service encoding ids and common status codes."""

from __future__ import annotations

from typing import Final

PORT: Final = 4840
HEADER_SIZE: Final = 8  # message type (3), chunk type (1), message size (uint32 LE)
MAX_MESSAGE: Final = 16 * 1024 * 1024  # a larger declared size is out of spec for any real stack

MESSAGE_TYPES: Final[dict[bytes, str]] = {
    b"HEL": "Hello",
    b"ACK": "Acknowledge",
    b"ERR": "Error",
    b"RHE": "ReverseHello",
    b"OPN": "OpenSecureChannel",
    b"CLO": "CloseSecureChannel",
    b"MSG": "Message",
}
CHUNK_TYPES: Final = frozenset(b"FCA")

SECURITY_POLICY_NONE: Final = "http://opcfoundation.org/UA/SecurityPolicy#None"

# Binary encoding ids (namespace 0) of the service messages: (request id, response id, service name).
_SERVICES: Final = (
    (422, 425, "FindServers"),
    (428, 431, "GetEndpoints"),
    (437, 440, "RegisterServer"),
    (446, 449, "OpenSecureChannel"),
    (452, 455, "CloseSecureChannel"),
    (461, 464, "CreateSession"),
    (467, 470, "ActivateSession"),
    (473, 476, "CloseSession"),
    (479, 482, "Cancel"),
    (488, 491, "AddNodes"),
    (494, 497, "AddReferences"),
    (500, 503, "DeleteNodes"),
    (506, 509, "DeleteReferences"),
    (527, 530, "Browse"),
    (533, 536, "BrowseNext"),
    (554, 557, "TranslateBrowsePathsToNodeIds"),
    (560, 563, "RegisterNodes"),
    (566, 569, "UnregisterNodes"),
    (615, 618, "QueryFirst"),
    (621, 624, "QueryNext"),
    (631, 634, "Read"),
    (664, 667, "HistoryRead"),
    (673, 676, "Write"),
    (700, 703, "HistoryUpdate"),
    (712, 715, "Call"),
    (751, 754, "CreateMonitoredItems"),
    (763, 766, "ModifyMonitoredItems"),
    (769, 772, "SetMonitoringMode"),
    (775, 778, "SetTriggering"),
    (781, 784, "DeleteMonitoredItems"),
    (787, 790, "CreateSubscription"),
    (793, 796, "ModifySubscription"),
    (799, 802, "SetPublishingMode"),
    (826, 829, "Publish"),
    (832, 835, "Republish"),
    (841, 844, "TransferSubscriptions"),
    (847, 850, "DeleteSubscriptions"),
    (12208, 12209, "FindServersOnNetwork"),
    (12211, 12212, "RegisterServer2"),
)
SERVICE_FAULT: Final = 397
#: Encoding id -> (service name, is a request). ServiceFault is the answer to any failed request.
SERVICES: Final[dict[int, tuple[str, bool]]] = {
    **{req: (name, True) for req, _resp, name in _SERVICES},
    **{resp: (name, False) for _req, resp, name in _SERVICES},
    SERVICE_FAULT: ("ServiceFault", False),
}
#: Services that change a server (writes, method calls, address-space edits): what an analyst watches.
WRITE_SERVICES: Final = frozenset(
    {"Write", "Call", "AddNodes", "AddReferences", "DeleteNodes", "DeleteReferences", "HistoryUpdate"}
)

#: The status codes seen in practice (Part 6 Annex A); others show as hex.
STATUS_NAMES: Final[dict[int, str]] = {
    0x00000000: "Good",
    0x80010000: "BadUnexpectedError",
    0x80020000: "BadInternalError",
    0x80030000: "BadOutOfMemory",
    0x80050000: "BadCommunicationError",
    0x80070000: "BadDecodingError",
    0x80080000: "BadEncodingLimitsExceeded",
    0x800A0000: "BadTimeout",
    0x800B0000: "BadServiceUnsupported",
    0x800D0000: "BadServerHalted",
    0x80100000: "BadNothingToDo",
    0x80130000: "BadCertificateInvalid",
    0x80140000: "BadSecurityChecksFailed",
    0x801F0000: "BadUserAccessDenied",
    0x80200000: "BadIdentityTokenInvalid",
    0x80210000: "BadIdentityTokenRejected",
    0x80220000: "BadSecureChannelIdInvalid",
    0x80250000: "BadSessionIdInvalid",
    0x80260000: "BadSessionClosed",
    0x80270000: "BadSessionNotActivated",
    0x80280000: "BadSubscriptionIdInvalid",
    0x80330000: "BadNodeIdInvalid",
    0x80340000: "BadNodeIdUnknown",
    0x80350000: "BadAttributeIdInvalid",
    0x803A0000: "BadNotReadable",
    0x803B0000: "BadNotWritable",
    0x80740000: "BadTypeMismatch",
    0x80750000: "BadMethodInvalid",
    0x80760000: "BadArgumentsMissing",
    0x807C0000: "BadTooManySessions",
    0x807E0000: "BadTcpMessageTypeInvalid",
    0x807F0000: "BadTcpSecureChannelUnknown",
    0x80800000: "BadTcpMessageTooLarge",
    0x80820000: "BadTcpInternalError",
    0x80830000: "BadTcpEndpointUrlInvalid",
    0x80860000: "BadSecureChannelClosed",
    0x80870000: "BadSecureChannelTokenUnknown",
    0x80890000: "BadInvalidTimestamp",
    0x80AB0000: "BadInvalidArgument",
    0x80AC0000: "BadConnectionRejected",
    0x80AD0000: "BadDisconnect",
    0x80AE0000: "BadConnectionClosed",
    0x80AF0000: "BadInvalidState",
    0x80B80000: "BadRequestTooLarge",
    0x80B90000: "BadResponseTooLarge",
    0x80BE0000: "BadProtocolVersionUnsupported",
}


def status_name(code: int) -> str:
    """A status code's name; unknown codes by severity and hex (the low 16 bits are flags)."""
    name = STATUS_NAMES.get(code & 0xFFFF0000)
    if name is not None:
        return name
    return f"{'Bad' if code & 0x80000000 else 'Uncertain' if code & 0x40000000 else 'Good'}_0x{code:08X}"


APPLICATION_TYPES: Final = ("Server", "Client", "ClientAndServer", "DiscoveryServer")
