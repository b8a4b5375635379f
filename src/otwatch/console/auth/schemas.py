from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from otwatch.console.auth.models import Role
from otwatch.ui.passwords import NewPassword


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1000)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    username: str
    role: Role
    active: bool
    must_change_password: bool
    created_at: datetime
    last_login: datetime | None


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=150, pattern=r"^[A-Za-z0-9_.@\-]+$")
    password: NewPassword
    role: Role


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role | None = None
    active: bool | None = None
    password: NewPassword | None = None


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str
    new_password: NewPassword


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    expires_days: int = Field(default=365, ge=1, le=730, description="days until the key stops working")
    keep_on_password_change: bool = Field(
        default=False, description="keep working when its owner's password changes (revoked otherwise)"
    )

    @field_validator("name")
    @classmethod
    def _strip(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("name must not be blank")
        return v


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    user_id: str
    prefix: str
    created_at: datetime
    last_used: datetime | None
    revoked_at: datetime | None
    expires_at: datetime | None = None
    keep_on_password_change: bool = False
    owner: str = ""  # the username whose rights the key carries


class ApiKeyCreated(ApiKeyOut):
    key: str  # shown once
