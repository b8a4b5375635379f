"""Subscription & Activation Mode: apply a console's signed activation file to this sensor.

- **console-connected**: enrol with the pairing key in the file (as a Repair, so a sensor the
  console knew keeps its history), after checking the console that answers is the one whose CA
  signed the file. The sensor then reports to that console.
- **locally-managed**: only from the console this sensor is connected to (its pinned CA signed the
  file) and only for this sensor: say goodbye (the console revokes the certificate and shows the
  sensor Uninstalled), forget the pairing, and continue alone.

The outcome is kept in ``state/management.json``. Errors, in the seed's terms: the sensor cannot
connect to the management console (check its network settings, proxy and firewall), or the
activation file is valid but the console rejected it (download another one); plus the file's own
problems from :mod:`otwatch.wire.activation`. The running sensor takes the new mode when it is
started again (the supervisor restarts it; see lifecycle).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from otwatch.wire import pki
from otwatch.wire.activation import Activation, ActivationError, ManagementMode, verify
from otwatch.wire.client import ConsoleLink, Credentials, LinkError, NodeState, enroll
from otwatch.wire.pairing import PairingKey, PairingKeyError


@dataclass(frozen=True, slots=True)
class ActivationResult:
    mode: ManagementMode
    message: str
    node_id: str | None = None


def mode_of(state: NodeState) -> ManagementMode:
    return ManagementMode.CONSOLE_CONNECTED if state.exists() else ManagementMode.LOCALLY_MANAGED


def last_activation(state: NodeState) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((state.dir / "management.json").read_text())
        return data
    except (OSError, ValueError):
        return None


def _cannot_connect(address: str, exc: Exception) -> ActivationError:
    return ActivationError(
        f"The sensor can't connect to the management console at {address}: {exc}. Check the sensor's "
        "network settings (and proxy), and that the firewall allows the console's port."
    )


def _rejected(exc: LinkError) -> ActivationError:
    return ActivationError(
        f"The activation file is valid but the management console rejected it: {exc}. Download "
        "another activation file from the console (Sites and Sensors)."
    )


def activate(state: NodeState, data: bytes, *, version: str) -> ActivationResult:
    """Verify ``data`` and switch this sensor's management mode; ActivationError says why not."""
    pinned = (
        (state.dir / "ca.pem").read_text() if state.exists() and (state.dir / "ca.pem").exists() else None
    )
    act = verify(data, pinned)
    if act.mode is ManagementMode.CONSOLE_CONNECTED:
        result = _connect(state, act, version)
    else:
        result = _release(state, act)
    state.dir.mkdir(parents=True, exist_ok=True)
    record = {
        "mode": act.mode.value, "activation_id": act.id, "console": act.address,
        "activated_at": datetime.now(UTC).isoformat(timespec="seconds"), "node_id": result.node_id,
    }  # fmt: skip
    (state.dir / "management.json").write_text(json.dumps(record, indent=2))
    return result


def _connect(state: NodeState, act: Activation, version: str) -> ActivationResult:
    try:
        key = PairingKey.decode(act.pairing_key or "")
    except PairingKeyError as exc:
        raise ActivationError(f"not an activation file (its pairing key is unusable: {exc})") from exc
    if pki.normalize_fingerprint(key.fingerprint) != act.fingerprint or key.address != act.address:
        raise ActivationError("not an activation file (its pairing key names another console)")
    try:
        ident, resp = enroll(
            state, "sensor", Credentials(pairing_key=act.pairing_key), version=version, repair=True
        )
    except pki.PinError as exc:
        raise _cannot_connect(act.address, exc) from exc
    except LinkError as exc:
        if exc.status is None:
            raise _cannot_connect(act.address, exc) from exc
        raise _rejected(exc) from exc
    signer = pki.fingerprint(pki.load_cert(act.ca_pem.encode()))
    if pki.fingerprint(pki.load_cert(resp.ca_pem.encode())) != signer:
        state.remove()
        raise ActivationError("the console that answered is not the one that signed the activation file")
    return ActivationResult(
        ManagementMode.CONSOLE_CONNECTED,
        f"Activated: connected to the management console at {act.address} (status {resp.status}). "
        "The sensor reports to it from its next start.",
        ident.node_id,
    )


def _release(state: NodeState, act: Activation) -> ActivationResult:
    if not state.exists():
        raise ActivationError("this sensor is already locally managed")
    ident = state.load()
    if act.node_id != ident.node_id:
        raise ActivationError("the activation file is for another sensor; download the one for this sensor")
    try:
        with ConsoleLink(state) as link:
            link.goodbye("switched to locally managed (activation file)")
    except LinkError as exc:
        if exc.status is None:
            raise _cannot_connect(ident.address, exc) from exc
        raise _rejected(exc) from exc
    state.remove()
    return ActivationResult(
        ManagementMode.LOCALLY_MANAGED,
        f"Activated: locally managed. The console at {ident.address} no longer manages this sensor.",
        ident.node_id,
    )
