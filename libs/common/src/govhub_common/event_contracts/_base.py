"""What every event contract shares: a field the producer does not declare is a broken
contract (extra="forbid"), so a change to a producer shows in the contract test."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid")
