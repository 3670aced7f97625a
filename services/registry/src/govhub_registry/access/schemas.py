"""API models of the access log."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from govhub_registry.fields import USCC_EXAMPLE


class AccessLogPublic(BaseModel):
    accessed_at: datetime
    agency: str
    client_id: str | None
    fields: list[str]
    purpose: str
    action: str
    via_legal_entity: str | None = Field(
        None,
        description="The USCC of the legal entity whose record showed this person's data "
        "(the person is, or was, its legal representative); null for a read of the person "
        "itself.",
        examples=[USCC_EXAMPLE],
    )
