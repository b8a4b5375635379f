"""System Configuration > Updates: upload signed packages, list them."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, UploadFile
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from otwatch.console.deps import CtxDep, SessionDep, SettingsAdmin, Viewer
from otwatch.console.errors import invalid
from otwatch.console.pagination import Page, PageDep, paginate
from otwatch.console.updates import service
from otwatch.console.updates.models import UpdatePackage
from otwatch.wire.package import MAX_PACKAGE_BYTES

router = APIRouter(prefix="/api/v1/updates", tags=["updates"])


class PackageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    kind: str
    version: str
    min_version: str
    file_name: str
    sha256: str
    size: int
    key_id: str
    uploaded_by: str
    uploaded_at: datetime


@router.get("", response_model=Page[PackageOut])
def list_packages(_: Viewer, db: SessionDep, page: PageDep) -> dict[str, object]:
    rows, total = paginate(db, select(UpdatePackage).order_by(UpdatePackage.uploaded_at.desc()), page)
    return {"items": rows, "total": total, "limit": page.limit, "offset": page.offset}


@router.post("", response_model=PackageOut, status_code=201)
async def upload_package(file: UploadFile, p: SettingsAdmin, ctx: CtxDep, db: SessionDep) -> UpdatePackage:
    """Upload a signed package; it is verified against the trusted release keys before it is kept."""
    data = await file.read(MAX_PACKAGE_BYTES + 1)
    if len(data) > MAX_PACKAGE_BYTES:
        raise invalid("package is larger than 2 GB")
    row = service.upload(db, ctx, p.actor, data)
    db.commit()
    return row
