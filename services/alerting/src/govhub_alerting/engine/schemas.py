"""API models of the engine's evaluation."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from govhub_alerting.fields import Moment


class EvaluateRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"as_of": "2026-04-01T23:59:59+08:00"}]},
    )

    as_of: Moment | None = Field(
        None, description="Fire timers due up to this time (default now); naive = Asia/Shanghai."
    )


class EvaluateResult(BaseModel):
    """What firing the due timers did."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2026-04-01T15:59:59Z",
                    "timers_fired": 42,
                    "warnings_raised": 3,
                    "warnings_resolved": 0,
                    "reminders_due": 12,
                    "reminders_without_recipient": 1,
                    "batches": 1,
                }
            ]
        }
    )

    as_of: datetime
    timers_fired: int
    warnings_raised: int
    warnings_resolved: int
    reminders_due: int = Field(description="Reminders emitted as `alerting.reminder.due`.")
    reminders_without_recipient: int = Field(
        description="Reminders due but not emitted: no mobile known for the subject."
    )
    batches: int = Field(description="Batches the timers were fired in (each commits alone).")
