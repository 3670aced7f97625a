"""API models of ingest: the records the registry could not use."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class UnmappedPublic(BaseModel):
    id: int
    topic: str
    seq: int
    publisher: str
    data: dict[str, Any]
    reason: str
    received_at: datetime
