"""Active SNMP identification: GET of the MIB-2 system group and a bounded walk of the interface
table, with the credentials the operator configured (never guessed communities).

pysnmp is imported lazily: the sensor imports this package for dissection and must stay light.
Credentials come in ``QueryTarget.extra``::

    {"version": "2c", "community": "public"}
    {"version": "3", "user": "u", "auth_key": "...", "auth_protocol": "sha",
     "priv_key": "...", "priv_protocol": "aes", "context_name": ""}

Optional ``max_interfaces`` (default 64) bounds the walk.

Requests go one at a time, each datagram paced by ``QueryTarget.wait_turn`` (the scan's per-host
limiter), pysnmp's own SNMPv3 discovery and retries included. The UDP socket is connected to the
agent, so a host without SNMP that answers ICMP port-unreachable ends the query at once instead of
after the timeout and the retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from otwatch.inventory import mac as inventory_mac
from otwatch.inventory.identity import DeviceType, Identity
from otwatch.protocols.base import QueryTarget
from otwatch.protocols.snmp import codes
from otwatch.protocols.snmp.messages import text_or_hex

DEFAULT_MAX_INTERFACES = 64
_MAX_REPETITIONS = 16
_RETRIES = 1  # PEERS.md: one retry

_T = TypeVar("_T")


class _Refused(Exception):
    """The host answered ICMP port-unreachable: no SNMP agent listens there."""


_AUTH = {
    "md5": "USM_AUTH_HMAC96_MD5",
    "sha": "USM_AUTH_HMAC96_SHA",
    "sha224": "USM_AUTH_HMAC128_SHA224",
    "sha256": "USM_AUTH_HMAC192_SHA256",
    "sha384": "USM_AUTH_HMAC256_SHA384",
    "sha512": "USM_AUTH_HMAC384_SHA512",
}
_PRIV = {
    "des": "USM_PRIV_CBC56_DES",
    "3des": "USM_PRIV_CBC168_3DES",
    "aes": "USM_PRIV_CFB128_AES",
    "aes128": "USM_PRIV_CFB128_AES",
    "aes192": "USM_PRIV_CFB192_AES",
    "aes256": "USM_PRIV_CFB256_AES",
}


class CredentialError(ValueError):
    """The SNMP credentials are incomplete or name an unknown protocol."""


def format_mac(raw: bytes) -> str | None:
    """``aa:bb:cc:dd:ee:ff`` for a 6-byte ifPhysAddress, None for the empty address of loopbacks."""
    if len(raw) != 6 or raw == b"\0" * 6:
        return None
    return inventory_mac.format_mac(raw)


def _vendor(sys_object_id: object) -> str | None:
    oid = str(sys_object_id or "")
    if not oid.startswith(codes.ENTERPRISE_PREFIX):
        return None
    arc = oid[len(codes.ENTERPRISE_PREFIX) :].split(".", 1)[0]
    return codes.ENTERPRISES.get(int(arc)) if arc.isdigit() else None


def _device_type(services: object) -> DeviceType | None:
    """From sysServices (RFC 1213): a layer-2 device that offers no applications is a switch."""
    if not isinstance(services, int):
        return None
    if services & codes.SERVICE_DATALINK and not services & codes.SERVICE_APPLICATION:
        return DeviceType.SWITCH
    if services & codes.SERVICE_APPLICATION and not services & codes.SERVICE_DATALINK:
        return DeviceType.IT_HOST
    return None


def identity_from_system(
    system: Mapping[str, Any], interfaces: Sequence[Mapping[str, Any]], mac: str | None = None
) -> Identity:
    """Identity from system-group values keyed by :data:`codes.SYSTEM_FIELDS` names."""
    extra: dict[str, Any] = {
        k: system[k] for k in ("sys_descr", "sys_object_id", "sys_contact", "sys_location") if system.get(k)
    }
    if interfaces:
        extra["interfaces"] = [dict(i) for i in interfaces]
    if mac:
        extra["mac"] = mac
    name = system.get("sys_name")
    return Identity(
        protocol="snmp",
        vendor=_vendor(system.get("sys_object_id")),
        name=str(name) if name else None,
        device_type=_device_type(system.get("sys_services")),
        extra=extra,
    )


def _plain(value: Any) -> Any:
    """pysnmp/pyasn1 value -> int, str or bytes; None for the noSuch*/endOfMibView markers."""
    from pysnmp.proto.rfc1902 import univ  # pyasn1 base types, via pysnmp (typed as Any here)

    if isinstance(value, univ.Null) or type(value).__name__ in (
        "NoSuchObject",
        "NoSuchInstance",
        "EndOfMibView",
    ):
        return None
    if isinstance(value, univ.ObjectIdentifier):
        return str(value)
    if isinstance(value, univ.Integer):
        return int(value)
    if isinstance(value, univ.OctetString):
        return bytes(value.asOctets())
    return str(value)


def _auth_data(extra: Mapping[str, Any]) -> tuple[Any, bool]:
    """pysnmp credentials and whether GETBULK may be used (not in v1)."""
    from pysnmp.hlapi.v3arch import asyncio as hl

    version = str(extra.get("version") or ("3" if extra.get("user") else "2c"))
    if version in ("1", "2c", "2"):
        community = extra.get("community")
        if not community:
            raise CredentialError("SNMP v1/v2c needs a community")
        return hl.CommunityData(str(community), mpModel=0 if version == "1" else 1), version != "1"
    if version != "3":
        raise CredentialError(f"unknown SNMP version {version!r}")
    user = extra.get("user")
    if not user:
        raise CredentialError("SNMPv3 needs a user")
    auth_key, priv_key = extra.get("auth_key"), extra.get("priv_key")
    auth_name = str(extra.get("auth_protocol") or ("sha" if auth_key else "")).lower()
    priv_name = str(extra.get("priv_protocol") or ("aes" if priv_key else "")).lower()
    if (auth_name and auth_name not in _AUTH) or (priv_name and priv_name not in _PRIV):
        raise CredentialError(f"unknown SNMPv3 protocol {auth_name!r}/{priv_name!r}")
    auth = hl.UsmUserData(
        str(user),
        authKey=auth_key,
        privKey=priv_key,
        authProtocol=getattr(hl, _AUTH[auth_name]) if auth_name else hl.USM_AUTH_NONE,
        privProtocol=getattr(hl, _PRIV[priv_name]) if priv_name else hl.USM_PRIV_NONE,
    )
    return auth, True


def _arcs(oid: str) -> tuple[int, ...]:
    return tuple(int(a) for a in oid.split(".") if a.isdigit())


def _connected_target(hl: Any) -> Any:
    """pysnmp's UDP target on a socket connected to the agent, with every datagram paced.

    Connected, so the kernel reports ICMP port-unreachable (an unconnected socket never hears of it):
    ``refused`` is set when it does. Paced at the datagram: pysnmp hands each message it sends (the
    request, an SNMPv3 engine discovery before it, its own retries) to a queue that a task drains,
    awaiting ``pace`` before each one, so what the host sees keeps its rate whatever pysnmp does
    between our calls. Set ``refused`` and ``pace`` after ``create``; cancel ``sender`` when done.
    """

    class ConnectedUdpTarget(hl.UdpTransportTarget):  # type: ignore[misc]
        refused: asyncio.Event
        pace: Callable[[], Awaitable[None]]
        sender: asyncio.Task[None] | None = None

        def open_client_mode(self) -> Any:
            proto = self.PROTO_TRANSPORT()
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.setblocking(False)
                sock.connect(self.transport_address)  # sends nothing; the send guard checks the scope
            except BaseException:
                sock.close()
                raise
            refused, pace, send = self.refused, self.pace, proto.send_message
            outgoing: asyncio.Queue[tuple[Any, Any]] = asyncio.Queue()

            def error_received(exc: Exception) -> None:
                if isinstance(exc, ConnectionRefusedError):
                    refused.set()

            async def drain() -> None:
                while True:
                    message, address = await outgoing.get()
                    await pace()
                    if not refused.is_set():
                        with contextlib.suppress(Exception):  # pysnmp then times the request out
                            send(message, address)

            proto.error_received = error_received
            proto.send_message = lambda message, address: outgoing.put_nowait((message, address))
            self.sender = asyncio.get_running_loop().create_task(drain())
            self.transport = proto.open_server_mode(sock=sock)
            return self.transport

    return ConnectedUdpTarget


class _Session:
    """One engine and transport for all requests of one identification (closed by ``identify``)."""

    def __init__(
        self, engine: Any, auth: Any, transport: Any, context: Any, bulk: bool, target: QueryTarget
    ) -> None:
        self.engine = engine
        self.auth = auth
        self.transport = transport
        self.context = context
        self.bulk = bulk
        self.target = target
        self.requests = 0
        self.refused: asyncio.Event = getattr(transport, "refused", None) or asyncio.Event()

    async def _pace(self) -> None:
        """Requests are awaited one by one (their datagrams are paced by the transport)."""
        if self.refused.is_set():
            raise _Refused
        self.requests += 1

    async def _call(self, request: Awaitable[_T]) -> _T:
        """Await a pysnmp request, or raise :class:`_Refused` as soon as the host refuses it."""
        task = asyncio.ensure_future(request)
        refused = asyncio.ensure_future(self.refused.wait())
        try:
            await asyncio.wait({task, refused}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            refused.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise _Refused

    async def get(self, oids: Sequence[str]) -> dict[str, Any] | None:
        """Values by OID; None when the agent did not answer. Drops OIDs a v1 agent rejects."""
        from pysnmp.hlapi.v3arch import asyncio as hl

        wanted = list(oids)
        while wanted:
            await self._pace()
            err_ind, err_status, err_index, vbs = await self._call(
                hl.get_cmd(
                    self.engine,
                    self.auth,
                    self.transport,
                    self.context,
                    *(hl.ObjectType(hl.ObjectIdentity(o)) for o in wanted),
                    lookupMib=False,
                )
            )
            if err_ind:
                return None
            if int(err_status) and 0 < int(err_index) <= len(wanted):
                del wanted[int(err_index) - 1]  # v1 noSuchName: retry without the missing object
                continue
            if int(err_status):
                return {}
            return {str(oid): v for oid, val in vbs if (v := _plain(val)) is not None}
        return {}

    async def walk(self, column: str, max_rows: int) -> dict[int, Any]:
        """Rows of one table column by index; GETBULK (v2c/v3) or GETNEXT (v1), at most ``max_rows``."""
        from pysnmp.hlapi.v3arch import asyncio as hl

        prefix = column + "."
        rows: dict[int, Any] = {}
        cursor = column
        while len(rows) < max_rows:
            vb = hl.ObjectType(hl.ObjectIdentity(cursor))
            await self._pace()
            if self.bulk:
                reps = min(_MAX_REPETITIONS, max_rows - len(rows))
                err_ind, err_status, _i, vbs = await self._call(
                    hl.bulk_cmd(
                        self.engine, self.auth, self.transport, self.context, 0, reps, vb, lookupMib=False
                    )
                )
            else:
                err_ind, err_status, _i, vbs = await self._call(
                    hl.next_cmd(self.engine, self.auth, self.transport, self.context, vb, lookupMib=False)
                )
            if err_ind or int(err_status) or not vbs:
                break
            advanced = False
            for oid, val in vbs:
                name = str(oid)
                if not name.startswith(prefix) or _arcs(name) <= _arcs(cursor):
                    return rows  # left the column, or a broken agent that does not advance
                value = _plain(val)
                if value is None:
                    return rows
                index = name[len(prefix) :]
                if index.isdigit():
                    rows[int(index)] = value
                cursor, advanced = name, True
                if len(rows) >= max_rows:
                    break
            if not advanced:
                break
        return rows


async def identify(target: QueryTarget) -> Identity | None:
    """Read-only identification; None without credentials or when the agent does not answer."""
    extra = target.extra
    if not (extra.get("community") or extra.get("user")):
        return None  # no community guessing (PEERS.md)
    from pysnmp.hlapi.v3arch import asyncio as hl

    auth, bulk = _auth_data(extra)
    max_ifaces = int(extra.get("max_interfaces", DEFAULT_MAX_INTERFACES))
    with warnings.catch_warnings():  # pysnmp's optional MIB compiler calls deprecated pysmi names
        warnings.simplefilter("ignore", DeprecationWarning)
        engine = hl.SnmpEngine()
    try:
        transport = await _connected_target(hl).create(
            (target.host, target.port), timeout=target.response_timeout, retries=_RETRIES
        )
        transport.refused = asyncio.Event()
        transport.pace = target.wait_turn
        context = hl.ContextData(contextName=str(extra.get("context_name", "")))
        session = _Session(engine, auth, transport, context, bulk, target)
        try:
            return await _identify(session, target, max_ifaces)
        except _Refused:
            return None
        finally:
            if transport.sender is not None:
                transport.sender.cancel()
    finally:
        engine.close_dispatcher()


async def _identify(session: _Session, target: QueryTarget, max_ifaces: int) -> Identity | None:
    """System group, interface table and the MAC of the scanned address, one paced request at a time."""
    values = await session.get(list(codes.SYSTEM_FIELDS))
    if not values:
        return None
    system = {
        name: text_or_hex(v) if isinstance(v, bytes) else v
        for oid, name in codes.SYSTEM_FIELDS.items()
        if (v := values.get(oid)) is not None
    }
    descrs = await session.walk(codes.IF_DESCR, max_ifaces)
    macs = await session.walk(codes.IF_PHYS_ADDRESS, max_ifaces)
    interfaces: list[dict[str, Any]] = []
    for index in sorted(set(descrs) | set(macs)):
        descr, raw_mac = descrs.get(index), macs.get(index)
        interfaces.append(
            {
                "index": index,
                "descr": text_or_hex(descr) if isinstance(descr, bytes) else descr,
                "mac": format_mac(raw_mac) if isinstance(raw_mac, bytes) else None,
            }
        )
    own = await session.get([f"{codes.IP_AD_ENT_IF_INDEX}.{target.host}"])
    own_index = next(iter(own.values()), None) if own else None
    mac: str | None = next((i["mac"] for i in interfaces if i["index"] == own_index), None)
    return identity_from_system(system, interfaces, mac)
