"""API models of the opt-out list."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from govhub_sms.fields import Mobile


class OptOutCreate(BaseModel):
    recipient: Mobile = Field(description="Chinese mobile number; stored as +86...")

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"recipient": "+8613900139000"}]}
    )


class OptOutPublic(BaseModel):
    recipient: str
    source: str = Field(
        description="`inbound` (the citizen replied TD) or `operator` (added by hand)."
    )
    created_at: datetime

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "recipient": "+8613900139000",
                    "source": "inbound",
                    "created_at": "2024-05-06T03:21:09Z",
                }
            ]
        }
    )
