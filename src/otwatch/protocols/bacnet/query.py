"""Read-only active identification of a BACnet/IP device: unicast Who-Is, I-Am, then ReadProperty.

The device instance comes from the I-Am (servers such as bacpypes3 reject the 4194303 wildcard), then
the device object's identity properties are read one request at a time with a 2 s response timeout,
each request paced by ``QueryTarget.wait_turn`` (the scan's per-host limiter). The socket is connected,
so a host without BACnet that answers ICMP port-unreachable ends the query at once.

The scan first broadcasts one Who-Is per on-link subnet (:func:`sweep`, PEERS.md: at most one
broadcast per subnet per scan) and then queries only the hosts that answered with an I-Am, handing it
over in ``extra["bacnet_iam"]`` so the unicast Who-Is is skipped. Only Who-Is and ReadProperty are ever
sent: never ReinitializeDevice or DeviceCommunicationControl (PEERS.md). Hand-written on asyncio
sockets with ``messages.py``, so no BACnet stack runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
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
from otwatch.protocols.base import QueryTarget, SweepTarget, with_sweep

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


#: Local port the sweep listens on first: devices often broadcast their I-Am to the BACnet port.
SWEEP_PORT: Final = 47808


class _Endpoint(asyncio.DatagramProtocol):
    """Queues the APDUs of datagrams that come from the queried host; ``None`` once the host said
    ICMP port-unreachable (the socket is connected, so the kernel reports it)."""

    def __init__(self) -> None:
        self.apdus: asyncio.Queue[Apdu | None] = asyncio.Queue(maxsize=64)
        self.refused = False

    def error_received(self, exc: Exception) -> None:
        if isinstance(exc, ConnectionRefusedError) and not self.refused:
            self.refused = True
            with contextlib.suppress(asyncio.QueueFull):
                self.apdus.put_nowait(None)

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
    while not endpoint.refused and (remaining := deadline - loop.time()) > 0:
        try:
            apdu = await asyncio.wait_for(endpoint.apdus.get(), remaining)
        except TimeoutError:
            return None
        if apdu is not None and match(apdu):
            return apdu
    return None


def _is_i_am(apdu: Apdu) -> bool:
    return apdu.pdu_type == codes.PDU_UNCONFIRMED_REQUEST and apdu.service == codes.SVC_I_AM


def _who_is(broadcast: bool = False) -> bytes:
    apdu = Apdu(codes.PDU_UNCONFIRMED_REQUEST, codes.SVC_WHO_IS, payload=WhoIs().encode())
    function = codes.BVLC_ORIGINAL_BROADCAST if broadcast else codes.BVLC_ORIGINAL_UNICAST
    return Bvlc(function, Npdu(apdu.encode(), expecting_reply=False).encode()).encode()


def _i_am_hint(iam: IAm) -> dict[str, int]:
    return {
        "instance": iam.instance,
        "max_apdu": iam.max_apdu,
        "segmentation": iam.segmentation,
        "vendor_id": iam.vendor_id,
    }


def _i_am_from(data: bytes) -> IAm | None:
    try:
        npdu = Npdu.decode(Bvlc.decode(data).npdu)
        if npdu.network_message is not None or not npdu.apdu:
            return None
        apdu = Apdu.decode(npdu.apdu)
        if not _is_i_am(apdu):
            return None
        iam = IAm.decode(apdu.payload)
    except DECODE_ERRORS:
        return None
    return iam if iam.object_type == codes.OBJECT_DEVICE else None


def _sweep_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.setblocking(False)
        try:
            sock.bind(("", SWEEP_PORT))  # also hears I-Ams broadcast to the BACnet port
        except OSError:
            sock.bind(("", 0))  # a local BACnet stack holds the port: unicast I-Ams still arrive
    except BaseException:
        sock.close()
        raise
    return sock


async def sweep(target: SweepTarget) -> dict[str, dict[str, Any]]:
    """One broadcast Who-Is to ``target.broadcast``; the I-Am of each live host that answered within
    the response timeout, as ``{"bacnet_iam": {...}}`` query hints."""
    loop = asyncio.get_running_loop()
    found: dict[str, dict[str, Any]] = {}
    with _sweep_socket() as sock:
        if target.pace is not None:
            await target.pace()
        await loop.sock_sendto(sock, _who_is(broadcast=True), (target.broadcast, target.port))
        deadline = loop.time() + target.response_timeout
        while (remaining := deadline - loop.time()) > 0:
            try:
                data, addr = await asyncio.wait_for(loop.sock_recvfrom(sock, 1500), remaining)
            except TimeoutError:
                break
            except OSError:
                continue
            host = str(addr[0])
            if host in target.hosts and host not in found and (iam := _i_am_from(data)) is not None:
                found[host] = {"bacnet_iam": _i_am_hint(iam)}
    return found


@with_sweep(sweep)
async def identify(target: QueryTarget) -> Identity | None:
    """Identity of the BACnet device at ``target`` (instance, vendor, model, firmware, name, ...)."""
    loop = asyncio.get_running_loop()
    hint = target.extra.get("bacnet_iam")
    if hint is None:
        await target.wait_turn()  # the connect sends nothing, the Who-Is right after it does
    try:
        transport, endpoint = await loop.create_datagram_endpoint(
            _Endpoint, remote_addr=(target.host, target.port)
        )
    except OSError:
        return None
    try:
        if isinstance(hint, dict):
            iam = IAm(
                int(hint["instance"]),
                int(hint["max_apdu"]),
                int(hint["segmentation"]),
                int(hint["vendor_id"]),
            )
        else:
            transport.sendto(_who_is())
            answer = await _wait(endpoint, target.response_timeout, _is_i_am)
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
            if endpoint.refused:
                break
            await target.wait_turn()
            value = await _read_property(
                transport, endpoint, iam.instance, prop, invoke_id, target.response_timeout
            )
            if value is not None:
                _apply(identity, prop, value)
        if identity.vendor is None and identity.vendor_id is not None:
            identity.vendor = vendor_name(identity.vendor_id)
        return identity
    except (*DECODE_ERRORS, KeyError, TypeError):
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
