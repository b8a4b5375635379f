"""Read-only active identification of a BACnet/IP device: unicast Who-Is, I-Am, then ReadProperty.

The device instance comes from the I-Am (servers such as bacpypes3 reject the 4194303 wildcard), then
the device object's identity properties are read one request at a time with a 2 s response timeout.
Only Who-Is and ReadProperty are ever sent: never ReinitializeDevice or DeviceCommunicationControl
(PEERS.md). Hand-written on an asyncio datagram endpoint with ``messages.py``, so no BACnet stack runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Final

from otwatch.inventory.identity import DeviceType, Identity
from otwatch.protocols.bacnet import codes
from otwatch.protocols.bacnet.dissect import PROTOCOL, vendor_name
from otwatch.protocols.bacnet.messages import (
    DECODE_ERRORS,
    Apdu,
    Bvlc,
    IAm,
    Npdu,
    ReadProperty,
    ReadPropertyAck,
    WhoIs,
)
from otwatch.protocols.base import QueryTarget

READ_PROPERTIES: Final = (
    codes.PROP_OBJECT_NAME,
    codes.PROP_VENDOR_NAME,
    codes.PROP_VENDOR_IDENTIFIER,
    codes.PROP_MODEL_NAME,
    codes.PROP_FIRMWARE_REVISION,
    codes.PROP_APPLICATION_SOFTWARE_VERSION,
    codes.PROP_DESCRIPTION,
    codes.PROP_LOCATION,
)


class _Endpoint(asyncio.DatagramProtocol):
    """Queues the APDUs of datagrams that come from the queried host."""

    def __init__(self) -> None:
        self.apdus: asyncio.Queue[Apdu] = asyncio.Queue(maxsize=64)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            npdu = Npdu.decode(Bvlc.decode(data).npdu)
            if npdu.network_message is None and npdu.apdu:
                self.apdus.put_nowait(Apdu.decode(npdu.apdu))
        except (*DECODE_ERRORS, asyncio.QueueFull):
            pass  # not for us, or not BACnet: ignore


def _frame(apdu: Apdu, expecting_reply: bool) -> bytes:
    return Bvlc(
        codes.BVLC_ORIGINAL_UNICAST, Npdu(apdu.encode(), expecting_reply=expecting_reply).encode()
    ).encode()


async def _wait(endpoint: _Endpoint, timeout: float, match: Any) -> Apdu | None:
    """The first queued APDU accepted by ``match`` within ``timeout``; others are dropped."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (remaining := deadline - loop.time()) > 0:
        try:
            apdu = await asyncio.wait_for(endpoint.apdus.get(), remaining)
        except TimeoutError:
            return None
        if match(apdu):
            return apdu
    return None


async def identify(target: QueryTarget) -> Identity | None:
    """Identity of the BACnet device at ``target`` (instance, vendor, model, firmware, name, ...)."""
    loop = asyncio.get_running_loop()
    try:
        transport, endpoint = await loop.create_datagram_endpoint(
            _Endpoint, remote_addr=(target.host, target.port)
        )
    except OSError:
        return None
    try:
        who_is = Apdu(codes.PDU_UNCONFIRMED_REQUEST, codes.SVC_WHO_IS, payload=WhoIs().encode())
        transport.sendto(_frame(who_is, False))
        answer = await _wait(
            endpoint,
            target.response_timeout,
            lambda a: a.pdu_type == codes.PDU_UNCONFIRMED_REQUEST and a.service == codes.SVC_I_AM,
        )
        if answer is None:
            return None
        iam = IAm.decode(answer.payload)
        identity = Identity(
            protocol=PROTOCOL,
            vendor_id=iam.vendor_id,
            vendor=codes.VENDOR_NAMES.get(iam.vendor_id),
            device_type=DeviceType.CONTROLLER,
            extra={
                "device_instance": iam.instance,
                "max_apdu": iam.max_apdu,
                "segmentation": codes.SEGMENTATION_NAMES.get(iam.segmentation, str(iam.segmentation)),
            },
        )
        for invoke_id, prop in enumerate(READ_PROPERTIES, start=1):
            value = await _read_property(
                transport, endpoint, iam.instance, prop, invoke_id, target.response_timeout
            )
            if value is not None:
                _apply(identity, prop, value)
        if identity.vendor is None and identity.vendor_id is not None:
            identity.vendor = vendor_name(identity.vendor_id)
        return identity
    except DECODE_ERRORS:
        return None
    finally:
        with contextlib.suppress(OSError):
            transport.close()


async def _read_property(
    transport: asyncio.DatagramTransport,
    endpoint: _Endpoint,
    instance: int,
    prop: int,
    invoke_id: int,
    timeout: float,
) -> Any:
    request = Apdu(
        codes.PDU_CONFIRMED_REQUEST,
        codes.SVC_READ_PROPERTY,
        invoke_id,
        ReadProperty(codes.OBJECT_DEVICE, instance, prop).encode(),
    )
    transport.sendto(_frame(request, True))
    answer = await _wait(endpoint, timeout, lambda a: a.invoke_id == invoke_id and a.pdu_type != 0)
    if answer is None or answer.pdu_type != codes.PDU_COMPLEX_ACK:
        return None  # error (e.g. unknown-property), reject, abort or silence
    ack = ReadPropertyAck.decode(answer.payload)
    return ack.values[0] if len(ack.values) == 1 else None


def _apply(identity: Identity, prop: int, value: Any) -> None:
    if prop == codes.PROP_VENDOR_IDENTIFIER:
        if isinstance(value, int):
            identity.vendor_id = value
        return
    text = str(value)
    if prop == codes.PROP_OBJECT_NAME:
        identity.name = text
    elif prop == codes.PROP_VENDOR_NAME:
        identity.vendor = text
    elif prop == codes.PROP_MODEL_NAME:
        identity.model = text
    elif prop == codes.PROP_FIRMWARE_REVISION:
        identity.firmware = text
    elif prop == codes.PROP_APPLICATION_SOFTWARE_VERSION:
        identity.extra["application_software_version"] = text
    elif prop == codes.PROP_DESCRIPTION:
        identity.extra["description"] = text
    elif prop == codes.PROP_LOCATION:
        identity.extra["location"] = text
