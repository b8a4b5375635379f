"""Active Queries > Credentials. Secrets go in, never come out of the API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from otwatch.console.audit import service as audit
from otwatch.console.credentials.models import Credential
from otwatch.console.db import utcnow
from otwatch.console.deps import CtxDep, SessionDep, SettingsAdmin, Viewer
from otwatch.console.errors import conflict, not_found
from otwatch.console.pagination import Page, PageDep, paginate

router = APIRouter(prefix="/api/v1/credentials", tags=["credentials"])


class SnmpCommunity(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["snmp_v1", "snmp_v2c"]
    community: str = Field(min_length=1, max_length=255)


class SnmpV3(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["snmp_v3"]
    username: str = Field(min_length=1, max_length=255)
    auth_protocol: Literal["none", "MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"] = "SHA"
    auth_key: str | None = Field(default=None, min_length=8, max_length=255)
    priv_protocol: Literal["none", "DES", "AES", "AES192", "AES256"] = "none"
    priv_key: str | None = Field(default=None, min_length=8, max_length=255)


class CredentialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=300)
    secret: Annotated[SnmpCommunity | SnmpV3, Field(discriminator="kind")]


class CredentialOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    kind: str
    description: str
    created_at: datetime
    updated_at: datetime


@router.get("", response_model=Page[CredentialOut])
def list_credentials(_: Viewer, db: SessionDep, page: PageDep) -> dict[str, object]:
    rows, total = paginate(db, select(Credential).order_by(Credential.name), page)
    return {"items": rows, "total": total, "limit": page.limit, "offset": page.offset}


@router.post("", response_model=CredentialOut, status_code=201)
def create_credential(body: CredentialIn, p: SettingsAdmin, ctx: CtxDep, db: SessionDep) -> Credential:
    if db.scalar(select(Credential).where(Credential.name == body.name)):
        raise conflict(f"a credential named {body.name!r} already exists")
    row = Credential(
        name=body.name,
        kind=body.secret.kind,
        description=body.description,
        secret=ctx.vault.seal(body.secret.model_dump()),
    )
    db.add(row)
    audit.record(db, p.actor, "credential.created", body.name, kind=body.secret.kind)
    db.commit()
    return row


@router.put("/{cred_id}", response_model=CredentialOut)
def replace_credential(
    cred_id: str, body: CredentialIn, p: SettingsAdmin, ctx: CtxDep, db: SessionDep
) -> Credential:
    row = db.get(Credential, cred_id)
    if row is None:
        raise not_found("credential")
    clash = db.scalar(select(Credential).where(Credential.name == body.name, Credential.id != row.id))
    if clash is not None:
        raise conflict(f"a credential named {body.name!r} already exists")
    row.name, row.description, row.kind = body.name, body.description, body.secret.kind
    row.secret, row.updated_at = ctx.vault.seal(body.secret.model_dump()), utcnow()
    audit.record(db, p.actor, "credential.updated", body.name)
    db.commit()
    return row


@router.delete("/{cred_id}", status_code=204)
def delete_credential(cred_id: str, p: SettingsAdmin, db: SessionDep) -> None:
    row = db.get(Credential, cred_id)
    if row is None:
        raise not_found("credential")
    db.delete(row)
    audit.record(db, p.actor, "credential.deleted", row.name)
    db.commit()
