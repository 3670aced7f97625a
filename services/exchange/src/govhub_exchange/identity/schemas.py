from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

AGENCY_CODE = r"^[a-z][a-z0-9-]*$"
KNOWN_SCOPES = {
    "operator",
    "exchange:publish",
    "exchange:subscribe",
    "exchange:catalog",
    "registry:read",
    "alerting:read",
    "alerting:work",
    "sms:send",
}


class AgencyCreate(BaseModel):
    code: str = Field(pattern=AGENCY_CODE, max_length=64, examples=["gz-amr"])
    name: str = Field(min_length=1, max_length=200, examples=["广州市工商行政管理局"])
    contact: dict[str, Any] = Field(default_factory=dict)


class AgencyUpdate(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    contact: dict[str, Any] | None = None
    disabled: bool | None = None


class AgencyPublic(BaseModel):
    code: str
    name: str
    contact: dict[str, Any]
    disabled: bool
    created_at: datetime


class ClientCreate(BaseModel):
    client_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{3,64}$")
    scopes: list[str] = Field(min_length=1)


class ClientUpdate(BaseModel):
    disabled: bool | None = None
    scopes: list[str] | None = None


class ClientPublic(BaseModel):
    client_id: str
    agency: str
    scopes: list[str]
    disabled: bool
    created_at: datetime
    rotated_at: datetime | None


class ClientWithSecret(ClientPublic):
    client_secret: str = Field(description="Shown once; only its hash is stored.")


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    scope: str
