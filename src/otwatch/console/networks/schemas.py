"""What the API takes for a duplicated network's copy (the service reads these too)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["DuplicatedNetworkIn", "DuplicatedNetworkPatch"]


class DuplicatedNetworkIn(BaseModel):
    """One site's copy of a range: the first copy defines the duplicated network, one per other site."""

    model_config = ConfigDict(extra="forbid")
    cidr: str = Field(max_length=64, description="the range, the same at every site")
    site: str = Field(min_length=1, max_length=200, description="where this copy is")
    agent_id: str = Field(max_length=64, description="the agent that sees (and scans) this copy")
    description: str = Field(default="", max_length=300)

    @field_validator("site")
    @classmethod
    def _site(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("site is empty")
        return v


class DuplicatedNetworkPatch(BaseModel):
    """Hand a copy to another agent (its assets stay the copy's) or rename its site."""

    model_config = ConfigDict(extra="forbid")
    site: str | None = Field(default=None, min_length=1, max_length=200)
    agent_id: str | None = Field(default=None, max_length=64)
    description: str | None = Field(default=None, max_length=300)

    @field_validator("site")
    @classmethod
    def _site(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("site is empty")
        return v.strip() if v is not None else None
