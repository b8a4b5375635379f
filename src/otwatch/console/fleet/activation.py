"""Download activation file: the console signs (with its CA key, see wire/activation.py) the file a
sensor uploads under System Settings > Subscription & Activation Mode to switch its management mode.

- console-connected: carries a new pairing key (valid ``expires_days``) the sensor enrols with;
- locally-managed: names one paired sensor, which says goodbye and continues on its own.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from otwatch.console.audit import service as audit
from otwatch.console.db import utcnow
from otwatch.console.deps import CtxDep, FleetAdmin, SessionDep
from otwatch.console.errors import invalid
from otwatch.console.fleet import nodes, pairing
from otwatch.wire import activation

router = APIRouter(prefix="/api/v1/sensors", tags=["fleet"])


class ActivationIn(BaseModel):
    mode: Literal["console-connected", "locally-managed"]
    sensor_id: str | None = Field(default=None, description="locally-managed: the sensor to release")
    expires_days: int = Field(default=7, ge=1, le=90)


@router.post("/activation-file", response_class=Response)
def activation_file(body: ActivationIn, p: FleetAdmin, ctx: CtxDep, db: SessionDep) -> Response:
    """A signed activation file (JSON) to upload in the sensor's own console."""
    now = utcnow()
    payload: dict[str, object] = {
        "id": uuid.uuid4().hex,
        "mode": body.mode,
        "issued_at": now.isoformat(),
        "expires_at": (now + timedelta(days=body.expires_days)).isoformat(),
        "console": {"address": ctx.settings.address, "fingerprint": ctx.pki.fingerprint},
    }
    if body.mode == "console-connected":
        _, text = pairing.create_pairing_key(
            db, ctx, p.actor, None, body.expires_days, f"activation file {payload['id']}",
            max_uses=1, kind="sensor",
        )  # fmt: skip
        payload["pairing_key"] = text
        name = "activation-console-connected.json"
    else:
        if body.sensor_id is None:
            raise invalid("a locally-managed activation file names the sensor it releases (sensor_id)")
        node = nodes.get_node(db, body.sensor_id, "sensor")
        payload["sensor"] = {"node_id": node.id}
        name = f"activation-locally-managed-{node.name or node.hostname or node.id}.json"  # node-chosen
    data = activation.sign(payload, ctx.pki.ca_key, ctx.pki.ca_cert)
    audit.record(
        db, p.actor, "sensor.activation_file", body.sensor_id, mode=body.mode, activation_id=payload["id"]
    )
    db.commit()
    return Response(data, media_type="application/json", headers={"Content-Disposition": attachment(name)})


def attachment(name: str) -> str:
    """A Content-Disposition for a download named after something a node chose (its hostname): a
    plain ASCII file name, and the exact name percent-encoded (RFC 6266), never raw quotes or CR/LF."""
    plain = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:150] or "download"
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name[:200], safe='')}"
